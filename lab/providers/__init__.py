"""The providers that create a lab's hosts, behind one interface (lab.providers.base), and which one builds a lab:
this registry decides and loads it.

VMs (Vagrant + libvirt: lab.providers.libvirt) are the default: KVM when a guest really boots with it, software
emulation (TCG) otherwise. Containers (systemd-nspawn: lab.providers.nspawn) when asked for (LAB_PROVIDER=nspawn,
the fast way), or when the VM tools are missing and cannot be installed. Hosts the lab does not create (real
machines) are lab.providers.external's.

Reference: docs/providers.md
"""

from __future__ import annotations

from collections.abc import Callable

from lab.config import UpRequest
from lab.errors import LabError
from lab.plumbing.shell import log
from lab.providers.base import CONTAINER_LAB_SECONDS, Provider
from lab.providers.libvirt.tools import install_vm_tools, missing_vm_tools
from lab.state import LabConfig


def make_provider(config: LabConfig) -> Provider:
    """The lab's provider; its module is loaded here, when it is asked for (a plugin's imports stay its own)."""
    if config.provider == "nspawn":
        from lab.providers.nspawn.provider import NspawnLab

        return NspawnLab(config, log=log)
    if config.provider == "libvirt":
        from lab.providers.libvirt.provider import LibvirtLab

        return LibvirtLab(config, log=log)
    raise LabError(f"unknown provider {config.provider!r}")


def decide_provider(request: UpRequest, missing: Callable[[], list[str]] = missing_vm_tools,
                    install: Callable[[], str | None] = install_vm_tools) -> tuple[str, str]:
    """The provider for `lab up`, and why: what was asked for; else the running lab's; else VMs (installing
    the VM tools when they are missing), else containers when that fails."""
    topology, existing = request.topology, request.existing
    asked = topology.provider
    if asked != "auto":
        if existing is not None and existing.provider != asked:
            raise LabError(f"lab '{topology.name}' is up with provider {existing.provider}: 'make lab-down' first")
        given = "LAB_PROVIDER" if "LAB_PROVIDER" in topology.overrides else f"provider in {topology.source}"
        return asked, f"{given}={asked}"
    if existing is not None:
        return existing.provider, "the lab is already up with it"
    absent = missing()
    if absent:
        problem = install()
        if problem is not None or missing():
            return "nspawn", (f"containers: the VM tools are missing ({', '.join(absent)}) and could not be "
                              f"installed ({problem or 'still missing'}): run 'make deps LAB_PROVIDER=libvirt' "
                              f"as root for VMs")
    return "libvirt", (f"VMs, the default; LAB_PROVIDER=nspawn makes containers instead, the fast way "
                       f"(about {CONTAINER_LAB_SECONDS} s)")

"""The providers that create a lab's hosts, behind one interface, and which one builds a lab.

VMs (Vagrant + libvirt: lab.libvirt) are the default: KVM when a guest really boots with it, software emulation
(TCG) otherwise. Containers (systemd-nspawn: lab.nspawn) when asked for (LAB_PROVIDER=nspawn, the fast way), or
when the VM tools are missing and cannot be installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from lab.config import REPO, LabConfig, LabError, UpRequest
from lab.inventory import Connection
from lab.shell import log

VM_TOOLS = ("vagrant", "virsh", "qemu-system-x86_64", "ssh-keyscan")
INSTALL_DEPS = REPO / "tools" / "install-deps"
CONTAINER_LAB_SECONDS = 13  # what the seed's container lab takes here, up and checked (README: figures)


class Provider(Protocol):
    name: str
    config: LabConfig  # the lab's config, with what the provider chose in up() (box, driver) in provider_settings

    def up(self) -> list[Connection]:
        """Creates (or recovers) every host; how to reach each."""
        ...

    def down(self) -> None:
        """Removes every host, network and file of the lab."""
        ...

    def states(self) -> dict[str, str]:
        """Each host's state as the provider sees it: running, absent, shut off, ..."""
        ...

    def capture_interface(self, network: str) -> str:
        """The machine's interface of a lab network, or of the management network ('mgmt'): lab.capture."""
        ...

    def save_snapshot(self, name: str, directory: Path) -> None:
        """Every host's disk at one moment, kept in `directory` or by the provider under `name`: lab.snapshot."""
        ...

    def restore_snapshot(self, name: str, directory: Path) -> None: ...

    def delete_snapshot(self, name: str) -> None: ...


def make_provider(config: LabConfig) -> Provider:
    if config.provider == "nspawn":
        from lab.nspawn import NspawnLab

        return NspawnLab(config, log=log)
    if config.provider == "libvirt":
        from lab.libvirt import LibvirtLab

        return LibvirtLab(config, log=log)
    raise LabError(f"unknown provider {config.provider!r}")


def missing_vm_tools(which: Callable[[str], str | None] = shutil.which) -> list[str]:
    return [tool for tool in VM_TOOLS if which(tool) is None]


def install_vm_tools() -> str | None:
    """Installs the VM lab's Debian packages (tools/install-deps vm); why it could not, or None."""
    if os.geteuid() != 0:
        return "not root"
    log("installing the VM lab's Debian packages (tools/install-deps vm; once)")
    result = subprocess.run([str(INSTALL_DEPS), "vm"], check=False, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        lines = result.stdout.strip().splitlines()
        return lines[-1] if lines else f"exit code {result.returncode}"
    return None


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

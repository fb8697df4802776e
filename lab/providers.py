"""Which provider builds the lab: the VM provider when VMs really boot with hardware acceleration, else containers."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from lab.config import LabConfig, LabError
from lab.inventory import Connection
from lab.nspawn import NspawnLab
from lab.shell import log


class Provider(Protocol):
    name: str

    def up(self) -> list[Connection]: ...

    def down(self) -> None: ...

    def status(self) -> list[str]: ...


def _provider_file(config: LabConfig) -> Path:
    return config.state_dir / "provider"


def make_provider(name: str, config: LabConfig) -> Provider:
    if name == "nspawn":
        return NspawnLab(config, log=log)
    if name == "libvirt":
        from lab.libvirt import LibvirtLab

        return LibvirtLab(config, log=log)
    raise LabError(f"unknown provider {name!r}")


def _auto_choice(config: LabConfig) -> tuple[Provider, str]:
    """VMs when Vagrant and libvirt are installed and a KVM guest really boots here (lab.kvm), else containers."""
    from lab.kvm import kvm_verdict
    from lab.libvirt import require_tools

    try:
        require_tools()
        verdict = kvm_verdict(log, environ={})  # auto means hardware speed: LAB_LIBVIRT_DRIVER does not count
    except LabError as error:
        return make_provider("nspawn", config), f"containers: no VM lab here ({error})"
    if verdict.driver == "kvm":
        return make_provider("libvirt", config), f"VMs: {verdict.reason}"
    return make_provider("nspawn", config), f"containers: no usable KVM ({verdict.reason})"


def choose_provider(config: LabConfig) -> tuple[Provider, str]:
    """The provider for `lab up`, and why it was chosen."""
    existing = provider_for_existing_lab(config)
    if config.provider != "auto":
        if existing is not None and existing.name != config.provider:
            raise LabError(f"lab '{config.name}' is up with provider {existing.name}: 'make lab-down' first")
        chosen, reason = make_provider(config.provider, config), f"LAB_PROVIDER={config.provider}"
    elif existing is not None:
        chosen, reason = existing, "the lab is already up with it"
    else:
        chosen, reason = _auto_choice(config)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    _provider_file(config).write_text(chosen.name + "\n")
    return chosen, reason


def provider_for_existing_lab(config: LabConfig) -> Provider | None:
    path = _provider_file(config)
    return make_provider(path.read_text().strip(), config) if path.is_file() else None

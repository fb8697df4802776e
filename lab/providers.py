"""Which provider builds the lab: the VM provider when VMs really boot with hardware acceleration, else containers."""

from __future__ import annotations

from typing import Protocol

from lab.config import LabConfig, LabError
from lab.nspawn import NspawnLab


class Provider(Protocol):
    name: str

    def up(self) -> list: ...  # list[lab.inventory.Connection]

    def down(self) -> None: ...

    def status(self) -> list[str]: ...


def _provider_file(config: LabConfig):
    return config.state_dir / "provider"


def make_provider(name: str, config: LabConfig) -> Provider:
    if name == "nspawn":
        return NspawnLab(config, log=lambda message: print(f"lab: {message}", flush=True))
    raise LabError(f"the {name} provider is not available yet (use LAB_PROVIDER=nspawn)")


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
        chosen, reason = make_provider("nspawn", config), "containers: no VM provider with KVM here"
    config.state_dir.mkdir(parents=True, exist_ok=True)
    _provider_file(config).write_text(chosen.name + "\n")
    return chosen, reason


def provider_for_existing_lab(config: LabConfig) -> Provider | None:
    path = _provider_file(config)
    return make_provider(path.read_text().strip(), config) if path.is_file() else None

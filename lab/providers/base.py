"""The one interface every provider implements (lab.providers.nspawn, lab.providers.libvirt), and the figures
they quote to each other.

Reference: docs/providers.md
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from lab.model import Connection
from lab.state import LabConfig

CONTAINER_LAB_SECONDS = 20  # what the seed's container lab takes here, up and checked (docs/providers.md)


class Provider(Protocol):
    name: str
    config: LabConfig  # the lab's config, with what the provider chose in prepare() (box, driver) in provider_settings

    def prepare(self) -> LabConfig:
        """Checks the machine and chooses the provider's settings (box, driver, ...): the config to record before
        up() (the Vagrantfile reads the record)."""
        ...

    def up(self) -> list[Connection]:
        """Creates (or recovers) every host, after prepare(); how to reach each."""
        ...

    def down(self) -> None:
        """Removes every host, network and file of the lab."""
        ...

    def states(self) -> dict[str, str]:
        """Each host's state as the provider sees it: running, absent, shut off, ..."""
        ...

    def capture_interface(self, network: str) -> str:
        """The machine's interface of a lab network, or of the management network ('mgmt'): lab.ops.capture."""
        ...

    def save_snapshot(self, name: str, directory: Path) -> None:
        """Every host's disk at one moment, kept in `directory` or by the provider under `name`: lab.ops.snapshot."""
        ...

    def restore_snapshot(self, name: str, directory: Path) -> None: ...

    def delete_snapshot(self, name: str) -> None: ...

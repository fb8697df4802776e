"""The lab on this machine: every path under .lab/NAME/ in one place, and the lab's record there
(.lab/NAME/topology.json: the resolved topology, the provider and the settings it chose), loaded and saved.

Only lab.driver saves the record; everything else reads it (or a LabConfig made from it).

Reference: docs/lab.md
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from pathlib import Path

from lab import model
from lab.errors import LabError
from lab.model import Host, Topology
from lab.topology import machine_mgmt_address

REPO = Path(__file__).resolve().parent.parent
STATE_ROOT = ".lab"  # under the repository: one directory per lab, and Ansible's home
ANSIBLE_HOME = REPO / STATE_ROOT / "ansible-home"
STATE_FILE = "topology.json"


@dataclass(frozen=True)
class LabConfig:
    """One lab: its resolved topology (management addresses planned), the provider that builds it, its state."""

    topology: Topology
    provider: str  # nspawn or libvirt
    state_dir: Path
    provider_settings: dict[str, str] = field(default_factory=dict)  # what the provider chose, kept for the lab

    @property
    def name(self) -> str:
        return self.topology.name

    @property
    def hosts(self) -> tuple[Host, ...]:
        """The hosts the provider creates (external hosts are only in the inventory)."""
        return self.topology.lab_hosts

    @property
    def chat_port(self) -> int:
        return self.topology.chat_port

    @property
    def mgmt_subnet(self) -> ipaddress.IPv4Network:
        assert self.topology.mgmt_subnet is not None
        return self.topology.mgmt_subnet

    @property
    def mgmt_gateway(self) -> ipaddress.IPv4Interface:
        """This machine's address on the management network (planned by lab.topology)."""
        return machine_mgmt_address(self.topology)

    # ---- .lab/NAME/: every file and directory of the lab ------------------------------------------------------
    @property
    def state_path(self) -> Path:
        """The lab's record."""
        return self.state_dir / STATE_FILE

    @property
    def inventory_path(self) -> Path:
        return self.state_dir / "inventory.yml"

    @property
    def key_path(self) -> Path:
        """The lab's own SSH key (its public half goes onto every lab host)."""
        return key_path_in(self.state_dir)

    @property
    def known_hosts_path(self) -> Path:
        """The host keys of the hosts the provider made (it rewrites the file on every `lab up`)."""
        return self.state_dir / "ssh" / "known_hosts"

    @property
    def external_known_hosts_path(self) -> Path:
        """The host keys of the external hosts, learnt on first sight and kept (no provider writes it)."""
        return self.state_dir / "ssh" / "known_hosts.external"

    @property
    def known_hosts_files(self) -> str:
        """ssh's UserKnownHostsFile value: both files."""
        return f"{self.known_hosts_path} {self.external_known_hosts_path}"

    @property
    def results_path(self) -> Path:
        """The cross-host checks' JUnit XML."""
        return self.state_dir / "results.xml"

    @property
    def tc_path(self) -> Path:
        """The link conditions in force (lab.ops.tc), when they were changed at runtime or applied by lab up."""
        return self.state_dir / "tc.json"

    @property
    def bench_dir(self) -> Path:
        """`lab bench`'s reports: TIME.json and TIME.png."""
        return self.state_dir / "bench"

    @property
    def snapshots_dir(self) -> Path:
        return self.state_dir / "snapshots"

    @property
    def captures_dir(self) -> Path:
        return self.state_dir / "captures"

    @property
    def hosts_dir(self) -> Path:
        """Containers: each host's root directory, one below it per host."""
        return self.state_dir / "hosts"

    @property
    def vagrant_dir(self) -> Path:
        """VMs: Vagrant's own state (VAGRANT_DOTFILE_PATH)."""
        return self.state_dir / "vagrant"

    @property
    def console_dir(self) -> Path:
        """VMs: each one's serial console log."""
        return self.state_dir / "console"

    @property
    def vagrant_log(self) -> Path:
        return self.state_dir / "vagrant-up.log"


def key_path_in(state_dir: Path) -> Path:
    """The lab's SSH key in its state directory (also before the lab's first `lab up`: `lab key`)."""
    return state_dir / "ssh" / "id_ed25519"


def state_dir_for(name: str, root: Path | None = None) -> Path:
    return (root or REPO) / STATE_ROOT / name


def load_state(state_dir: Path) -> LabConfig | None:
    """The lab's record (topology.json), or None when the lab was never brought up (or is down)."""
    path = state_dir / STATE_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        return LabConfig(model.from_json(data["topology"]), data["provider"], state_dir,
                         dict(data.get("provider_settings") or {}))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise LabError(f"{path} is damaged ({error}): 'make lab-down' removes the lab") from None


def save_state(config: LabConfig) -> None:
    """Writes the lab's record atomically (lab.driver's, the one writer)."""
    config.state_dir.mkdir(parents=True, exist_ok=True)
    record = {"provider": config.provider, "provider_settings": config.provider_settings,
              "topology": model.to_json(config.topology)}
    temporary = config.state_path.with_suffix(".tmp")
    temporary.write_text(json.dumps(record, indent=1) + "\n")
    temporary.replace(config.state_path)

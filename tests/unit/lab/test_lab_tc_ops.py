"""lab tc's decisions before it runs anything: what a kernel without netem refuses (naming the file's key path),
where a container's received packets are shaped (its veth's machine end), the record of what is in force."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from repo_paths import REPO

from lab import links
from lab.conditions import Conditions
from lab.config import configure, up_request
from lab.errors import LabError
from lab.ops import tc
from lab.state import LabConfig

CONDITIONS = REPO / "labs" / "conditions.yml"
WAN = CONDITIONS.with_name("wan.yml")


def lab(tmp_path: Path, provider: str, topology: Path) -> LabConfig:
    environ = {"LAB_TOPOLOGY": str(topology), "LAB_PROVIDER": provider}
    return configure(up_request(environ, root=tmp_path), provider)


def test_without_netem_a_topologys_delay_is_refused_naming_its_key(tmp_path: Path) -> None:
    config = lab(tmp_path, "nspawn", WAN)
    with pytest.raises(LabError) as raised:
        tc.check_supported(config, links.from_topology(config.topology), netem=False,
                           source=f"{config.topology.source}: ")
    assert str(raised.value).startswith(f"{config.topology.source}: networks.lan.tc.delay: delay needs netem, "
                                        f"which this kernel lacks")
    assert "LAB_PROVIDER=libvirt" in str(raised.value)
    tc.check_supported(config, links.from_topology(config.topology), netem=True, source="")


def test_loss_and_rate_need_no_netem(tmp_path: Path) -> None:
    config = lab(tmp_path, "nspawn", CONDITIONS)
    tc.check_supported(config, links.from_topology(config.topology), netem=False, source="")


def test_a_containers_interfaces_are_shaped_on_their_veths_machine_ends_a_vms_inside(tmp_path: Path) -> None:
    containers = lab(tmp_path, "nspawn", CONDITIONS)
    ports = links.ports(containers.topology, links.from_topology(containers.topology), tc._peer_of(containers))
    name = containers.name
    assert [p.peer for p in ports["router"]] == [f"{name}-1n1", f"{name}-1n2"]  # lab.providers.nspawn's links
    vms = lab(tmp_path / "vm", "libvirt", CONDITIONS)
    assert all(p.peer is None for p in links.ports(vms.topology, links.from_topology(vms.topology),
                                                   tc._peer_of(vms))["router"])


def test_what_is_in_force_is_the_record_or_else_the_topologys(tmp_path: Path) -> None:
    config = lab(tmp_path, "nspawn", CONDITIONS)
    assert tc.in_force(config) == links.from_topology(config.topology)
    changed = links.set_target(tc.in_force(config), config.topology, "lanb", ["loss=100"])
    config.state_dir.mkdir(parents=True)
    tc.save(config, changed, netem=False, seconds=0.05)
    assert tc.in_force(config).network("lanb") == Conditions(loss=100)
    assert json.loads(config.tc_path.read_text())["apply_seconds"] == 0.05
    rows = {row["target"]: row for row in tc.show_rows(config, tc.in_force(config))}
    assert rows["lanb"]["said"] == "loss 100 %" and rows["lanb"]["planned"] == {"loss": 10.0}

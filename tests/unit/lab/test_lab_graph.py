"""The lab's picture is drawn from its resolved topology: every host, network and interface, and Graphviz reads it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from repo_paths import REPO

from lab import topology as topo
from lab.model import Topology
from lab.outputs.graph import ROW_LENGTH, ROWS_FROM, in_rows, render, rows, to_dot

LABS = REPO / "labs"


def routed() -> Topology:
    return topo.resolve(topo.read_file(LABS / "routed.yml"), "labs/routed.yml")


def test_dot_has_every_host_network_and_interface_address() -> None:
    dot = to_dot(routed())
    for host in ("server", "router", "client1", "client2"):
        assert f'"host:{host}" [shape=box' in dot
    assert '"net:lana" [shape=ellipse' in dot and 'label="lanb\\n192.168.57.0/24"' in dot
    assert '"host:router" -- "net:lanb" [label="eth2 192.168.57.1/24"]' in dot
    assert '"host:client1" -- "net:lanb" [label="eth1 192.168.57.12/24\\n192.168.56.0/24 via 192.168.57.1"]' in dot


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed (make deps installs it)")
def test_graphviz_renders_svg_and_png(tmp_path: Path) -> None:
    written = render(routed(), tmp_path)
    assert [p.name for p in written] == ["routed.dot", "routed.svg", "routed.png"]
    assert (tmp_path / "routed.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "client2" in (tmp_path / "routed.svg").read_text()
    syntax = subprocess.run(["dot", "-Tcanon", str(tmp_path / "routed.dot")], capture_output=True, check=False)
    assert syntax.returncode == 0 and not syntax.stderr


def classroom() -> Topology:
    return topo.resolve(topo.read_file(LABS / "classroom.yml"), "labs/classroom.yml")


def test_a_network_of_few_hosts_keeps_an_edge_per_host_and_many_hosts_go_in_rows() -> None:
    assert not in_rows(2) and not in_rows(ROWS_FROM)
    assert in_rows(ROWS_FROM + 1) and in_rows(41)


def test_rows_are_at_most_a_row_long_and_as_even_as_they_come() -> None:
    names = [f"pc{i}" for i in range(21)]
    grid = rows(names)
    assert [name for row in grid for name in row] == names  # in order, none lost
    assert max(len(row) for row in grid) <= ROW_LENGTH
    assert max(len(row) for row in grid) - min(len(row) for row in grid) <= 1
    assert rows([]) == []


def test_a_classroom_is_a_box_of_rows_with_each_host_address_in_its_label() -> None:
    dot = to_dot(classroom())
    assert 'subgraph "cluster_lan"' in dot and "21 hosts" in dot
    assert 'label="pc20\\nchat client\\neth1 10.20.0.30/24"' in dot
    assert ' -- "net:lan" [label=' not in dot  # no strip of 21 labelled edges
    assert dot.count("rank=same") == len(rows([f"h{i}" for i in range(21)]))


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed (make deps installs it)")
@pytest.mark.parametrize("clients", [20, 40])
def test_a_big_lab_png_is_readable_at_1600_px_wide(tmp_path: Path, clients: int) -> None:
    """At its own size, no wider than 1,600 px (the classroom was a strip of 3,680 x 297 px), and not a strip."""
    data = topo.read_file(LABS / "seed.yml")
    data["hosts"]["client"]["count"] = clients
    topology = topo.resolve(data, "labs/seed.yml")
    render(topology, tmp_path)
    width, height = png_size(tmp_path / f"{topology.name}.png")
    assert width <= 1600, (width, height)
    assert height > width / 3, (width, height)

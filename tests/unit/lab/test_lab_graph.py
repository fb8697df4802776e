"""The lab's picture is drawn from its resolved topology: every host, network and interface, and Graphviz reads it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from repo_paths import REPO

from lab import topology as topo
from lab.model import Topology
from lab.outputs.graph import render, to_dot

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

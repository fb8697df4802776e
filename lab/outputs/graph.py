"""The lab as a picture: hosts (role, addresses) and networks (subnet) in Graphviz's DOT, rendered by `dot`.

Reference: docs/lab.md
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from lab.errors import LabError
from lab.model import Topology

ROLE_COLOURS = {"chat_server": "#cfe8ff", "chat_client": "#e3f5d8", "router": "#ffe7c2", "plain": "#eeeeee"}
FORMATS = ("svg", "png")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(topology: Topology) -> str:
    """A DOT graph: a box per host, an ellipse per network, an edge per interface labelled with its address."""
    lines = [
        f"graph {_quote(topology.name)} {{",
        "  graph [rankdir=TB, fontname=\"DejaVu Sans\", fontsize=12, pad=0.3, nodesep=0.5, ranksep=0.9,",
        f"         label={_quote(f'lab {topology.name}: chat on port {topology.chat_port}')}, labelloc=t];",
        "  node [fontname=\"DejaVu Sans\", fontsize=11];",
        "  edge [fontname=\"DejaVu Sans\", fontsize=10];",
    ]
    for network in topology.networks:
        label = f"{network.name}\n{network.subnet}"
        if network.tc:
            label += f"\ntc: {network.tc.describe()}"
        lines.append(f"  {_quote('net:' + network.name)} [shape=ellipse, style=filled, fillcolor=\"#fff8c4\", "
                     f"label={_quote(label)}];")
    for host in topology.hosts:
        kind = "external machine" if host.is_external else host.role.replace("_", " ")
        label = f"{host.name}\n{kind}"
        if host.mgmt_address is not None:
            label += f"\nmgmt {host.mgmt_address.ip}"
        elif host.external_ssh:
            label += f"\nssh {host.external_ssh}"
        lines.append(f"  {_quote('host:' + host.name)} [shape=box, style=\"rounded,filled\", "
                     f"fillcolor={_quote(ROLE_COLOURS[host.role])}, label={_quote(label)}];")
        for interface in host.interfaces:
            label = f"{interface.name} {interface.address}"
            for route in interface.routes:
                label += f"\n{route.to} via {route.via}"
            link = topology.network(interface.network).tc
            if link or interface.tc:  # the conditions on this link: the network's, and this host's own on it
                label += "\ntc: " + "; ".join(part for part in (link.describe() if link else "",
                                                                (f"own {interface.tc.describe()}" if interface.tc
                                                                 else "")) if part)
            lines.append(f"  {_quote('host:' + host.name)} -- {_quote('net:' + interface.network)} "
                         f"[label={_quote(label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(topology: Topology, directory: Path) -> list[Path]:
    """Writes NAME.dot, and NAME.svg and NAME.png with Graphviz; the files written."""
    if shutil.which("dot") is None:
        raise LabError("Graphviz's dot is not installed (run: make deps, or apt-get install graphviz)")
    directory.mkdir(parents=True, exist_ok=True)
    source = directory / f"{topology.name}.dot"
    source.write_text(to_dot(topology))
    written = [source]
    for kind in FORMATS:
        target = directory / f"{topology.name}.{kind}"
        result = subprocess.run(["dot", f"-T{kind}", "-o", str(target), str(source)], capture_output=True,
                                text=True, check=False, timeout=60)
        if result.returncode != 0:
            lines = result.stderr.strip().splitlines()
            raise LabError(f"dot -T{kind} failed: {lines[-1] if lines else f'exit code {result.returncode}'}")
        written.append(target)
    return written

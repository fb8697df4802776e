"""The lab as a picture: hosts (role, addresses) and networks (subnet) in Graphviz's DOT, rendered by `dot`.

A network with few hosts is an ellipse with an edge to each host, labelled with the host's interface and address
(the seed's and the routed lab's picture). A network with many hosts (a classroom) would be one long strip that
way, so its own hosts (those on no other network) are drawn inside a box for the network instead, in rows of at
most ROW_LENGTH, each host's address in its label; hosts on several networks (routers) keep their edges. The PNG of
a 40-client lab stays readable at 1,600 px wide.

Reference: docs/lab.md
"""

from __future__ import annotations

import shutil
import subprocess
from itertools import pairwise
from pathlib import Path

from lab.errors import LabError
from lab.model import Host, Network, Topology

ROLE_COLOURS = {"chat_server": "#cfe8ff", "chat_client": "#e3f5d8", "router": "#ffe7c2", "plain": "#eeeeee"}
FORMATS = ("svg", "png")
ROWS_FROM = 6  # a network with more hosts of its own than this is drawn as a box of rows (7 edges: 1,375 px)
ROW_LENGTH = 6  # hosts per row: 6 boxes with a management address and their gaps: about 1,300 px


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def own_hosts(topology: Topology, network: Network) -> list[Host]:
    """The hosts on `network` and on no other lab network."""
    return [host for host in topology.hosts
            if [interface.network for interface in host.interfaces] == [network.name]]


def in_rows(network_hosts: int) -> bool:
    """Whether a network with this many hosts of its own is drawn as a box of rows (else: an edge per host)."""
    return network_hosts > ROWS_FROM


def rows(items: list[str], length: int = ROW_LENGTH) -> list[list[str]]:
    """`items` in rows of at most `length`, as even as they come (20 in rows of 6: 5, 5, 5, 5, not 6, 6, 6, 2)."""
    if not items:
        return []
    count = -(-len(items) // length)
    size, extra = divmod(len(items), count)
    result, start = [], 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        result.append(items[start:end])
        start = end
    return result


def _host_label(host: Host, with_addresses: bool) -> str:
    kind = "external machine" if host.is_external else host.role.replace("_", " ")
    label = f"{host.name}\n{kind}"
    if with_addresses:
        for interface in host.interfaces:
            label += f"\n{interface.name} {interface.address}"
            label += "".join(f"\n{route.to} via {route.via}" for route in interface.routes)
    if host.mgmt_address is not None:
        label += f"\nmgmt {host.mgmt_address.ip}"
    elif host.external_ssh:
        label += f"\nssh {host.external_ssh}"
    return label


def _host_node(host: Host, with_addresses: bool, indent: str = "  ") -> str:
    return (f"{indent}{_quote('host:' + host.name)} [shape=box, style=\"rounded,filled\", "
            f"fillcolor={_quote(ROLE_COLOURS[host.role])}, label={_quote(_host_label(host, with_addresses))}];")


def _network_node(network: Network, indent: str = "  ") -> str:
    label = f"{network.name}\n{network.subnet}"
    if network.tc:
        label += f"\ntc: {network.tc.describe()}"
    return (f"{indent}{_quote('net:' + network.name)} [shape=ellipse, style=filled, fillcolor=\"#fff8c4\", "
            f"label={_quote(label)}];")


def _network_in_rows(network: Network, hosts: list[Host]) -> list[str]:
    """A box for the network: its ellipse on top, its own hosts in rows under it, held in place by invisible
    edges (each host under the one above it)."""
    lines = [f"  subgraph {_quote('cluster_' + network.name)} {{",
             f"    label={_quote(f'{network.name} {network.subnet}: {len(hosts)} hosts')}; style=\"rounded\"; "
             "color=\"#b8a800\";",
             _network_node(network, "    ")]
    lines += [_host_node(host, with_addresses=True, indent="    ") for host in hosts]
    grid = rows([host.name for host in hosts])
    for row in grid:  # a row: one rank, its hosts in order (an invisible chain from left to right)
        names = " ".join(_quote("host:" + name) for name in row)
        lines.append(f"    {{ rank=same; {names} }}")
        if len(row) > 1:
            chain = " -- ".join(_quote("host:" + name) for name in row)
            lines.append(f"    {chain} [style=invis];")
    if grid:
        top = grid[0][(len(grid[0]) - 1) // 2]
        lines.append(f"    {_quote('net:' + network.name)} -- {_quote('host:' + top)} [style=invis, weight=10];")
    for upper, lower in pairwise(grid):  # each host under the one above it
        for position, name in enumerate(lower):
            above = upper[min(position, len(upper) - 1)]
            lines.append(f"    {_quote('host:' + above)} -- {_quote('host:' + name)} [style=invis, weight=10];")
    lines.append("  }")
    return lines


def to_dot(topology: Topology) -> str:
    """A DOT graph: a box per host, an ellipse per network, an edge per interface labelled with its address, except
    for the hosts a network with many hosts holds in its box of rows."""
    lines = [
        f"graph {_quote(topology.name)} {{",
        "  graph [rankdir=TB, fontname=\"DejaVu Sans\", fontsize=12, pad=0.3, nodesep=0.5, ranksep=0.9,",
        f"         label={_quote(f'lab {topology.name}: chat on port {topology.chat_port}')}, labelloc=t];",
        "  node [fontname=\"DejaVu Sans\", fontsize=11];",
        "  edge [fontname=\"DejaVu Sans\", fontsize=10];",
    ]
    boxed: set[str] = set()
    for network in topology.networks:
        members = own_hosts(topology, network)
        if in_rows(len(members)):
            lines += _network_in_rows(network, members)
            boxed.update(host.name for host in members)
        else:
            lines.append(_network_node(network))
    for host in topology.hosts:
        if host.name in boxed:
            continue
        lines.append(_host_node(host, with_addresses=False))
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

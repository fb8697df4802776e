"""A lab network on an existing bridge of this machine (``networks: {lan: {subnet: …, bridge: br0}}``), checked before
the lab uses it: the bridge exists and is a bridge, and no planned address of the lab already answers on it (an ARP
probe each, lab.plumbing.arp_probe). The lab plugs its hosts into such a bridge and unplugs them again; it never
creates it, changes its addresses or removes it (docs/real-networks.md)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from pathlib import Path

from lab.errors import LabError
from lab.model import Host, Network
from lab.plumbing.arp_probe import holder
from lab.plumbing.shell import run

SYS_NET = Path("/sys/class/net")
Prober = Callable[[str, ipaddress.IPv4Address], str | None]


def bridge_problem(bridge: str, network: str, sys_net: Path = SYS_NET) -> str | None:
    """Why network `network` cannot use `bridge` (one line), or None when it is an existing bridge that is up."""
    link = sys_net / bridge
    if not link.exists():
        return (f"network {network}: bridge {bridge} does not exist on this machine (the lab uses an existing "
                f"bridge as it is and never creates one: make it first, see docs/real-networks.md)")
    if not (link / "bridge").is_dir():
        return (f"network {network}: {bridge} is not a bridge (put the LAN's NIC into a bridge, see "
                "docs/real-networks.md)")
    if not int((link / "flags").read_text(), 16) & 1:  # IFF_UP, as the admin set it (no port needs a carrier)
        return f"network {network}: bridge {bridge} is down ('ip link set {bridge} up')"
    return None


def machine_addresses(ip_addr_output: str) -> set[ipaddress.IPv4Address]:
    """This machine's own IPv4 addresses in ``ip -o -4 addr show dev BRIDGE`` (a probe does not see them: this
    machine is their holder)."""
    held = set()
    for line in ip_addr_output.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] == "inet":
            held.add(ipaddress.IPv4Interface(fields[3]).ip)
    return held


def taken_addresses(bridge: str, planned: Iterable[tuple[str, ipaddress.IPv4Address]],
                    own: set[ipaddress.IPv4Address], probe: Prober = holder) -> list[str]:
    """Each planned (host, address) that this machine holds on `bridge` (`own`) or that already answers there,
    as one line naming who holds it."""
    problems = []
    for host, address in planned:
        if address in own:
            problems.append(f"{host}: {address} is this machine's own address on bridge {bridge}: give {host} "
                            "another address")
            continue
        mac = probe(bridge, address)
        if mac is not None:
            problems.append(f"{host}: {address} already answers on bridge {bridge} (from {mac}): give {host} "
                            f"another address, or free that one")
    return problems


def require_usable(networks: Iterable[Network], booting: Iterable[Host], probe: Prober = holder) -> None:
    """Before hosts boot: every network on an existing bridge has a usable bridge, and no planned address of a
    host in `booting` on it is taken (this machine's own, or answering an ARP probe). LabError (one line) if not."""
    hosts = list(booting)
    problems = []
    for network in networks:
        if network.bridge is None:
            continue
        problem = bridge_problem(network.bridge, network.name)
        if problem is not None:
            raise LabError(problem)
        planned = [(host.name, interface.address.ip) for host in hosts
                   if (interface := host.interface_on(network.name)) is not None]
        if planned:
            own = machine_addresses(run(["ip", "-o", "-4", "addr", "show", "dev", network.bridge]).stdout)
            problems += taken_addresses(network.bridge, planned, own, probe)
    if problems:
        raise LabError("; ".join(problems))

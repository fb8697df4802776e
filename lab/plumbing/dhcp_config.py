"""The DHCP server of a lab network, as dnsmasq configuration text: pure, no I/O (lab.plumbing.dhcp runs it).

A lab network whose hosts start like an installed Debian (``iface eth0 inet dhcp``) gets a dnsmasq bound to that
network's bridge, on the lab machine, answering DHCP only: no DNS (port=0), no range for strangers (``static``:
only the lab's own hosts, each by the host name its DHCP client sends, get an address, the one the topology planned
for it), the network's gateway as the router option when it has one, leases in the lab's state directory. It is
never run on a bridge the lab did not make (a real LAN has its own DHCP server): docs/real-networks.md.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

LEASE_SECONDS = 3600  # long enough that no renewal happens during a lab's checks; dnsmasq's minimum is 120
_HOST_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_INTERFACE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


class DhcpConfigError(ValueError):
    """A value that cannot go into dnsmasq's configuration (one line)."""


@dataclass(frozen=True)
class Reservation:
    """One lab host: the host name its DHCP client sends (or its MAC, where the lab knows it), and the address it
    gets."""

    host_name: str
    address: ipaddress.IPv4Address
    mac: str | None = None  # aa:bb:cc:dd:ee:ff: matched by it instead of the name


@dataclass(frozen=True)
class DhcpNetwork:
    """What dnsmasq serves on one lab network."""

    lab: str
    network: str  # the topology's name of it
    bridge: str  # the lab's bridge of it, holding server_address
    subnet: ipaddress.IPv4Network
    server_address: ipaddress.IPv4Address  # the bridge's own address (dnsmasq answers from it)
    router: ipaddress.IPv4Address | None
    reservations: tuple[Reservation, ...]
    state_dir: Path  # .lab/NAME/dhcp/: config, leases, pid file, log

    @property
    def config_path(self) -> Path:
        return self.state_dir / f"{self.network}.conf"

    @property
    def lease_path(self) -> Path:
        return self.state_dir / f"{self.network}.leases"

    @property
    def pid_path(self) -> Path:
        return self.state_dir / f"{self.network}.pid"

    @property
    def log_path(self) -> Path:
        return self.state_dir / f"{self.network}.log"


def render(network: DhcpNetwork) -> str:
    """dnsmasq's configuration file for `network`; DhcpConfigError when a value does not fit."""
    if not _INTERFACE.match(network.bridge):
        raise DhcpConfigError(f"{network.bridge!r} is not an interface name")
    if network.server_address not in network.subnet:
        raise DhcpConfigError(f"the bridge's address {network.server_address} is not in {network.subnet}")
    lines = [
        f"# Written by the lab: DHCP of network {network.network} of lab {network.lab} (docs/real-networks.md).",
        "port=0",  # no DNS
        f"interface={network.bridge}",
        "bind-interfaces",
        "except-interface=lo",
        "no-resolv",
        "no-hosts",
        "dhcp-authoritative",
        f"dhcp-range=set:lab,{network.subnet.network_address},static,{network.subnet.netmask},{LEASE_SECONDS}",
        f"dhcp-leasefile={network.lease_path}",
        f"pid-file={network.pid_path}",
        f"log-facility={network.log_path}",
        "log-dhcp",
    ]
    lines.append(f"dhcp-option=tag:lab,option:router,{network.router}" if network.router is not None
                 else "dhcp-option=tag:lab,option:router")  # no router: say so, not dnsmasq's own address
    lines.append("dhcp-option=tag:lab,option:dns-server")  # no DNS server either (port=0)
    seen: set[ipaddress.IPv4Address] = set()
    for reservation in network.reservations:
        if not _HOST_NAME.match(reservation.host_name):
            raise DhcpConfigError(f"{reservation.host_name!r} is not a host name a DHCP client sends")
        if reservation.address not in network.subnet or reservation.address in seen:
            raise DhcpConfigError(f"{reservation.host_name}: {reservation.address} is not a free address of "
                                  f"{network.subnet}")
        if reservation.address == network.server_address:
            raise DhcpConfigError(f"{reservation.host_name}: {reservation.address} is the bridge's own address")
        if reservation.mac is not None and not _MAC.match(reservation.mac):
            raise DhcpConfigError(f"{reservation.host_name}: {reservation.mac!r} is not a MAC like 02:00:00:00:00:01")
        seen.add(reservation.address)
        lines.append(f"dhcp-host={reservation.mac or reservation.host_name},{reservation.address}")
    return "\n".join(lines) + "\n"

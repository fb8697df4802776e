"""The kernel's route tables: which interfaces hold a default route (from /proc/net/route, ipv6_route)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

PROC_ROUTE = Path("/proc/net/route")
PROC_IPV6_ROUTE = Path("/proc/net/ipv6_route")
RTF_UP = 0x0001
RTF_REJECT = 0x0200


@dataclass(frozen=True)
class DefaultRoute:
    interface: str
    family: str  # "ipv4" or "ipv6"
    gateway: ipaddress.IPv4Address | ipaddress.IPv6Address | None


def _is_usable_default(dest: str, mask: str, flags: str) -> bool:
    """A route (hex fields of /proc) to everywhere that is up and not a reject (unreachable) route.
    Raises ValueError for fields that are not hex."""
    flag_bits = int(flags, 16)
    return not int(dest, 16) and not int(mask, 16) and bool(flag_bits & RTF_UP) and not flag_bits & RTF_REJECT


def parse_proc_route(text: str) -> list[DefaultRoute]:
    """The IPv4 default routes in the text of /proc/net/route (hex fields, little-endian addresses)."""
    routes: list[DefaultRoute] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        iface, dest, gateway, flags, mask = fields[0], fields[1], fields[2], fields[3], fields[7]
        try:
            if not _is_usable_default(dest, mask, flags):
                continue
            gw_int = int.from_bytes(bytes.fromhex(gateway), "little")
        except ValueError:
            continue
        routes.append(DefaultRoute(iface, "ipv4", ipaddress.IPv4Address(gw_int) if gw_int else None))
    return routes


def parse_proc_ipv6_route(text: str) -> list[DefaultRoute]:
    """The IPv6 default routes in the text of /proc/net/ipv6_route (unreachable routes excluded)."""
    routes: list[DefaultRoute] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 10:
            continue
        dest, prefix, nexthop, flags, iface = fields[0], fields[1], fields[4], fields[8], fields[9]
        try:
            if not _is_usable_default(dest, prefix, flags):
                continue
            gw_int = int(nexthop, 16)
        except ValueError:
            continue
        if iface == "lo":
            continue
        routes.append(DefaultRoute(iface, "ipv6", ipaddress.IPv6Address(gw_int) if gw_int else None))
    return routes


def read_default_routes() -> list[DefaultRoute]:
    """The default routes of this network namespace (IPv4 then IPv6); empty when /proc is unreadable."""
    routes: list[DefaultRoute] = []
    for path, parser in ((PROC_ROUTE, parse_proc_route), (PROC_IPV6_ROUTE, parse_proc_ipv6_route)):
        try:
            routes.extend(parser(path.read_text()))
        except OSError:
            continue
    return routes

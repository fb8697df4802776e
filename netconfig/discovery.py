"""Discovery of this machine's interfaces (netifaces, /sys/class/net): MAC, addresses, state, default
route."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from netconfig import routes as route_table

SYS_CLASS_NET = Path("/sys/class/net")
IFF_UP = 0x1


class DiscoveryError(RuntimeError):
    """Discovery is impossible (e.g. netifaces is not installed); ``str(e)`` is one clear line."""


@dataclass(frozen=True)
class InterfaceInfo:
    name: str
    mac: str | None
    ipv4: tuple[ipaddress.IPv4Interface, ...]
    ipv6: tuple[ipaddress.IPv6Interface, ...]
    state: str  # operstate ("up", "down", "lowerlayerdown", ...); "unknown" resolved with IFF_UP
    default_route: tuple[str, ...]  # the families ("ipv4", "ipv6") whose default route it holds

    def holds(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(i.ip == address for i in (*self.ipv4, *self.ipv6))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mac": self.mac,
            "state": self.state,
            "ipv4": [i.with_prefixlen for i in self.ipv4],
            "ipv6": [i.with_prefixlen for i in self.ipv6],
            "default_route": list(self.default_route),
        }


def _netifaces() -> ModuleType:
    try:
        import netifaces  # lazy: only discovery needs it
    except ImportError:
        raise DiscoveryError(
            "netifaces is not installed: pip install netifaces-plus (or pip install 'chatlab[netconfig]')"
        ) from None
    return netifaces


def interface_exists(name: str) -> bool:
    """Whether this network namespace has an interface `name` (no netifaces needed)."""
    return "/" not in name and name not in {"", ".", ".."} and (SYS_CLASS_NET / name).exists()


def link_state(name: str) -> str:
    """The operstate from sysfs; "unknown" (loopback, some tunnels) becomes up/down from IFF_UP."""
    base = SYS_CLASS_NET / name
    try:
        state = (base / "operstate").read_text().strip()
    except OSError:
        return "unknown"
    if state == "unknown":
        try:
            flags = int((base / "flags").read_text().strip(), 16)
        except (OSError, ValueError):
            return state
        return "up" if flags & IFF_UP else "down"
    return state


def _prefix_from_mask(netmask: str, family_bits: int) -> int:
    """netifaces gives "255.255.255.0" for IPv4 and "ffff:ffff:ffff:ffff::/64" for IPv6."""
    if "/" in netmask:
        return int(netmask.rsplit("/", 1)[1])
    value = int(ipaddress.ip_address(netmask))
    return family_bits - (~value & ((1 << family_bits) - 1)).bit_length()


def _addresses(entries: Iterable[dict[str, str]], family_bits: int) -> list[Any]:
    out: list[Any] = []
    for entry in entries:
        addr = entry.get("addr", "").split("%", 1)[0]
        mask = entry.get("netmask")
        try:
            prefix = _prefix_from_mask(mask, family_bits) if mask else family_bits
            out.append(ipaddress.ip_interface(f"{addr}/{prefix}"))
        except ValueError:
            continue
    return out


def describe(name: str, addresses: dict[int, list[dict[str, str]]], af_link: int, af_inet: int,
             af_inet6: int, state: str, routes: Iterable[route_table.DefaultRoute]) -> InterfaceInfo:
    """Build an InterfaceInfo from netifaces' ifaddresses() result (pure)."""
    links = addresses.get(af_link, [])
    mac = links[0].get("addr") if links else None
    return InterfaceInfo(
        name=name,
        mac=mac or None,
        ipv4=tuple(_addresses(addresses.get(af_inet, []), 32)),
        ipv6=tuple(_addresses(addresses.get(af_inet6, []), 128)),
        state=state,
        default_route=tuple(sorted({r.family for r in routes if r.interface == name})),
    )


def discover() -> list[InterfaceInfo]:
    """Every interface of this network namespace, in netifaces' order."""
    ni = _netifaces()
    routes = route_table.read_default_routes()
    infos = []
    for name in ni.interfaces():
        try:
            addresses = ni.ifaddresses(name)
        except ValueError:  # vanished in between
            continue
        infos.append(describe(name, addresses, ni.AF_LINK, ni.AF_INET, ni.AF_INET6, link_state(name), routes))
    return infos


def ipv4_addresses(name: str) -> set[ipaddress.IPv4Interface]:
    """The IPv4 addresses `name` holds now (empty when there is no such interface)."""
    ni = _netifaces()
    try:
        addresses = ni.ifaddresses(name)
    except ValueError:
        return set()
    return set(_addresses(addresses.get(ni.AF_INET, []), 32))

"""The lock-out guard: may this interface be changed without cutting the ground from under our feet?

Stdlib only at run time: it is also the static_ip role's module_utils (chatlab_guard)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Protocol

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Link(Protocol):
    """What the guard needs of an interface (netconfig.apply.LinkState, netconfig.discovery.InterfaceInfo)."""

    @property
    def name(self) -> str: ...

    @property
    def default_route(self) -> tuple[str, ...]: ...

    def holds(self, address: IPAddress) -> bool: ...


def ssh_local_address(ssh_connection: str | None) -> IPAddress | None:
    """The local (server) address of an SSH session from ``SSH_CONNECTION``
    ("client_ip client_port server_ip server_port"); None when absent or malformed."""
    if not ssh_connection:
        return None
    fields = ssh_connection.split()
    if len(fields) != 4:
        return None
    try:
        address = ipaddress.ip_address(fields[2].split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def lockout_reasons(iface: str, interfaces: Sequence[Link], ssh_connection: str | None,
                    connected_addresses: Iterable[IPAddress] = ()) -> list[str]:
    """Why changing `iface` could lock us out: it carries the default route, or it holds the local address of
    the SSH session we run in, or one of `connected_addresses` (those Ansible reaches the host by). Empty when
    it is safe.

    The one lock-out policy of netconfig and the static_ip role: such an interface is changed only with a
    confirmed change (rolled back by the host unless confirmed) or when forced."""
    reasons: list[str] = []
    info = next((i for i in interfaces if i.name == iface), None)
    if info is None:
        return reasons
    if info.default_route:
        reasons.append(f"{iface} carries the default route ({'/'.join(info.default_route)})")
    local = ssh_local_address(ssh_connection)
    if local is not None and info.holds(local):
        reasons.append(f"{iface} holds {local}, the address of this SSH session (SSH_CONNECTION)")
    for address in connected_addresses:
        if address != local and info.holds(address):
            reasons.append(f"{iface} holds {address}, the address Ansible connects to")
    return reasons

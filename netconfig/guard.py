"""The lock-out guard: may this interface be changed without cutting the ground from under our feet?

Stdlib only at run time: it is also the static_ip role's module_utils (chatlab_guard)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only a type here: the static_ip role ships this file as module_utils, without netconfig
    from netconfig.discovery import InterfaceInfo

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


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


def lockout_reasons(iface: str, interfaces: Sequence[InterfaceInfo], ssh_connection: str | None) -> list[str]:
    """Why changing `iface` could lock us out: it carries the default route, or it holds the local
    address of the SSH session we run in. Empty when it is safe."""
    reasons: list[str] = []
    info = next((i for i in interfaces if i.name == iface), None)
    if info is None:
        return reasons
    if info.default_route:
        reasons.append(f"{iface} carries the default route ({'/'.join(info.default_route)})")
    local = ssh_local_address(ssh_connection)
    if local is not None and info.holds(local):
        reasons.append(f"{iface} holds {local}, the address of this SSH session (SSH_CONNECTION)")
    return reasons

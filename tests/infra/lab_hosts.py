"""The lab hosts the cross-host checks act on and observe, as the inventory describes them."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LabInterface:
    """One of a host's lab interfaces: its static address and the static routes through it."""

    name: str
    address: ipaddress.IPv4Interface
    routes: tuple[tuple[ipaddress.IPv4Network, ipaddress.IPv4Address], ...] = ()


@dataclass(frozen=True)
class LabHost:
    """One inventory host: its testinfra handle and the facts the checks need."""

    name: str
    host: Any  # testinfra.host.Host
    interfaces: tuple[LabInterface, ...]
    chat_port: int

    def path_to(self, address: ipaddress.IPv4Address) -> tuple[LabInterface, ipaddress.IPv4Address | None] | None:
        """How this host reaches `address` by its inventory: directly on an interface (via None), or through a
        static route's gateway; None when it should not reach it."""
        for interface in self.interfaces:
            if address in interface.address.network:
                return interface, None
        for interface in self.interfaces:
            for network, via in interface.routes:
                if address in network:
                    return interface, via
        return None

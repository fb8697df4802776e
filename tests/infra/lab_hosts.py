"""The lab hosts the cross-host checks act on and observe, as the inventory describes them."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

HOST_WORKERS = 16  # hosts a check works on at once (each command is an ssh client on a shared connection)
H = TypeVar("H", bound="LabHost")


@dataclass(frozen=True)
class LabInterface:
    """One of a host's lab interfaces: its static address, the static routes through it, and the gateway of the
    host's default route when it is on this interface."""

    name: str
    address: ipaddress.IPv4Interface
    routes: tuple[tuple[ipaddress.IPv4Network, ipaddress.IPv4Address], ...] = ()
    gateway: ipaddress.IPv4Address | None = None


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


def on_each(hosts: Sequence[H], check: Callable[[H], None]) -> None:
    """Runs a per-host check on every host, HOST_WORKERS at once (a check of 40 hosts one after another spent most
    of its time waiting on each host's answer); one AssertionError listing every host that failed. The first host
    goes alone, so that testinfra reads the inventory once."""
    failures: list[str] = []

    def one(lab_host: H) -> None:
        try:
            check(lab_host)
        except AssertionError as error:
            failures.append(str(error).split("\n")[0] or f"{lab_host.name}: failed")

    if hosts:
        one(hosts[0])
    with ThreadPoolExecutor(max_workers=HOST_WORKERS) as pool:
        list(pool.map(one, hosts[1:]))
    assert not failures, "; ".join(sorted(failures))

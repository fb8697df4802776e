"""The lab's link conditions in force (pure): the topology's, changed at runtime by `lab tc set` and put back by
`lab tc reset` or the next `lab up`; what each host interface applies (lab.tc_script's ports), and what a path between
two hosts adds up to (what the checks measure against). See docs/conditions.md.

A target is a network (`lanb`: every host interface on it) or one host's interface on a network (`client1:lanb`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lab.conditions import (
    NONE,
    ConditionError,
    Conditions,
    Port,
    crossing,
    from_json,
    override,
    parse_assignments,
    shaping,
)
from lab.conditions import to_json as conditions_json
from lab.model import Host, Topology


@dataclass(frozen=True)
class InForce:
    """Each network's conditions, and each host's own on a network ((host, network) -> conditions; only those
    given)."""

    networks: Mapping[str, Conditions]
    own: Mapping[tuple[str, str], Conditions] = field(default_factory=dict)

    def network(self, name: str) -> Conditions:
        return self.networks.get(name, NONE)

    def own_on(self, host: str, network: str) -> Conditions:
        return self.own.get((host, network), NONE)

    def described(self) -> dict[str, str]:
        """Target -> 'delay 80 ms, ...' for every target with conditions (the bench report's 'conditions')."""
        said = {name: given.describe() for name, given in self.networks.items() if given}
        said.update({f"{host}:{network}": given.describe() for (host, network), given in self.own.items() if given})
        return said


def from_topology(topology: Topology) -> InForce:
    return InForce({network.name: network.tc for network in topology.networks},
                   {(host.name, i.network): i.tc for host in topology.hosts for i in host.interfaces if i.tc})


def to_json(in_force: InForce) -> dict[str, Any]:
    return {"networks": {name: conditions_json(given) for name, given in in_force.networks.items() if given},
            "interfaces": {f"{host}:{network}": conditions_json(given)
                           for (host, network), given in in_force.own.items() if given}}


def from_record(data: Mapping[str, Any], topology: Topology) -> InForce:
    networks = {network.name: from_json(data.get("networks", {}).get(network.name)) for network in topology.networks}
    own = {}
    for name, given in data.get("interfaces", {}).items():
        host, _, network = name.partition(":")
        own[host, network] = from_json(given)
    return InForce(networks, own)


# ---- targets, set and reset --------------------------------------------------------------------------------------
def parse_target(topology: Topology, text: str) -> tuple[str, str | None]:
    """'lanb' -> ('lanb', None); 'client1:lanb' -> ('lanb', 'client1'); ConditionError naming what exists."""
    host_name, colon, network = text.rpartition(":")
    if not colon:
        network, host_name = text, ""
    networks = [n.name for n in topology.networks]
    if network not in networks:
        raise ConditionError(text, f"no network {network!r} in this lab (networks: {', '.join(networks)}; "
                                   f"a host's interface: HOST:NETWORK)")
    if not host_name:
        return network, None
    on_it = [h.name for h in topology.hosts if h.interface_on(network) is not None]
    if host_name not in on_it:
        raise ConditionError(text, f"no host {host_name!r} on {network} (on it: {', '.join(on_it)})")
    return network, host_name


def set_target(in_force: InForce, topology: Topology, text: str, words: Iterable[str]) -> InForce:
    """`lab tc set TARGET KEY=VALUE ...`: the target's conditions with those keys replaced."""
    network, host = parse_target(topology, text)
    changes = parse_assignments(words, text)
    if host is None:
        return InForce({**in_force.networks, network: override(in_force.network(network), changes, text)},
                       in_force.own)
    return InForce(in_force.networks,
                   {**in_force.own, (host, network): override(in_force.own_on(host, network), changes, text)})


def reset_target(in_force: InForce, topology: Topology, text: str | None) -> InForce:
    """`lab tc reset [TARGET]`: the topology's conditions back on the target (a network: and on every host's
    interface on it), or everywhere."""
    planned = from_topology(topology)
    if text is None:
        return planned
    network, host = parse_target(topology, text)
    networks = {**in_force.networks}
    own = {key: value for key, value in in_force.own.items()
           if key[1] != network or (host is not None and key[0] != host)}
    if host is None:
        networks[network] = planned.network(network)
        own.update({key: value for key, value in planned.own.items() if key[1] == network})
    elif (host, network) in planned.own:
        own[host, network] = planned.own[host, network]
    return InForce(networks, own)


def changes(before: InForce, after: InForce) -> list[str]:
    """'lanb: delay 80 ms -> none' for every target whose conditions differ."""
    said = []
    for name in sorted({*before.networks, *after.networks}):
        if before.network(name) != after.network(name):
            said.append(f"{name}: {before.network(name).describe()} -> {after.network(name).describe()}")
    for host, network in sorted({*before.own, *after.own}):
        old, new = before.own_on(host, network), after.own_on(host, network)
        if old != new:
            said.append(f"{host}:{network}: {old.describe()} -> {new.describe()}")
    return said


# ---- where they go, and what a path adds up to --------------------------------------------------------------------
def ports(topology: Topology, in_force: InForce, peer_of: Callable[[Host, int], str | None]
          ) -> dict[str, list[Port]]:
    """Every lab host's interfaces on lab networks with what each applies (an interface with none too: applying
    nothing clears it). `peer_of(host, position)` is the machine-side end of its veth (containers) or None."""
    planned: dict[str, list[Port]] = {}
    for host in topology.lab_hosts:
        planned[host.name] = [
            Port(interface.name, shaping(in_force.network(interface.network), in_force.own_on(host.name,
                                                                                           interface.network)),
                 peer_of(host, position))
            for position, interface in enumerate(host.interfaces, start=1)
        ]
    return planned


def path(topology: Topology, in_force: InForce, source: str, target: ipaddress.IPv4Address) -> list[Conditions]:
    """What a packet from host `source` to the address `target` meets, one entry per network crossed, following
    the hosts' routes through routers."""
    crossings: list[Conditions] = []
    host = topology.host(source)
    for _ in range(len(topology.hosts) + 1):
        direct = next((i for i in host.interfaces if target in i.address.network), None)
        if direct is not None:
            receiver = next(h for h in topology.hosts for i in h.interfaces if i.address.ip == target)
            crossings.append(crossing(in_force.network(direct.network), in_force.own_on(host.name, direct.network),
                                      in_force.own_on(receiver.name, direct.network)))
            return crossings
        hop = next(((i, r) for i in host.interfaces for r in i.routes if target in r.to), None)
        if hop is None:
            raise ConditionError(source, f"no route to {target}")
        interface, route = hop
        router = next(h for h in topology.hosts for i in h.interfaces if i.address.ip == route.via)
        crossings.append(crossing(in_force.network(interface.network), in_force.own_on(host.name, interface.network),
                                  in_force.own_on(router.name, interface.network)))
        host = router
    raise ConditionError(source, f"a routing loop on the way to {target}")

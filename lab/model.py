"""The resolved lab as data: its networks, hosts, interfaces and routes (a `Topology`), how each host is reached
(a `Connection`), and their JSON, the form the lab's record keeps (.lab/NAME/topology.json, lab.state).

lab.topology reads a file and plans it into this model; every output (providers' hosts, the inventory, the
Vagrantfile's machines, the graph) is rendered from it. Pure data: no I/O; of the project only lab.conditions
(a link's conditions, pure data too).

Reference: docs/topology.md
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from lab import conditions
from lab.conditions import NONE, Conditions

MGMT_INTERFACE = "eth0"  # created by the provider; the lab's networks are eth1, eth2, ... in the host's order
MGMT_NETWORK = "mgmt"  # the management network's name where one is asked for beside the lab's own (lab capture)


@dataclass(frozen=True)
class Route:
    to: ipaddress.IPv4Network
    via: ipaddress.IPv4Address


@dataclass(frozen=True)
class Interface:
    name: str  # eth1, eth2, ... (or what an external host's entry says)
    network: str
    address: ipaddress.IPv4Interface
    routes: tuple[Route, ...] = ()
    tc: Conditions = NONE  # the host's own link conditions on this network (on top of the network's)
    gateway: ipaddress.IPv4Address | None = None  # its default route's gateway (lab.topology: the one-NIC network's)


@dataclass(frozen=True)
class Network:
    name: str
    subnet: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address | None = None  # the address of the router on it, if any
    bridge: str | None = None  # an existing bridge of this machine it is (docs/real-networks.md); None: the lab's own
    tc: Conditions = NONE  # link conditions on every host interface on it (docs/conditions.md)


@dataclass(frozen=True)
class Host:
    name: str
    role: str
    index: int  # position in the lab, from 0: names its veth links, numbers its management address
    interfaces: tuple[Interface, ...]
    mgmt_address: ipaddress.IPv4Interface | None  # None: external hosts, VMs (DHCP) but on a shared mgmt network
    external_ssh: str | None = None  # user@address[:port] of a host the lab does not create

    @property
    def is_external(self) -> bool:
        return self.external_ssh is not None

    @property
    def lab_address(self) -> ipaddress.IPv4Interface:
        """Its address on its first lab network."""
        return self.interfaces[0].address

    def interface_on(self, network: str) -> Interface | None:
        return next((i for i in self.interfaces if i.network == network), None)


@dataclass(frozen=True)
class Topology:
    name: str
    provider: str
    networks: tuple[Network, ...]
    hosts: tuple[Host, ...]
    chat_port: int
    mgmt_subnet: ipaddress.IPv4Network | None  # None: the provider's default (see lab.config)
    source: str = ""  # the file it came from ('' for the built-in default)
    overrides: dict[str, str] = field(default_factory=dict)  # the LAB_* settings applied on top of the file
    mgmt_network: str | None = None  # a lab network that is also the management network (the one-NIC case)

    @property
    def chat_server(self) -> Host:
        return next(h for h in self.hosts if h.role == "chat_server")

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    def network(self, name: str) -> Network:
        return next(n for n in self.networks if n.name == name)

    @property
    def lab_hosts(self) -> tuple[Host, ...]:
        """The hosts the provider creates (not the external ones)."""
        return tuple(h for h in self.hosts if not h.is_external)


@dataclass(frozen=True)
class Connection:
    """How Ansible reaches one lab host over management, and what its lab interfaces are called in the guest."""

    host: str
    address: str
    port: int = 22
    user: str = "root"
    key_file: str | None = None  # None: the lab's own key (lab.state's LabConfig.key_path)
    interface_names: dict[str, str] = field(default_factory=dict)  # network -> name; the topology's where absent


# ---- JSON: the model as the lab's record holds it (lab.state) ------------------------------------------------
def to_json(topology: Topology) -> dict[str, Any]:
    return {
        "name": topology.name,
        "provider": topology.provider,
        "source": topology.source,
        "overrides": topology.overrides,
        "chat_port": topology.chat_port,
        "management_subnet": str(topology.mgmt_subnet) if topology.mgmt_subnet else None,
        "management_network": topology.mgmt_network,
        "networks": [{"name": n.name, "subnet": str(n.subnet), "gateway": str(n.gateway) if n.gateway else None,
                      "bridge": n.bridge, "tc": conditions.to_json(n.tc)}
                     for n in topology.networks],
        "hosts": [
            {
                "name": h.name, "role": h.role, "index": h.index,
                "management_address": str(h.mgmt_address) if h.mgmt_address else None,
                "external_ssh": h.external_ssh,
                "interfaces": [
                    {"name": i.name, "network": i.network, "address": str(i.address),
                     "routes": [{"to": str(r.to), "via": str(r.via)} for r in i.routes],
                     "tc": conditions.to_json(i.tc), "gateway": str(i.gateway) if i.gateway else None}
                    for i in h.interfaces
                ],
            }
            for h in topology.hosts
        ],
    }


def from_json(data: dict[str, Any]) -> Topology:
    networks = tuple(Network(n["name"], ipaddress.IPv4Network(n["subnet"]),
                             ipaddress.IPv4Address(n["gateway"]) if n["gateway"] else None, n.get("bridge"),
                             conditions.from_json(n.get("tc"))) for n in data["networks"])
    hosts = tuple(
        Host(h["name"], h["role"], h["index"],
             tuple(Interface(i["name"], i["network"], ipaddress.IPv4Interface(i["address"]),
                             tuple(Route(ipaddress.IPv4Network(r["to"]), ipaddress.IPv4Address(r["via"]))
                                   for r in i["routes"]), conditions.from_json(i.get("tc")),
                             ipaddress.IPv4Address(i["gateway"]) if i.get("gateway") else None)
                   for i in h["interfaces"]),
             ipaddress.IPv4Interface(h["management_address"]) if h["management_address"] else None,
             h["external_ssh"])
        for h in data["hosts"]
    )
    mgmt = data.get("management_subnet")
    return Topology(data["name"], data["provider"], networks, hosts, data["chat_port"],
                    ipaddress.IPv4Network(mgmt) if mgmt else None, data.get("source", ""),
                    dict(data.get("overrides") or {}), data.get("management_network"))

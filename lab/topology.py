"""A lab described as data: a topology file (YAML) checked and resolved into one model (pure, no I/O but reading).

The resolved `Topology` (lab.model) is the one record of what a lab is: every host with its interfaces, addresses
and routes, the networks, the chat port, the provider. Providers build hosts and networks from it, the inventory is
rendered from it, the Vagrantfile reads its JSON, the graph is drawn from it. Nothing else plans addresses.

The plan, in short: a host's explicit address wins; the first router on a network takes its gateway (default: the
first address); every other host takes host number 10 + its position in the file, on the management network too
(on a lab network shared as management, it boots at 100 + its position); every host gets a route to each network
it is not on, via the first router on the way (breadth first through routers).

Reference: docs/topology.md (the file's format, every key, the plan, the one-NIC case, the errors).
"""

from __future__ import annotations

import ipaddress
import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from chat.protocol import DEFAULT_PORT as CHAT_DEFAULT_PORT
from lab import conditions
from lab.conditions import ConditionError, Conditions
from lab.errors import TopologyError
from lab.model import MGMT_INTERFACE, Host, Interface, Network, Route, Topology

ROLES = ("chat_server", "chat_client", "router", "plain")
PROVIDERS = ("auto", "nspawn", "libvirt")
HOST_PROVIDERS = ("lab", "external")
FIRST_HOST_NUMBER = 10  # the seed's plan: the first host is .10 of each subnet, the next .11, ...
TEMPORARY_HOST_NUMBER = 100  # on a shared management network: where a host boots before site.yml moves it
MAX_HOSTS = 41  # a classroom: a chat server and 40 clients (MAX_COUNT)
MAX_COUNT = 40
LAB_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]{0,7}$")
LAB_NAME_RULE = "a lab name (1-8 of a-z and 0-9, starting with a letter)"
NETWORK_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]{0,5}$")  # NAME-NETWORK is a bridge name: 15 characters at most
HOST_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,17}[a-z0-9]$|^[a-z]$")
INTERFACE_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
SSH_PATTERN = re.compile(r"^(?:(?P<user>[a-z_][a-z0-9_-]*)@)?(?P<address>[^@:\s]+)(?::(?P<port>\d{1,5}))?$")


# ---- reading a file -----------------------------------------------------------------------------------------
def read_file(path: Path) -> dict[str, Any]:
    """The YAML mapping of a topology file; TopologyError when it cannot be read or is not a mapping."""
    try:
        text = path.read_text()
    except OSError as error:
        raise TopologyError(f"{path}: cannot read it ({error.strerror or error})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise TopologyError(f"{path}: not valid YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise TopologyError(f"{path}: a topology is a mapping with 'name', 'networks' and 'hosts'")
    return data


# ---- checking the shape ---------------------------------------------------------------------------------------
class _Checker:
    """Turns every problem into one TopologyError naming the file and the key path."""

    def __init__(self, source: str) -> None:
        self.source = source or "the default topology"

    def fail(self, path: str, problem: str) -> TopologyError:
        return TopologyError(f"{self.source}: {path}: {problem}" if path else f"{self.source}: {problem}")

    def mapping(self, value: Any, path: str, allowed: set[str], required: set[str] = frozenset()) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, f"must be a mapping, not {_kind(value)}")
        for key in value:
            if not isinstance(key, str) or key not in allowed:
                raise self.fail(path, f"unknown key {key!r} (known: {', '.join(sorted(allowed))})")
        for key in sorted(required - set(value)):
            raise self.fail(path, f"the key {key!r} is missing")
        return value

    def text(self, value: Any, path: str, pattern: re.Pattern[str] | None = None, what: str = "") -> str:
        if not isinstance(value, str):
            raise self.fail(path, f"must be a string, not {_kind(value)}")
        if pattern is not None and not pattern.match(value):
            raise self.fail(path, f"{value!r} is not {what}")
        return value

    def choice(self, value: Any, path: str, choices: tuple[str, ...]) -> str:
        if value not in choices:
            raise self.fail(path, f"{value!r} is not one of {', '.join(choices)}")
        return str(value)

    def integer(self, value: Any, path: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, f"must be a whole number, not {_kind(value)}")
        if not low <= value <= high:
            raise self.fail(path, f"{value} is out of range ({low}..{high})")
        return value

    def subnet(self, value: Any, path: str) -> ipaddress.IPv4Network:
        text = self.text(value, path)
        try:
            network = ipaddress.IPv4Network(text, strict=True)
        except ValueError as error:
            raise self.fail(path, f"{text!r} is not an IPv4 subnet like 192.168.56.0/24 ({error})") from None
        if network.prefixlen > 29:
            raise self.fail(path, f"{text} is too small for a lab network (at most /29)")
        return network

    def address(self, value: Any, path: str) -> ipaddress.IPv4Address:
        text = self.text(value, path)
        try:
            return ipaddress.IPv4Address(text.split("/")[0])
        except ValueError:
            raise self.fail(path, f"{text!r} is not an IPv4 address") from None


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", int: "a number", float: "a number",
            bool: "true/false", type(None): "empty"}.get(type(value), type(value).__name__)


TOP_KEYS = {"name", "provider", "management", "chat", "networks", "hosts"}
HOST_KEYS = {"role", "networks", "count", "provider", "ssh"}


@dataclass
class _HostEntry:
    name: str
    role: str
    path: str
    networks: dict[str, tuple[ipaddress.IPv4Address | None, str | None]]  # network -> (address, interface)
    external_ssh: str | None
    tc: dict[str, Conditions] = field(default_factory=dict)  # network -> the host's own link conditions there


def _expand_hosts(check: _Checker, hosts: Any, networks: dict[str, Network]) -> list[_HostEntry]:
    if not isinstance(hosts, dict) or not hosts:
        raise check.fail("hosts", "must be a mapping of host names to their settings, with at least one host")
    entries: list[_HostEntry] = []
    for name, raw in hosts.items():
        path = f"hosts.{name}"
        check.text(name, path, HOST_NAME_PATTERN, "a host name (1-19 of a-z, 0-9 and -, starting with a letter)")
        settings = check.mapping(raw if raw is not None else {}, path, HOST_KEYS, {"role", "networks"})
        role = check.choice(settings["role"], f"{path}.role", ROLES)
        host_provider = check.choice(settings.get("provider", "lab"), f"{path}.provider", HOST_PROVIDERS)
        ssh = None
        if host_provider == "external":
            ssh = check.text(settings.get("ssh"), f"{path}.ssh", SSH_PATTERN, "user@address[:port]")
        elif "ssh" in settings:
            raise check.fail(f"{path}.ssh", "only a host with 'provider: external' has an ssh address")
        attached = _host_networks(check, settings["networks"], f"{path}.networks", networks)
        own = _own_conditions(check, settings["networks"], f"{path}.networks")
        count = settings.get("count")
        if count is None:
            entries.append(_HostEntry(name, role, path, attached, ssh, own))
            continue
        check.integer(count, f"{path}.count", 1, MAX_COUNT)
        if role == "chat_server" or ssh is not None:
            raise check.fail(f"{path}.count", "a chat server or an external host is one host: drop 'count'")
        if any(address is not None for address, _ in attached.values()):
            raise check.fail(f"{path}.networks", "hosts made with 'count' get planned addresses: drop the address")
        entries.extend(_HostEntry(f"{name}{i}", role, path, attached, None, own) for i in range(1, count + 1))
    return entries


def _host_networks(check: _Checker, value: Any, path: str, networks: dict[str, Network]
                   ) -> dict[str, tuple[ipaddress.IPv4Address | None, str | None]]:
    if isinstance(value, list):
        value = {name: None for name in value} if all(isinstance(n, str) for n in value) else value
    if not isinstance(value, dict) or not value:
        raise check.fail(path, "must name at least one network (a list of names, or name: address)")
    attached: dict[str, tuple[ipaddress.IPv4Address | None, str | None]] = {}
    for network, setting in value.items():
        where = f"{path}.{network}"
        if network not in networks:
            defined = ", ".join(networks) or "none"
            raise check.fail(path, f"network {network!r} is not defined under 'networks' (defined: {defined})")
        address, interface = None, None
        if isinstance(setting, dict):
            check.mapping(setting, where, {"address", "interface", "tc"})
            if "interface" in setting:
                interface = check.text(setting["interface"], f"{where}.interface", INTERFACE_PATTERN,
                                       "an interface name")
            setting = setting.get("address")
        if setting is not None:
            address = check.address(setting, where)
            subnet = networks[network].subnet
            if address not in subnet:
                raise check.fail(where, f"{address} is not in {network}'s subnet {subnet}")
            if address in (subnet.network_address, subnet.broadcast_address):
                raise check.fail(where, f"{address} is the network or broadcast address of {subnet}")
        attached[network] = (address, interface)
    return attached


def _conditions(check: _Checker, value: Any, path: str) -> Conditions:
    """A `tc:` mapping (docs/conditions.md), its mistakes as the topology's one-line errors."""
    try:
        return conditions.parse(value, path)
    except ConditionError as error:
        raise check.fail(error.path, error.problem) from None


def _own_conditions(check: _Checker, value: Any, path: str) -> dict[str, Conditions]:
    """A host's own `tc:` on its entries for networks (name: {tc: ...}), by network."""
    if not isinstance(value, dict):
        return {}
    return {network: _conditions(check, setting["tc"], f"{path}.{network}.tc")
            for network, setting in value.items() if isinstance(setting, dict) and "tc" in setting}


def _networks(check: _Checker, value: Any) -> dict[str, Network]:
    if not isinstance(value, dict) or not value:
        raise check.fail("networks", "must be a mapping of network names to {subnet: ...}, with at least one")
    networks: dict[str, Network] = {}
    for name, raw in value.items():
        path = f"networks.{name}"
        check.text(name, path, NETWORK_NAME_PATTERN, "a network name (1-6 of a-z and 0-9, starting with a letter)")
        settings = check.mapping(raw, path, {"subnet", "gateway", "bridge", "tc"}, {"subnet"})
        subnet = check.subnet(settings["subnet"], f"{path}.subnet")
        gateway = check.address(settings["gateway"], f"{path}.gateway") if "gateway" in settings else None
        if gateway is not None and (gateway not in subnet or gateway in (subnet.network_address,
                                                                         subnet.broadcast_address)):
            raise check.fail(f"{path}.gateway", f"{gateway} is not a host address of {subnet}")
        for other in networks.values():
            if subnet.overlaps(other.subnet):
                raise check.fail(f"{path}.subnet", f"{subnet} overlaps network {other.name!r} ({other.subnet})")
        bridge = (check.text(settings["bridge"], f"{path}.bridge", INTERFACE_PATTERN, "a bridge name")
                  if "bridge" in settings else None)
        networks[name] = Network(name, subnet, gateway, bridge, _conditions(check, settings.get("tc"), f"{path}.tc"))
    return networks


# ---- planning ---------------------------------------------------------------------------------------------------
def resolve(data: dict[str, Any], source: str = "", overrides: dict[str, str] | None = None) -> Topology:
    """Checks a topology's data and plans it: every host's interfaces, addresses and routes."""
    check = _Checker(source)
    check.mapping(data, "", TOP_KEYS, {"name", "networks", "hosts"})
    name = check.text(data["name"], "name", LAB_NAME_PATTERN, LAB_NAME_RULE)
    provider = check.choice(data.get("provider", "auto"), "provider", PROVIDERS)
    chat = check.mapping(data.get("chat") or {}, "chat", {"port"})
    chat_port = check.integer(chat.get("port", CHAT_DEFAULT_PORT), "chat.port", 1, 65535)
    management = check.mapping(data.get("management") or {}, "management", {"subnet", "network"})
    mgmt_subnet = check.subnet(management["subnet"], "management.subnet") if "subnet" in management else None
    networks = _networks(check, data["networks"])
    mgmt_network = None
    if "network" in management:
        mgmt_network = check.text(management["network"], "management.network")
        if mgmt_network not in networks:
            raise check.fail("management.network", f"network {mgmt_network!r} is not defined under 'networks'")
        if mgmt_subnet is not None:
            raise check.fail("management", "give either a subnet of its own or a lab network, not both")
        if networks[mgmt_network].bridge is not None:
            raise check.fail("management.network", f"network {mgmt_network!r} is an existing bridge (bridge: "
                             f"{networks[mgmt_network].bridge}): the management network is the lab's own")
        mgmt_subnet = networks[mgmt_network].subnet
    if mgmt_subnet is not None and mgmt_network is None:
        network = _overlapping(networks.values(), mgmt_subnet)
        if network is not None:
            raise check.fail(f"networks.{network.name}.subnet",
                             f"{network.subnet} overlaps the management subnet {mgmt_subnet}")
    entries = _expand_hosts(check, data["hosts"], networks)
    for entry in entries:
        if mgmt_network is not None and mgmt_network not in entry.networks and entry.external_ssh is None:
            raise check.fail(f"{entry.path}.networks", f"must include {mgmt_network}, the management network")
    if len(entries) > MAX_HOSTS:
        raise check.fail("hosts", f"{len(entries)} hosts: a lab has at most {MAX_HOSTS}")
    names = [entry.name for entry in entries]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise check.fail("hosts", f"host {duplicates[0]!r} is defined twice (a 'count' makes NAME1, NAME2, ...)")
    servers = [entry.name for entry in entries if entry.role == "chat_server"]
    if len(servers) != 1:
        raise check.fail("hosts", f"a lab has exactly one host with role chat_server, this one has {len(servers)}"
                         + (f" ({', '.join(servers)})" if servers else ""))
    networks = _with_gateways(networks, entries)
    addresses = _plan_addresses(check, networks, entries)
    routes = _plan_routes(networks, entries, addresses)
    hosts = []
    for index, entry in enumerate(entries):
        names = _interface_names(entry, mgmt_network)
        interfaces = tuple(
            Interface(names[network], network,
                      ipaddress.IPv4Interface(f"{addresses[entry.name, network]}/{networks[network].subnet.prefixlen}"),
                      routes.get((entry.name, network), ()), entry.tc.get(network, conditions.NONE),
                      _default_gateway(networks[network], mgmt_network, addresses[entry.name, network]))
            for network in entry.networks
        )
        hosts.append(Host(entry.name, entry.role, index, interfaces, None, entry.external_ssh))
    return Topology(name, provider, tuple(networks.values()), tuple(hosts), chat_port, mgmt_subnet, source,
                    dict(overrides or {}), mgmt_network)


def _interface_names(entry: _HostEntry, mgmt_network: str | None) -> dict[str, str]:
    """eth1, eth2, ... in the host's order (eth0 is management: on a shared management network, that one)."""
    names, position = {}, 1
    for network, (_, given) in entry.networks.items():
        if given:
            names[network] = given
        elif network == mgmt_network:
            names[network] = MGMT_INTERFACE
        else:
            names[network], position = f"eth{position}", position + 1
    return names


def _default_gateway(network: Network, mgmt_network: str | None,
                     address: ipaddress.IPv4Address) -> ipaddress.IPv4Address | None:
    """The gateway of a host's default route on `network`: the network's gateway when it is the network shared as
    management (the one-NIC case: the router that network's DHCP hands out, which the static stanza keeps), unless
    the host holds that address itself; None elsewhere (a host reaches other lab networks by its static routes)."""
    if network.name != mgmt_network or network.gateway is None or network.gateway == address:
        return None
    return network.gateway


def _with_gateways(networks: dict[str, Network], entries: list[_HostEntry]) -> dict[str, Network]:
    """A network with a router on it and no gateway set gets its first address as the gateway."""
    result = {}
    for name, network in networks.items():
        routed = any(entry.role == "router" and name in entry.networks for entry in entries)
        gateway = network.gateway
        if gateway is None and routed:
            gateway = network.subnet.network_address + 1
        result[name] = replace(network, gateway=gateway)
    return result


def _plan_addresses(check: _Checker, networks: dict[str, Network], entries: list[_HostEntry]
                    ) -> dict[tuple[str, str], ipaddress.IPv4Address]:
    addresses: dict[tuple[str, str], ipaddress.IPv4Address] = {}
    owners: dict[ipaddress.IPv4Address, str] = {}
    routers_on: dict[str, list[str]] = {}
    for entry in entries:  # explicit addresses first: a planned address that collides with one names both hosts
        for network, (address, _) in entry.networks.items():
            if entry.role == "router":
                routers_on.setdefault(network, []).append(entry.name)
            if address is not None:
                if address in owners:
                    raise check.fail(f"{entry.path}.networks.{network}",
                                     f"{address} is already {owners[address]}'s address")
                addresses[entry.name, network], owners[address] = address, entry.name
    for network, routers in routers_on.items():
        gateway = networks[network].gateway
        first = routers[0]
        if (first, network) not in addresses and gateway is not None:
            if gateway in owners:
                raise check.fail(f"networks.{network}.gateway", f"{gateway} is already {owners[gateway]}'s address")
            addresses[first, network], owners[gateway] = gateway, first
    for index, entry in enumerate(entries):
        for network in entry.networks:
            if (entry.name, network) in addresses:
                continue
            subnet = networks[network].subnet
            address = _numbered(subnet, FIRST_HOST_NUMBER + index)
            if address is None:
                raise check.fail(f"{entry.path}.networks", f"{network}'s subnet {subnet} is too small for host "
                                 f"number {FIRST_HOST_NUMBER + index}: give {entry.name} an address")
            if address in owners:
                raise check.fail(f"{entry.path}.networks.{network}",
                                 f"the planned address {address} is already {owners[address]}'s")
            addresses[entry.name, network], owners[address] = address, entry.name
    return addresses


def _numbered(subnet: ipaddress.IPv4Network, number: int) -> ipaddress.IPv4Address | None:
    """Host number `number` of `subnet`, or None when the subnet has no such host address."""
    address = subnet.network_address + number
    return address if address in subnet and address != subnet.broadcast_address else None


def _overlapping(networks: Iterable[Network], subnet: ipaddress.IPv4Network) -> Network | None:
    """The first of `networks` that overlaps `subnet`, if any."""
    return next((network for network in networks if network.subnet.overlaps(subnet)), None)


def _plan_routes(networks: dict[str, Network], entries: list[_HostEntry],
                 addresses: dict[tuple[str, str], ipaddress.IPv4Address]) -> dict[tuple[str, str], tuple[Route, ...]]:
    """For every host and every network it is not on: a route via the first router on the way, breadth first."""
    routers = [entry for entry in entries if entry.role == "router"]
    routes: dict[tuple[str, str], list[Route]] = {}
    for entry in entries:
        reached = set(entry.networks)
        # network -> (the network of this host the path leaves from, the router address on it)
        first_hop: dict[str, tuple[str, ipaddress.IPv4Address]] = {}
        queue = deque((network, None) for network in entry.networks)
        while queue:
            network, hop = queue.popleft()
            for router in routers:
                if router.name == entry.name or network not in router.networks:
                    continue
                next_hop = hop or (network, addresses[router.name, network])
                for onward in router.networks:
                    if onward not in reached:
                        reached.add(onward)
                        first_hop[onward] = next_hop
                        queue.append((onward, next_hop))
        for target in networks:  # in the file's order
            if target in first_hop:
                leave, via = first_hop[target]
                routes.setdefault((entry.name, leave), []).append(Route(networks[target].subnet, via))
    return {key: tuple(value) for key, value in routes.items()}


def machine_mgmt_address(topology: Topology) -> ipaddress.IPv4Interface:
    """This machine's address on the management network: its first address, or its last one when the network is
    one of the lab's (where the first is a router's)."""
    subnet = topology.mgmt_subnet
    assert subnet is not None, "management subnet not planned yet (with_management)"
    address = subnet.broadcast_address - 1 if topology.mgmt_network else subnet.network_address + 1
    return ipaddress.IPv4Interface(f"{address}/{subnet.prefixlen}")


def with_management(topology: Topology, mgmt_subnet: ipaddress.IPv4Network, plan_hosts: bool = True) -> Topology:
    """The topology with its management subnet and, with `plan_hosts`, each lab host's management address in it
    (host number 10 + index; on a shared management network, the temporary address 100 + index). Without
    `plan_hosts` (VMs: libvirt's DHCP gives the addresses) the hosts have none."""
    shared = topology.mgmt_network is not None
    if shared:
        mgmt_subnet = topology.network(topology.mgmt_network or "").subnet
    number = TEMPORARY_HOST_NUMBER if shared else FIRST_HOST_NUMBER
    taken = {i.address.ip: h.name for h in topology.hosts for i in h.interfaces}
    network = None if shared else _overlapping(topology.networks, mgmt_subnet)
    if network is not None:
        raise TopologyError(f"{topology.source or 'the default topology'}: networks.{network.name}.subnet: "
                            f"{network.subnet} overlaps the management subnet {mgmt_subnet} "
                            f"(set LAB_MGMT_SUBNET or management.subnet)")
    planned = replace(topology, mgmt_subnet=mgmt_subnet)
    machine = machine_mgmt_address(planned).ip
    if shared and machine in taken:
        raise TopologyError(f"{taken[machine]}'s static address {machine} is this machine's address on the "
                            f"management network: give {taken[machine]} another one")
    hosts = []
    for host in topology.hosts:
        mgmt = None
        if plan_hosts and not host.is_external:
            address = _numbered(mgmt_subnet, number + host.index)
            if address is None:
                raise TopologyError(f"the management subnet {mgmt_subnet} is too small for {len(topology.hosts)} "
                                    f"hosts")
            if shared and address in taken:
                raise TopologyError(f"{host.name}'s temporary address {address} on the management network is "
                                    f"{taken[address]}'s static address: give {taken[address]} another one")
            mgmt = ipaddress.IPv4Interface(f"{address}/{mgmt_subnet.prefixlen}")
        hosts.append(replace(host, mgmt_address=mgmt))
    return replace(planned, hosts=tuple(hosts))

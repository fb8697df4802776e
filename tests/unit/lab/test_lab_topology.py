"""Topology files: the planner's addresses and routes, and one clear line for every mistake in a file."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
import yaml
from repo_paths import REPO

from lab import topology as topo
from lab.errors import TopologyError
from lab.model import Route, Topology, from_json, to_json

LABS = REPO / "labs"


def resolve(text: str) -> Topology:
    return topo.resolve(yaml.safe_load(text), "test.yml")


def addresses(topology: Topology) -> dict[str, list[str]]:
    return {h.name: [f"{i.name} {i.address}" for i in h.interfaces] for h in topology.hosts}


def test_the_seed_lab_is_a_server_at_10_and_a_client_at_11() -> None:
    seed = topo.resolve(topo.read_file(LABS / "seed.yml"), "labs/seed.yml")
    assert seed.name == "chatlab" and seed.chat_port == 5000 and seed.provider == "auto"
    assert [(h.name, h.role) for h in seed.hosts] == [("server", "chat_server"), ("client1", "chat_client")]
    assert addresses(seed) == {"server": ["eth1 192.168.56.10/24"], "client1": ["eth1 192.168.56.11/24"]}
    assert all(not i.routes for h in seed.hosts for i in h.interfaces)


def test_routed_lab_puts_the_router_on_both_lans_and_routes_through_it() -> None:
    routed = topo.resolve(topo.read_file(LABS / "routed.yml"), "labs/routed.yml")
    assert addresses(routed) == {
        "server": ["eth1 192.168.56.10/24"],
        "router": ["eth1 192.168.56.1/24", "eth2 192.168.57.1/24"],
        "client1": ["eth1 192.168.57.12/24"],
        "client2": ["eth1 192.168.57.13/24"],
    }
    server, router, client = routed.host("server"), routed.host("router"), routed.host("client1")
    assert server.interfaces[0].routes == (Route(ipaddress.IPv4Network("192.168.57.0/24"),
                                                      ipaddress.IPv4Address("192.168.56.1")),)
    assert client.interfaces[0].routes == (Route(ipaddress.IPv4Network("192.168.56.0/24"),
                                                      ipaddress.IPv4Address("192.168.57.1")),)
    assert all(not i.routes for i in router.interfaces)
    assert routed.network("lana").gateway == ipaddress.IPv4Address("192.168.56.1")


def test_two_routers_in_a_row_give_routes_via_the_first_hop() -> None:
    chain = resolve("""
name: chain
networks: {a: {subnet: 10.1.0.0/24}, b: {subnet: 10.2.0.0/24, gateway: 10.2.0.254}, c: {subnet: 10.3.0.0/24}}
hosts:
  server: {role: chat_server, networks: [a]}
  r1: {role: router, networks: [a, b]}
  r2: {role: router, networks: {b: 10.2.0.2, c: null}}
  client: {role: chat_client, networks: [c]}
""")
    assert addresses(chain)["r1"] == ["eth1 10.1.0.1/24", "eth2 10.2.0.254/24"]
    assert addresses(chain)["r2"] == ["eth1 10.2.0.2/24", "eth2 10.3.0.1/24"]
    server_routes = {(str(r.to), str(r.via)) for r in chain.host("server").interfaces[0].routes}
    assert server_routes == {("10.2.0.0/24", "10.1.0.1"), ("10.3.0.0/24", "10.1.0.1")}
    assert {(str(r.to), str(r.via)) for r in chain.host("r1").interfaces[1].routes} == {("10.3.0.0/24", "10.2.0.2")}
    assert {(str(r.to), str(r.via)) for r in chain.host("client").interfaces[0].routes} == {
        ("10.1.0.0/24", "10.3.0.1"), ("10.2.0.0/24", "10.3.0.1")}


def test_classroom_has_twenty_clients_numbered_after_the_teacher() -> None:
    room = topo.resolve(topo.read_file(LABS / "classroom.yml"), "labs/classroom.yml")
    assert len(room.hosts) == 21
    assert room.hosts[-1].name == "pc20" and str(room.hosts[-1].lab_address) == "10.20.0.30/24"


def test_explicit_addresses_are_kept() -> None:
    lab = resolve("""
name: mixed
networks: {lan: {subnet: 192.168.9.0/24}}
hosts:
  server: {role: chat_server, networks: {lan: 192.168.9.200}}
  pc: {role: chat_client, networks: [lan], count: 2}
  nas: {role: plain, networks: {lan: {address: 192.168.9.50, interface: enp1s0}}}
""")
    assert addresses(lab) == {"server": ["eth1 192.168.9.200/24"], "pc1": ["eth1 192.168.9.11/24"],
                              "pc2": ["eth1 192.168.9.12/24"], "nas": ["enp1s0 192.168.9.50/24"]}


def test_management_addresses_follow_the_hosts_numbers() -> None:
    seed = topo.resolve(topo.read_file(LABS / "seed.yml"), "labs/seed.yml")
    managed = topo.with_management(seed, ipaddress.IPv4Network("10.199.56.0/24"))
    assert [str(h.mgmt_address) for h in managed.hosts] == ["10.199.56.10/24", "10.199.56.11/24"]
    with pytest.raises(TopologyError, match="overlaps the management subnet"):
        topo.with_management(seed, ipaddress.IPv4Network("192.168.56.0/25"))


def test_external_hosts_are_in_the_topology_but_get_no_management_address() -> None:
    lab = resolve("""
name: real
networks: {lan: {subnet: 192.168.0.0/24}}
hosts:
  server: {role: chat_server, networks: [lan]}
  laptop: {role: chat_client, networks: {lan: {address: 192.168.0.42, interface: wlan0}}, provider: external,
           ssh: admin@192.0.2.7:2222}
""")
    managed = topo.with_management(lab, ipaddress.IPv4Network("10.199.56.0/24"))
    laptop = managed.host("laptop")
    assert laptop.is_external and laptop.mgmt_address is None and laptop.external_ssh == "admin@192.0.2.7:2222"
    assert [h.name for h in managed.lab_hosts] == ["server"]


def test_one_nic_lab_manages_hosts_over_their_lan_from_temporary_addresses() -> None:
    onenic = topo.resolve(topo.read_file(LABS / "single-nic.yml"), "labs/single-nic.yml")
    assert onenic.mgmt_network == "lan" and str(onenic.mgmt_subnet) == "192.168.60.0/24"
    assert addresses(onenic) == {"server": ["eth0 192.168.60.10/24"], "client1": ["eth0 192.168.60.11/24"]}
    managed = topo.with_management(onenic, ipaddress.IPv4Network("10.199.56.0/24"))  # the lab network wins
    assert [str(h.mgmt_address) for h in managed.hosts] == ["192.168.60.100/24", "192.168.60.101/24"]
    assert from_json(to_json(managed)) == managed


def test_one_nic_hosts_default_route_is_their_networks_gateway_unless_they_hold_it() -> None:
    onenic = topo.resolve(topo.read_file(LABS / "single-nic.yml"), "labs/single-nic.yml")
    assert [str(h.interfaces[0].gateway) for h in onenic.hosts] == ["192.168.60.1", "192.168.60.1"]
    assert from_json(to_json(onenic)) == onenic
    data = topo.read_file(LABS / "single-nic.yml")
    data["hosts"]["server"]["networks"] = {"lan": "192.168.60.1"}  # the server is the LAN's router itself
    holder = topo.resolve(data, "labs/single-nic.yml")
    assert [h.interfaces[0].gateway for h in holder.hosts] == [None, ipaddress.IPv4Address("192.168.60.1")]
    del data["networks"]["lan"]["gateway"]
    assert [h.interfaces[0].gateway for h in topo.resolve(data, "labs/single-nic.yml").hosts] == [None, None]


def test_lab_networks_beside_management_give_no_default_route() -> None:
    routed = topo.resolve(topo.read_file(LABS / "routed.yml"), "labs/routed.yml")
    assert all(n.gateway for n in routed.networks)  # the router's addresses
    assert [i for h in routed.hosts for i in h.interfaces if i.gateway] == []  # static routes instead


def test_one_nic_lab_refuses_a_host_at_this_machines_management_address() -> None:
    onenic = topo.resolve(topo.read_file(LABS / "single-nic.yml"), "labs/single-nic.yml")
    managed = topo.with_management(onenic, ipaddress.IPv4Network("10.199.56.0/24"))
    assert str(topo.machine_mgmt_address(managed)) == "192.168.60.254/24"  # the last: the first is a router's
    data = topo.read_file(LABS / "single-nic.yml")
    data["hosts"]["server"]["networks"] = {"lan": "192.168.60.254"}
    clash = topo.resolve(data, "labs/single-nic.yml")
    with pytest.raises(TopologyError, match=r"server's static address 192\.168\.60\.254 is this machine's address"):
        topo.with_management(clash, ipaddress.IPv4Network("10.199.56.0/24"))


def test_one_nic_lab_hosts_must_all_be_on_the_management_network() -> None:
    with pytest.raises(TopologyError, match=r"hosts\.client\.networks: must include lan, the management network"):
        resolve("""
name: onenic
management: {network: lan}
networks: {lan: {subnet: 192.168.60.0/24}, other: {subnet: 192.168.61.0/24}}
hosts: {server: {role: chat_server, networks: [lan]}, client: {role: chat_client, networks: [other], count: 1}}
""")


def test_json_round_trip_is_the_same_topology() -> None:
    routed = topo.resolve(topo.read_file(LABS / "routed.yml"), "labs/routed.yml", {"LAB_NAME": "r2"})
    managed = topo.with_management(routed, ipaddress.IPv4Network("10.199.67.0/24"))
    assert from_json(to_json(managed)) == managed


GOOD = {"name": "t", "networks": {"lan": {"subnet": "192.168.56.0/24"}},
        "hosts": {"server": {"role": "chat_server", "networks": ["lan"]},
                  "client": {"role": "chat_client", "networks": ["lan"], "count": 1}}}


def changed(**edits: Any) -> dict[str, Any]:
    data = yaml.safe_load(yaml.safe_dump(GOOD, sort_keys=False))
    for path, value in edits.items():
        *parents, last = path.split("__")
        node = data
        for key in parents:
            node = node[key]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (changed(colour="blue"), "test.yml: unknown key 'colour'"),
        (changed(hosts__server__colour="blue"), "test.yml: hosts.server: unknown key 'colour'"),
        (changed(hosts__server__networks=["lanx"]),
         "test.yml: hosts.server.networks: network 'lanx' is not defined under 'networks' (defined: lan)"),
        (changed(hosts__server__networks={"lan": "192.168.56.11"}),
         "test.yml: hosts.client.networks.lan: the planned address 192.168.56.11 is already server's"),
        (changed(hosts__nas={"role": "plain", "networks": {"lan": "192.168.56.10"}}),
         "test.yml: hosts.server.networks.lan: the planned address 192.168.56.10 is already nas's"),
        (changed(hosts__server__networks={"lan": "10.0.0.1"}),
         "test.yml: hosts.server.networks.lan: 10.0.0.1 is not in lan's subnet 192.168.56.0/24"),
        (changed(networks__other={"subnet": "192.168.56.128/25"}),
         "test.yml: networks.other.subnet: 192.168.56.128/25 overlaps network 'lan' (192.168.56.0/24)"),
        (changed(management={"subnet": "192.168.0.0/16"}),
         "test.yml: networks.lan.subnet: 192.168.56.0/24 overlaps the management subnet 192.168.0.0/16"),
        (changed(hosts__client__role="chat_server", hosts__client__count=None),
         "test.yml: hosts: a lab has exactly one host with role chat_server, this one has 2 (server, client)"),
        (changed(hosts__server__role="plain"), "a lab has exactly one host with role chat_server, this one has 0"),
        (changed(name="a-very-long-name"), "test.yml: name: 'a-very-long-name' is not a lab name"),
        (changed(networks__backbone={"subnet": "10.9.0.0/24"}), "networks.backbone: 'backbone' is not a network name"),
        (changed(hosts__server__networks=[]), "test.yml: hosts.server.networks: must name at least one network"),
        (changed(hosts__server__networks=None), "test.yml: hosts.server: the key 'networks' is missing"),
        (changed(hosts__server__role="db"), "hosts.server.role: 'db' is not one of chat_server, chat_client"),
        (changed(hosts__client__count=0), "hosts.client.count: 0 is out of range (1..40)"),
        (changed(chat={"port": 70000}), "test.yml: chat.port: 70000 is out of range (1..65535)"),
        (changed(networks__lan__subnet="192.168.56.1/24"), "networks.lan.subnet: '192.168.56.1/24' is not an IPv4"),
        (changed(networks__lan__subnet="192.168.56.0/30"), "networks.lan.subnet: 192.168.56.0/30 is too small"),
        (changed(networks__lan__subnet="192.168.56.0/28", hosts__client__count=5),
         "hosts.client.networks: lan's subnet 192.168.56.0/28 is too small for host number 15"),
        (changed(hosts={}), "test.yml: hosts: must be a mapping of host names"),
        (changed(hosts__Server={"role": "plain", "networks": ["lan"]}), "hosts.Server: 'Server' is not a host name"),
        (changed(hosts__server__ssh="me@host"), "hosts.server.ssh: only a host with 'provider: external'"),
        (changed(hosts__client__provider="external"), "hosts.client.ssh: must be a string, not empty"),
        (changed(provider="docker"), "test.yml: provider: 'docker' is not one of auto, nspawn, libvirt"),
    ],
)
def test_a_bad_topology_is_one_line_naming_the_key(data: dict[str, Any], message: str) -> None:
    with pytest.raises(TopologyError) as error:
        topo.resolve(data, "test.yml")
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_file_that_is_not_yaml_or_not_a_mapping_is_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(TopologyError, match=r"broken.yml: not valid YAML at line 2"):
        topo.read_file(broken)
    listing = tmp_path / "list.yml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(TopologyError, match=r"list\.yml: a topology is a mapping"):
        topo.read_file(listing)
    with pytest.raises(TopologyError, match=r"missing\.yml: cannot read it"):
        topo.read_file(tmp_path / "missing.yml")


def test_a_network_on_an_existing_bridge_keeps_its_name_through_the_json_record() -> None:
    lab = resolve("name: lanchat\nnetworks: {lan: {subnet: 192.168.182.0/24, bridge: rnbr0}}\n"
                  "hosts: {server: {role: chat_server, networks: [lan]}}\n")
    assert lab.network("lan").bridge == "rnbr0"
    assert from_json(to_json(lab)).network("lan").bridge == "rnbr0"
    assert resolve("name: x\nnetworks: {lan: {subnet: 10.9.0.0/24}}\n"
                   "hosts: {server: {role: chat_server, networks: [lan]}}\n").network("lan").bridge is None


@pytest.mark.parametrize(("text", "problem"), [
    ("name: x\nnetworks: {lan: {subnet: 10.9.0.0/24, bridge: 'br 0'}}\n"
     "hosts: {s: {role: chat_server, networks: [lan]}}",
     "test.yml: networks.lan.bridge: 'br 0' is not a bridge name"),
    ("name: x\nmanagement: {network: lan}\nnetworks: {lan: {subnet: 10.9.0.0/24, bridge: br0}}\n"
     "hosts: {s: {role: chat_server, networks: [lan]}}",
     "test.yml: management.network: network 'lan' is an existing bridge (bridge: br0): the management network is "
     "the lab's own"),
])
def test_a_bridge_that_cannot_be_is_one_line(text: str, problem: str) -> None:
    with pytest.raises(TopologyError) as error:
        resolve(text)
    assert str(error.value) == problem

"""Link conditions in a topology: read and checked with the file's other keys, kept in its record, in force and
changed at runtime (lab tc set/reset), applied per interface, added up along a path through routers."""

from __future__ import annotations

import ipaddress

import pytest
import yaml
from repo_paths import REPO

from lab import links
from lab import topology as topo
from lab.conditions import NONE, ConditionError, Conditions
from lab.errors import TopologyError
from lab.model import Topology, from_json, to_json
from lab.outputs.graph import to_dot

ROUTED = """
name: routed
networks:
  lana: {subnet: 192.168.56.0/24, tc: {delay: 10, loss: 1}}
  lanb: {subnet: 192.168.57.0/24, tc: {delay: 30, rate: 2000}}
hosts:
  server: {role: chat_server, networks: [lana]}
  router: {role: router, networks: [lana, lanb]}
  client: {role: chat_client, networks: {lanb: {tc: {delay: 5}}}, count: 2}
"""


def resolve(text: str, source: str = "labs/x.yml") -> Topology:
    return topo.resolve(yaml.safe_load(text), source)


def test_a_network_and_a_hosts_entry_carry_their_conditions() -> None:
    topology = resolve(ROUTED)
    assert topology.network("lanb").tc == Conditions(delay=30, rate=2000)
    assert topology.host("client2").interface_on("lanb").tc == Conditions(delay=5)  # count copies the entry
    assert topology.host("router").interface_on("lanb").tc == NONE
    assert topology.network("lana").gateway is not None and topology.network("lana").tc.loss == 1


@pytest.mark.parametrize(("before", "after", "message"), [
    ("tc: {delay: 30, rate: 2000}", "tc: {jitter: 3}",
     "labs/x.yml: networks.lanb.tc.jitter: jitter needs delay (give delay too)"),
    ("tc: {delay: 30, rate: 2000}", "tc: {loss: 150}", "labs/x.yml: networks.lanb.tc.loss: 150 % is over 100 %"),
    ("tc: {delay: 30, rate: 2000}", "tc: {delay: 30ms}",
     "labs/x.yml: networks.lanb.tc.delay: must be a number (ms), not a string"),
    ("{lanb: {tc: {delay: 5}}}", "{lanb: {tc: {lag: 5}}}",
     "labs/x.yml: hosts.client.networks.lanb.tc: unknown condition 'lag' (known: delay, jitter, loss, corrupt, "
     "duplicate, reorder, rate)"),
])
def test_a_bad_condition_is_the_topologys_one_line_error(before: str, after: str, message: str) -> None:
    assert before in ROUTED
    with pytest.raises(TopologyError) as raised:
        resolve(ROUTED.replace(before, after))
    assert str(raised.value) == message


def test_the_record_keeps_the_conditions() -> None:
    topology = resolve(ROUTED)
    again = from_json(to_json(topology))
    assert again.network("lanb").tc == topology.network("lanb").tc
    assert again.host("client1").interface_on("lanb").tc == Conditions(delay=5)
    assert to_json(topology)["networks"][0]["tc"] == {"delay": 10.0, "loss": 1.0}


def test_a_record_written_before_conditions_existed_reads_as_none() -> None:
    data = to_json(resolve(ROUTED))
    for network in data["networks"]:
        del network["tc"]
    for host in data["hosts"]:
        for interface in host["interfaces"]:
            del interface["tc"]
    assert not from_json(data).network("lanb").tc


def test_every_lab_file_still_reads() -> None:
    for path in sorted((REPO / "labs").glob("*.yml")):
        topo.resolve(topo.read_file(path), str(path))


def test_through_the_router_the_delays_of_both_networks_and_the_hosts_own_add_up() -> None:
    topology = resolve(ROUTED)
    in_force = links.from_topology(topology)
    server = topology.host("server").lab_address.ip
    client = topology.host("client1").lab_address.ip
    there = links.path(topology, in_force, "client1", server)
    back = links.path(topology, in_force, "server", client)
    assert [c.delay for c in there] == [35, 10] and [c.delay for c in back] == [10, 35]
    assert sum(c.delay for c in there + back) == 90  # 2 x (10 + 30 + 5)


def test_set_changes_only_the_keys_given_and_reset_puts_the_topologys_back() -> None:
    topology = resolve(ROUTED)
    planned = links.from_topology(topology)
    cut = links.set_target(planned, topology, "client1:lanb", ["loss=100"])
    assert cut.own_on("client1", "lanb") == Conditions(delay=5, loss=100)
    slow = links.set_target(cut, topology, "lanb", ["delay=80"])
    assert slow.network("lanb") == Conditions(delay=80, rate=2000)
    assert links.changes(planned, slow) == ["lanb: delay 30 ms, rate 2000 kbit/s -> delay 80 ms, rate 2000 kbit/s",
                                            "client1:lanb: delay 5 ms -> delay 5 ms, loss 100 %"]
    assert links.reset_target(slow, topology, "client1:lanb").own_on("client1", "lanb") == Conditions(delay=5)
    assert links.reset_target(slow, topology, "lanb") == planned  # a network: and every host's interface on it
    assert links.reset_target(slow, topology, None) == planned


@pytest.mark.parametrize(("target", "message"), [
    ("lanc", "lanc: no network 'lanc' in this lab (networks: lana, lanb; a host's interface: HOST:NETWORK)"),
    ("server:lanb", "server:lanb: no host 'server' on lanb (on it: router, client1, client2)"),
])
def test_an_unknown_target_names_what_there_is(target: str, message: str) -> None:
    topology = resolve(ROUTED)
    with pytest.raises(ConditionError) as raised:
        links.set_target(links.from_topology(topology), topology, target, ["loss=1"])
    assert str(raised.value) == message


def test_every_interface_gets_its_port_so_that_applying_nothing_clears_it() -> None:
    topology = resolve(ROUTED)
    ports = links.ports(topology, links.from_topology(topology), lambda host, position: f"v{host.index}n{position}")
    assert [p.device for p in ports["router"]] == ["eth1", "eth2"]
    client = ports["client1"][0]
    assert client.shaping.egress == Conditions(delay=35, rate=2000) and client.shaping.ingress == Conditions(delay=5)
    assert client.peer == "v2n1"
    assert not links.ports(topology, links.InForce({}), lambda h, p: None)["server"][0].shaping


def test_the_graph_writes_the_conditions_on_the_links() -> None:
    dot = to_dot(resolve(ROUTED))
    assert "tc: delay 30 ms, rate 2000 kbit/s" in dot
    assert "own delay 5 ms" in dot


def test_the_record_of_conditions_in_force_reads_back() -> None:
    topology = resolve(ROUTED)
    changed = links.set_target(links.from_topology(topology), topology, "client2:lanb", ["rate=500"])
    assert links.from_record(links.to_json(changed), topology) == changed
    assert ipaddress.IPv4Address("192.168.57.1") == topology.network("lanb").gateway

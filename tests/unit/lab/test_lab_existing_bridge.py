"""A lab network on an existing bridge (lab.plumbing.existing_bridge): refused in one line when the bridge is missing,
not a bridge or down; a planned address that this machine holds or that answers there is refused. On real links of
the test's own: a bridge rnbrXXXX and a veth into a namespace that holds an address (nothing leaves them)."""

from __future__ import annotations

import ipaddress
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from netns_helpers import Netns

from lab.errors import LabError
from lab.model import Host, Interface, Network
from lab.plumbing.existing_bridge import bridge_problem, machine_addresses, require_usable, taken_addresses

TAKEN, FREE = ipaddress.IPv4Address("192.168.185.20"), ipaddress.IPv4Address("192.168.185.21")


def ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True)


@pytest.fixture
def bridge(netns: Netns) -> Iterator[str]:
    """A bridge of the test's own with the namespace's veth as its port; the namespace holds TAKEN."""
    name = f"rnbr{uuid.uuid4().hex[:6]}"
    ip("link", "add", name, "type", "bridge")
    try:
        ip("link", "set", netns.host_end, "master", name)
        netns.run("ip", "addr", "add", f"{TAKEN}/24", "dev", netns.iface)
        netns.run("ip", "link", "set", netns.iface, "up")
        yield name
    finally:
        subprocess.run(["ip", "link", "del", name], check=False)


def test_a_missing_bridge_or_a_link_that_is_not_one_is_refused_in_one_line(netns: Netns) -> None:
    assert bridge_problem("rnnosuch0", "lan") == (
        "network lan: bridge rnnosuch0 does not exist on this machine (the lab uses an existing bridge as it is and "
        "never creates one: make it first, see docs/real-networks.md)")
    assert bridge_problem(netns.host_end, "lan").startswith(f"network lan: {netns.host_end} is not a bridge")


def test_a_bridge_that_is_down_is_refused_then_taken_once_up(bridge: str) -> None:
    assert bridge_problem(bridge, "lan") == f"network lan: bridge {bridge} is down ('ip link set {bridge} up')"
    ip("link", "set", bridge, "up")
    assert bridge_problem(bridge, "lan") is None


def test_a_planned_address_that_answers_on_the_bridge_is_refused(bridge: str) -> None:
    ip("link", "set", bridge, "up")
    problems = taken_addresses(bridge, [("server", TAKEN), ("client1", FREE)], own=set())
    assert len(problems) == 1 and problems[0].startswith(f"server: {TAKEN} already answers on bridge {bridge} (from ")


def test_this_machines_own_address_on_the_bridge_is_refused_without_a_probe() -> None:
    own = machine_addresses("7: br0    inet 192.168.185.2/24 brd 192.168.185.255 scope global br0\\n")
    assert own == {ipaddress.IPv4Address("192.168.185.2")}

    def never(_bridge: str, _address: ipaddress.IPv4Address) -> str | None:
        raise AssertionError("probed an address this machine holds")

    assert taken_addresses("br0", [("server", ipaddress.IPv4Address("192.168.185.2"))], own, probe=never) == [
        "server: 192.168.185.2 is this machine's own address on bridge br0: give server another address"]


def test_before_hosts_boot_a_missing_bridge_or_a_taken_address_stops_the_lab_in_one_line(bridge: str) -> None:
    ip("link", "set", bridge, "up")
    lan = Network("lan", ipaddress.IPv4Network("192.168.185.0/24"), bridge=bridge)
    server = Host("server", "chat_server", 0, (Interface("eth1", "lan", ipaddress.IPv4Interface(f"{TAKEN}/24")),),
                  None)
    with pytest.raises(LabError, match=rf"^server: {TAKEN} already answers on bridge {bridge} \(from "):
        require_usable([lan], [server])
    require_usable([lan], [])  # the bridge alone is fine
    with pytest.raises(LabError, match=r"^network lan: bridge rnnosuch0 does not exist"):
        require_usable([Network("lan", lan.subnet, bridge="rnnosuch0")], [server])

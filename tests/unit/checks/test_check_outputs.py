"""The cross-host checks' readers (tests/infra/outputs.py) on output captured from correct machines.

Each case pairs the old check (worded or ordered exactly as one machine printed it) with the reader that replaced
it: the old one fails on this correct output, the reader gets its meaning. Captures (captured/): the refusal and
the warning from real ansible-playbook 2.19 runs with the project's ansible.cfg (the refusal's message is the
static_ip module's wording with the default-route reason first, as on a host that got eth0 by DHCP); the `ip addr`
lines from a network namespace where an address was removed and added again (as a rollback does); the netconfig
log and the ping reply written in the format netconfig's rollback script and iputils print.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from infra.outputs import (
    addresses,
    failure_messages,
    listed,
    refusal,
    rollback_ended_with,
    room_names,
    routers_crossed,
    stanza_address,
    task_result,
)

from chat import protocol

CAPTURED = Path(__file__).parent / "captured"


def captured(name: str) -> str:
    return (CAPTURED / name).read_text()


def test_a_refusal_that_gives_the_default_route_first_still_names_the_ssh_address() -> None:
    output = captured("refusal-default-route-first.txt")
    flat = " ".join(output.split())
    old_check = "msg: 'refusing to change eth0: eth0 holds 10.199.82.10, the address of this SSH " in flat
    assert not old_check
    found = refusal(failure_messages(output)["server1"])
    assert found is not None and found.interfaces == ("eth0",)
    assert found.names_address("eth0", "10.199.82.10")
    assert not found.names_address("eth0", "10.199.82.1") and not found.names_address("eth1", "10.199.82.10")


def test_a_refusal_by_the_address_ansible_connects_to_counts_as_naming_it() -> None:
    found = refusal("refusing to change eth0: eth0 holds 10.199.82.10, the address Ansible connects to (a "
                    "confirm_timeout above 0 for a confirmed change, or force for an unconfirmed one)")
    assert found is not None and found.names_address("eth0", "10.199.82.10")
    assert refusal("eth0: 10.199.82.51 not reachable from here") is None


def test_a_failure_result_on_one_json_line_is_read_too() -> None:
    output = 'fatal: [client1]: FAILED! => {"changed": false, "msg": "refusing to change eth1: eth1 holds 1.2.3.4"}'
    assert failure_messages(output) == {"client1": "refusing to change eth1: eth1 holds 1.2.3.4"}


def test_address_and_netmask_is_the_same_address_as_address_slash_prefix() -> None:
    text = captured("interfaces-address-netmask")
    old_check = "address 192.168.182.10/24" in text
    assert not old_check
    assert stanza_address(text, "eth1") == ipaddress.IPv4Interface("192.168.182.10/24")
    assert stanza_address(text, "eth0") is None
    assert stanza_address("iface eth1 inet static\n    netmask 255.255.255.0\n", "eth1") is None  # no address


def test_a_task_result_is_found_with_a_warning_between_it_and_its_banner() -> None:
    output = captured("task-warning-between.txt")
    old_check = re.search(r"TASK \[static_ip : Confirm the change.*\n(changed|ok): \[server1", output)
    assert old_check is None
    assert task_result(output, "static_ip : Confirm the change", "server1") == "changed"
    assert task_result(output, "static_ip : Confirm the change", "server2") is None
    assert task_result(output, "static_ip : Apply", "server1") is None


def test_addresses_compare_as_sets_whatever_their_order() -> None:
    before, after = captured("ip-addr-before.txt"), captured("ip-addr-after-rollback.txt")
    old_check = before == after
    assert not old_check
    assert addresses(before) == addresses(after) == {
        ("v1", ipaddress.IPv4Interface("10.199.82.10/24")), ("v1", ipaddress.IPv4Interface("192.168.182.10/24"))}
    assert addresses(before) != addresses(before.replace("10.199.82.10/24", "10.199.82.10/32"))


def test_the_rollback_log_may_have_an_ifup_failure_before_its_last_line() -> None:
    log = captured("rollback-ifup-failed.log")
    lines = log.splitlines()
    old_check = (lines[-2].endswith(" netconfig: rollback (timer): putting back eth0 10.199.82.10/24")
                 and lines[-1].endswith(" netconfig: rolled back: eth0 10.199.82.10/24"))
    assert not old_check
    assert rollback_ended_with(log, "eth0", "10.199.82.10/24")
    assert rollback_ended_with(log, "eth0", "10.199.82.10/24", why="timer")
    assert not rollback_ended_with(log, "eth0", "10.199.82.10/24", why="requested")
    assert not rollback_ended_with(log, "eth0", "10.199.82.51/32")
    failed = log.replace("netconfig: rolled back: eth0 10.199.82.10/24",
                         "netconfig: ROLLBACK FAILED: missing eth0:10.199.82.10/24")
    assert not rollback_ended_with(failed, "eth0", "10.199.82.10/24")


def test_a_rooms_answer_split_over_numbered_lines_is_one_answer() -> None:
    rooms = [(f"#room{i:03}", 1) for i in range(80)]
    reply = protocol.rooms(rooms, 512)  # the server's own lines for a /rooms that does not fit in one
    assert len(reply) > 1
    output = "\n".join(["* you joined #room000", *reply, "* rooms: none", "* bye"])
    old_reader = [line for line in output.splitlines() if line.startswith("* rooms:")]
    assert "#room079" not in " ".join(old_reader)
    answers = listed(output, "rooms")
    assert [room_names(answer) for answer in answers] == [[name for name, _ in rooms], []]


def test_routers_crossed_follow_the_replying_hosts_initial_ttl() -> None:
    output = captured("ping-one-router-ttl128.txt")  # a server whose net.ipv4.ip_default_ttl is 128, one router away
    old_check = f"ttl={64 - 1}" in output
    assert not old_check
    assert routers_crossed(output, 128) == 1
    assert routers_crossed("1 packets transmitted, 0 received, 100% packet loss", 64) is None

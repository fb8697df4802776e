"""`lab tc` against the lab that is up: `set` is in force when it returns (a partition drops every ping at once) and
`tc show` says so, `reset` puts the topology's conditions back, and so does the next `lab up`, saying which it put
back. Loss and rate only: what every kernel here can do (containers on this machine have no netem). Each test
leaves the lab's conditions as the topology says."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from lab_run import lab

from lab.state import LabConfig

PINGS = 10  # 0.2 s apart: a partition drops all of them; a LAN without one answers at least one


@dataclass(frozen=True)
class Link:
    network: str  # the chat server's
    client: str  # a chat client on it
    server: str
    server_address: str  # on that network


@pytest.fixture
def link(lab_config: LabConfig) -> Iterator[Link]:
    """The chat server's network and a client on it; every link reset afterwards."""
    topology = lab_config.topology
    server = topology.chat_server
    network = server.interfaces[0].network
    client = next((h for h in topology.lab_hosts if h.role == "chat_client" and h.interface_on(network)), None)
    if client is None:
        pytest.skip(f"lab '{lab_config.name}' has no chat client on {network}, the chat server's network")
    if shown(network)["planned"].get("loss", 0) >= 50:
        pytest.skip(f"{network}'s planned loss is 50 % or more: a ping could not tell a reset from a partition")
    yield Link(network, client.name, server.name, str(server.interfaces[0].address.ip))
    lab("tc", "reset", check=True)


def shown(target: str) -> dict[str, Any]:
    """`lab tc show --json`'s row for a link (a network, or HOST:NETWORK)."""
    rows = json.loads(lab("tc", "show", "--json", check=True).stdout)["links"]
    return next(row for row in rows if row["target"] == target)


def replies(host: str, address: str) -> int:
    """How many of PINGS pings from `host` to `address` were answered."""
    done = lab("exec", host, "--", f"ping -n -q -c {PINGS} -i 0.2 -W 1 {address}")
    match = re.search(r"(\d+) received", done.stdout)
    assert match, f"no ping summary from {host}:\n{done.stdout}\n{done.stderr}"
    return int(match.group(1))


def qdiscs(host: str) -> str:
    return lab("exec", host, "--", "tc qdisc show", check=True).stdout


def test_set_is_in_force_when_it_returns_and_show_says_so_and_reset_puts_the_topologys_back(link: Link) -> None:
    network = link.network
    planned = shown(network)["planned"]

    said = lab("tc", "set", network, "loss=100", check=True).stdout
    assert re.search(rf"tc set: {network}: .* -> (.*, )?loss 100 %", said), said
    assert re.search(r"in force on every host in \d+\.\d\d s", said), said
    assert replies(link.client, link.server_address) == 0  # a partition, at once: no ping gets across
    assert shown(network)["conditions"] == {**planned, "loss": 100}
    assert "changed by lab tc" in lab("tc", "show", check=True).stdout

    said = lab("tc", "reset", network, check=True).stdout
    assert re.search(rf"tc reset: {network}: (.*, )?loss 100 % -> ", said), said
    assert shown(network)["conditions"] == planned
    assert replies(link.client, link.server_address) > 0
    assert "changed by lab tc" not in lab("tc", "show", check=True).stdout


def test_a_hosts_own_rate_is_set_on_it_alone_and_the_next_lab_up_puts_the_topologys_back(link: Link) -> None:
    client = link.client
    target = f"{client}:{link.network}"
    planned = shown(target)["planned"]
    assert not re.search(r"rate 2Mbit", qdiscs(client)), "the topology already has this rate: pick another"

    lab("tc", "set", target, "rate=2000", check=True)
    assert shown(target)["conditions"] == {**planned, "rate": 2000}
    assert re.search(r"rate 2Mbit", qdiscs(client)), qdiscs(client)  # tbf, or netem's rate
    assert not re.search(r"rate 2Mbit", qdiscs(link.server))  # the host's own: not the network's

    said = lab("up", timeout=900, check=True).stdout
    assert f"link conditions: put back the topology's: {target}: rate 2000 kbit/s -> " in said, said[-3000:]
    assert shown(target)["conditions"] == planned
    assert not re.search(r"rate 2Mbit", qdiscs(client)), qdiscs(client)

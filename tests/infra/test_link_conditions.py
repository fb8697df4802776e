"""Link conditions measured: what the topology (or `lab tc set`) configured is what a packet meets. Delay as a
ping's RTT, loss as the share of pings lost (in a band sized by the number of probes), rate as a bulk transfer's
throughput, and the chat across a lossy link: every message, in order, once. See docs/conditions.md."""

from __future__ import annotations

import ipaddress
import re
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from chat_session import CLIENT, BackgroundSession, unique
from lab_hosts import LabHost
from link_conditions import LabLinks, load, loss_band, round_trip_loss

PINGS_FOR_RTT = 20
PINGS_FOR_LOSS = 1000  # at 10 % loss each way: 190 +/- 62 lost (5 sd); loss on one way only (100) is far outside
RATE_SECONDS = 4.0  # of traffic at the configured rate, per transfer
RATE_TOLERANCE = 0.15
RTT_TOLERANCE, RTT_SLACK_MS = 0.20, 1.0
CHAT_MESSAGES = 200  # in all, from two senders at once
CHAT_PACE_S = 0.105  # under the server's 10 lines/s per client


@pytest.fixture(scope="session")
def lab_links(inventory_data: dict[str, Any]) -> LabLinks:
    found = load(inventory_data)
    if found is None:
        pytest.skip("not a lab's inventory (no .lab/NAME record): no link conditions to measure")
    return found


def _pairs(clients: list[LabHost], server: LabHost, chat_address: ipaddress.IPv4Address) -> list[LabHost]:
    return [client for client in clients if client.path_to(chat_address) is not None]


def _pings(host: LabHost, address: ipaddress.IPv4Address, count: int, interval: float) -> str:
    # -i below 0.2 s needs root (a VM's vagrant user goes through sudo); -W: a lost answer costs 1 s at the end
    return host.host.run(f"sudo -n ping -n -q -c {count} -i {interval} -W 1 {address} || "
                         f"sudo -n ping -n -c {count} -i {interval} -W 1 {address}").stdout


def test_rtt_is_twice_the_delay_of_each_network_crossed(lab_links: LabLinks, clients: list[LabHost], server: LabHost,
                                                        chat_address: ipaddress.IPv4Address) -> None:
    measured = 0
    for client in _pairs(clients, server, chat_address):
        there, back = lab_links.round_trip(client.name, server.name, chat_address)
        expected = there.delay + back.delay
        if not expected:
            continue
        output = client.host.run(f"ping -n -c {PINGS_FOR_RTT} -i 0.2 -W 2 {chat_address}").stdout
        times = [float(t) for t in re.findall(r"time=([\d.]+) ms", output)]
        assert len(times) >= PINGS_FOR_RTT // 2, f"{client.name}: too few answers to measure RTT:\n{output}"
        median = statistics.median(times)
        allowed = RTT_TOLERANCE * expected + RTT_SLACK_MS
        assert abs(median - expected) <= allowed, (
            f"{client.name} -> {server.name}: median RTT {median:.1f} ms, configured {expected:g} ms "
            f"(+/- {allowed:.1f} ms)")
        measured += 1
    if not measured:
        pytest.skip(lab_links.no_delay_reason())


def test_lost_pings_lie_in_the_band_of_the_configured_loss(lab_links: LabLinks, clients: list[LabHost],
                                                           server: LabHost,
                                                           chat_address: ipaddress.IPv4Address) -> None:
    measured = 0
    for client in _pairs(clients, server, chat_address):
        chance = round_trip_loss(*lab_links.round_trip(client.name, server.name, chat_address))
        if not chance or chance >= 1:
            continue
        output = _pings(client, chat_address, PINGS_FOR_LOSS, 0.01)
        found = re.search(r"(\d+) packets transmitted, (\d+) received", output)
        assert found, f"{client.name}: no ping summary:\n{output}"
        sent, received = int(found[1]), int(found[2])
        low, high = loss_band(sent, chance)
        assert low <= sent - received <= high, (
            f"{client.name} -> {server.name}: {sent - received} of {sent} pings lost, configured "
            f"{100 * chance:.1f} % round trip: expected {low}..{high}")
        measured += 1
    if not measured:
        pytest.skip("no loss configured on the way from a client to the chat server")


SINK = """
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen(1); s.settimeout(60)
c, _ = s.accept(); c.settimeout(30)
first = c.recv(65536); start = time.monotonic(); total = 0; end = start
while True:
    data = c.recv(1 << 20)
    if not data:
        break
    total += len(data); end = time.monotonic()
print(total, end - start)
"""

SOURCE = """
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
block = bytes(1 << 16); left = int(sys.argv[3])
while left > 0:
    c.sendall(block[:min(left, len(block))]); left -= len(block)
c.close()
"""


def test_a_bulk_transfer_runs_at_the_configured_rate(lab_links: LabLinks, clients: list[LabHost], server: LabHost,
                                                     chat_address: ipaddress.IPv4Address) -> None:
    candidates = []
    for client in _pairs(clients, server, chat_address):
        there, back = lab_links.round_trip(client.name, server.name, chat_address)
        if there.rate and not (there.loss or back.loss):  # TCP under loss cannot fill a link: not a rate check
            candidates.append((client, there.rate))
    if not candidates:
        pytest.skip("no rate configured on a loss-free way from a client to the chat server")
    client, rate = candidates[0]
    port = 5901
    size = int(rate * 1000 / 8 * RATE_SECONDS)
    sink = f"/tmp/{unique('chatlab-rate-')}"
    server.host.run(f"nohup python3 -c {_quoted(SINK)} {port} > {sink} 2>&1 &")
    time.sleep(1.0)
    sent = client.host.run(f"python3 -c {_quoted(SOURCE)} {chat_address} {port} {size}")
    assert sent.rc == 0, f"{client.name}: the transfer failed: {sent.stderr}"
    output = ""
    for _ in range(60):
        output = server.host.run(f"cat {sink}").stdout.strip()
        if output:
            break
        time.sleep(0.5)
    received, seconds = output.split()
    throughput_kbit = int(received) * 8 / float(seconds) / 1000
    # what TCP carries of a frame: 1448 bytes of 1514 (headers); the limit counts whole frames
    assert abs(throughput_kbit - rate) <= RATE_TOLERANCE * rate, (
        f"{client.name} -> {server.name}: {throughput_kbit:.0f} kbit/s of data, configured {rate:g} kbit/s "
        f"(+/- {RATE_TOLERANCE:.0%})")


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def _paced_session(talker: str, room: str, count: int) -> str:
    """A chat-client that says `m0000` ... paced within the server's flood limit (10 lines/s per client): what the
    server would hold back is not the link's doing."""
    return (f"(printf '/nick {talker}\\n/join {room}\\n'; i=0; while [ $i -lt {count} ]; do "
            f"printf 'm%04d\\n' $i; i=$((i + 1)); sleep {CHAT_PACE_S}; done; sleep 2) | "
            f"timeout {count * CHAT_PACE_S + 60:.0f} {CLIENT}")


def test_the_chat_across_a_lossy_link_delivers_every_message_in_order_once(
        lab_links: LabLinks, clients: list[LabHost], server: LabHost, chat_address: ipaddress.IPv4Address) -> None:
    lossy = [c for c in _pairs(clients, server, chat_address)
             if round_trip_loss(*lab_links.round_trip(c.name, server.name, chat_address))]
    if not lossy:
        pytest.skip("no loss configured on the way from a client to the chat server")
    receiver = lossy[0]
    senders = [*[c for c in clients if c.name != receiver.name][:1], server]  # two at once: half the time
    each = CHAT_MESSAGES // len(senders)
    room, listener = unique("#lossy"), unique("rx")
    talkers = [unique("tx") for _ in senders]
    session = BackgroundSession(receiver.host, [f"/nick {listener}", f"/join {room}"])
    try:
        assert f"you joined {room}" in session.wait_for(f"you joined {room}"), f"{listener} never joined {room}"
        with ThreadPoolExecutor(max_workers=len(senders)) as pool:
            runs = list(pool.map(lambda pair: pair[0].host.run(_paced_session(pair[1], room, each)),
                                 zip(senders, talkers, strict=True)))
        for sender, run in zip(senders, runs, strict=True):
            assert run.rc == 0, f"{sender.name}: chat-client failed: {run.stderr}"
        last = f"m{each - 1:04d}"
        output = session.wait_for(f": {last}", deadline_s=120, times=len(senders))
    finally:
        session.end()
    texts = [f"m{i:04d}" for i in range(each)]
    for sender, talker in zip(senders, talkers, strict=True):
        got = re.findall(rf"\[{re.escape(room)}\] {talker}: (m\d{{4}})", output)
        assert got == texts, (f"{receiver.name} (loss on its way) got {len(got)} of {sender.name}'s {each}"
                              f"{'' if got == sorted(set(got)) else ', out of order or twice'}")

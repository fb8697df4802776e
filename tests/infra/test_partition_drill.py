"""The partition drill: a client's link to the chat server at loss=100 (a silent drop) for longer than the liveness
timeouts. The client's keepalive notices (no `* pong` within its timeout), the server drops the silent client and
its room sees `* NICK left #room (ping timeout)`; once the link is back the client is in its room again within 5 s
(plus its reconnect backoff). Disruptive: `lab test` runs it, `lab up` does not. See docs/conditions.md."""

from __future__ import annotations

import ipaddress
import re
import time

import pytest
from chat_session import CLIENT, BackgroundSession, unique
from lab_hosts import LabHost
from link_conditions import LabLinks, lab_tc, load

KEEPALIVE_S, KEEPALIVE_TIMEOUT_S = 3, 2  # the client's: a /ping after 3 s of silence, lost after 2 more
BACK_WITHIN_S = 5 + 8  # the 5 s, plus the client's reconnect backoff at its third attempt at most


@pytest.fixture(scope="module")
def lab_links(inventory_data) -> LabLinks:
    found = load(inventory_data)
    if found is None:
        pytest.skip("not a lab's inventory: the drill changes link conditions with `lab tc`")
    return found


def _server_timeout(server: LabHost) -> float | None:
    """The server's ping timeout (twice its --ping-interval), from its unit's command line."""
    line = server.host.run("systemctl show -p ExecStart --value chatlab-chat").stdout
    found = re.search(r"--ping-interval[ =]([\d.]+)", line)
    if found:
        return 2 * float(found[1])
    default = server.host.run("python3 -c 'import chat.server as s; print(s.PING_INTERVAL)' 2>/dev/null || "
                              "PYTHONPATH=$(ls -d /opt/chatlab*/chat.zip 2>/dev/null | head -1) python3 -c "
                              "'import chat.server as s; print(s.PING_INTERVAL)'").stdout.strip()
    return 2 * float(default) if default else None


@pytest.mark.disruptive
def test_a_partitioned_client_is_dropped_then_back_in_its_room(lab_links: LabLinks, clients: list[LabHost],
                                                               server: LabHost,
                                                               chat_address: ipaddress.IPv4Address) -> None:
    victim = clients[0]
    help_text = victim.host.run(f"{CLIENT} --help").stdout
    if "--keepalive" not in help_text:
        pytest.skip("this lab's chat client has no keepalive (--keepalive) yet: the drill needs it (issue #18)")
    server_timeout = _server_timeout(server)
    if server_timeout is None:
        pytest.skip("this lab's chat server has no ping timeout (--ping-interval) yet: the drill needs it")
    path = victim.path_to(chat_address)
    assert path is not None
    network = next(n.name for n in lab_links.topology.networks
                   if path[0].address.ip in n.subnet)
    target = f"{victim.name}:{network}"
    room, nick, watcher_nick = unique("#drill"), unique("v"), unique("w")
    watcher = BackgroundSession(server.host, [f"/nick {watcher_nick}", f"/join {room}"])
    session = BackgroundSession(victim.host, [f"/nick {nick}", f"/join {room}"],
                                flags=f"--reconnect --keepalive {KEEPALIVE_S} --keepalive-timeout "
                                      f"{KEEPALIVE_TIMEOUT_S}")
    try:
        assert f"{nick} joined {room}" in watcher.wait_for(f"{nick} joined {room}"), f"{nick} never joined {room}"
        lab_tc(lab_links, "set", target, "loss=100")
        try:
            left = watcher.wait_for(f"{nick} left {room} (ping timeout)", deadline_s=server_timeout + 30)
            assert f"{nick} left {room} (ping timeout)" in left, f"the room never saw {nick} time out:\n{left}"
            lost = session.wait_for("lost", deadline_s=KEEPALIVE_S + KEEPALIVE_TIMEOUT_S + 30)
            assert "lost" in lost, f"{victim.name}'s client never said the connection was lost:\n{lost}"
        finally:
            lab_tc(lab_links, "reset", target)
        back_at = time.monotonic()
        again = watcher.wait_for(f"{nick} joined {room}", deadline_s=60, times=2)
        assert again.count(f"{nick} joined {room}") >= 2, f"{nick} never came back to {room}:\n{again}"
        assert time.monotonic() - back_at <= BACK_WITHIN_S, (
            f"{nick} back in {room} {time.monotonic() - back_at:.1f} s after the link came back "
            f"(at most {BACK_WITHIN_S} s)")
    finally:
        session.end()
        watcher.end()

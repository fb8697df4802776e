"""The partition drill: a client's link to the chat server at loss=100 (a silent drop) for longer than the liveness
timeouts. The client's keepalive notices (no `* pong` within its timeout), the server drops the silent client and
its room sees `* NICK left #room (ping timeout)`; once the link is back the client is in its room again within 5 s
(plus its reconnect backoff). Disruptive: `lab test` runs it, `lab up` does not. See docs/conditions.md."""

from __future__ import annotations

import ipaddress
import time

import pytest
from chat_session import CLIENT, BackgroundSession, unique
from lab_hosts import LabHost
from link_conditions import LabLinks, lab_tc, load

KEEPALIVE_S, KEEPALIVE_TIMEOUT_S = 3, 2  # the client's: a /ping after 3 s of silence, lost after 2 more
PING_INTERVAL_S = 5  # the server's for the drill: a client silent for twice this long is dropped
BACK_WITHIN_S = 5 + 8  # the 5 s, plus the client's reconnect backoff (1, 2, 4, 8 s) at most
DROP_IN = "/run/systemd/system/chatlab-chat.service.d/partition-drill.conf"  # runtime only: gone at a reboot


@pytest.fixture(scope="module")
def lab_links(inventory_data) -> LabLinks:
    found = load(inventory_data)
    if found is None:
        pytest.skip("not a lab's inventory: the drill changes link conditions with `lab tc`")
    return found


def _restart_server(server: LabHost, ping_interval: float | None) -> None:
    """The chat service restarted with the drill's --ping-interval (None: as provisioned again)."""
    if ping_interval is None:
        script = f"rm -f {DROP_IN}"
    else:
        script = (f"mkdir -p {DROP_IN.rsplit('/', 1)[0]}; line=$(systemctl cat chatlab-chat | grep '^ExecStart=' | "
                  f"tail -1); printf '[Service]\\nExecStart=\\n%s --ping-interval {ping_interval:g}\\n' "
                  f"\"$line\" > {DROP_IN}")
    restart = f"{script}; systemctl daemon-reload; systemctl restart chatlab-chat"
    server.host.check_output(f"sudo -n sh -c {_quoted(restart)}")
    port = server.chat_port
    for _ in range(100):
        if server.host.run(f"nc -z -w 1 {server.interfaces[0].address.ip} {port}").rc == 0:
            return
        time.sleep(0.3)
    raise AssertionError(f"the chat server did not listen again after its restart ({ping_interval=})")


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


@pytest.mark.disruptive
def test_a_partitioned_client_is_dropped_then_back_in_its_room(lab_links: LabLinks, clients: list[LabHost],
                                                               server: LabHost,
                                                               chat_address: ipaddress.IPv4Address) -> None:
    victim = next((c for c in clients if (p := c.path_to(chat_address)) is not None and p[1] is None), None)
    if victim is None:
        pytest.skip("no client on the chat server's own network: the drill cuts that link")
    if "--keepalive" not in victim.host.run(f"{CLIENT} --help").stdout:
        pytest.skip("this lab's chat client has no keepalive (--keepalive) yet: the drill needs it (issue #18)")
    network = next(n.name for n in lab_links.topology.networks if chat_address in n.subnet)
    if network == lab_links.topology.mgmt_network:
        pytest.skip(f"{network} is also the management network here: cutting it would cut the checks' own SSH")
    room, nick, watcher_nick = unique("#drill"), unique("v"), unique("w")
    _restart_server(server, PING_INTERVAL_S)
    watcher = session = None
    try:
        # the watcher runs on the server host itself: its connection does not cross the network that is cut
        # both keep their connections alive (a silent piped client would be dropped after 10 s too)
        keepalive = f"--reconnect --keepalive {KEEPALIVE_S} --keepalive-timeout {KEEPALIVE_TIMEOUT_S}"
        watcher = BackgroundSession(server.host, [f"/nick {watcher_nick}", f"/join {room}"], flags=keepalive)
        # the watcher in the room first, or it would never see the victim join (on VMs a session starts slowly)
        joined = watcher.wait_for(f"* you joined {room}")
        assert f"* you joined {room}" in joined, f"the watcher never joined {room}:\n{joined}"
        session = BackgroundSession(victim.host, [f"/nick {nick}", f"/join {room}"], flags=keepalive)
        assert f"{nick} joined {room}" in watcher.wait_for(f"{nick} joined {room}"), f"{nick} never joined {room}"
        lab_tc(lab_links, "set", network, "loss=100")
        try:
            left = watcher.wait_for(f"{nick} left {room} (ping timeout)", deadline_s=2 * PING_INTERVAL_S + 30)
            assert f"{nick} left {room} (ping timeout)" in left, f"the room never saw {nick} time out:\n{left}"
            lost = session.wait_for("connection lost", deadline_s=KEEPALIVE_S + KEEPALIVE_TIMEOUT_S + 30)
            assert "connection lost" in lost, f"{victim.name}'s client never said the connection was lost:\n{lost}"
        finally:
            lab_tc(lab_links, "reset", network)
        back_at = time.monotonic()
        again = watcher.wait_for(f"{nick} joined {room}", deadline_s=60, times=2)
        back_s = time.monotonic() - back_at
        assert again.count(f"{nick} joined {room}") >= 2, f"{nick} never came back to {room}:\n{again}"
        assert back_s <= BACK_WITHIN_S, f"{nick} back in {room} {back_s:.1f} s after the link came back"
    finally:
        for open_session in (session, watcher):
            if open_session is not None:
                open_session.end()
        _restart_server(server, None)

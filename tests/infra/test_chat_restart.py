"""The fault path across hosts: the chat server killed with SIGKILL on its host is serving again within
seconds (systemd's Restart=always), and a client on another host that was in a room is back in it and
receives a new message, without being restarted (a piped `chat-client --reconnect`)."""

from __future__ import annotations

import ipaddress
import time

import pytest
from chat_session import DEADLINE_S, BackgroundSession, run_session, unique
from lab_hosts import LabHost

SERVICE = "chatlab-chat"
RESTART_DEADLINE_S = 30  # systemd restarts it after RestartSec=1; Python starts in well under a second
# (containers) or a few seconds (emulated VMs)


def main_pid(server: LabHost) -> str:
    return server.host.check_output(f"systemctl show -p MainPID --value {SERVICE}")


@pytest.mark.disruptive
def test_killed_server_restarts_and_a_reconnecting_client_is_back_in_its_room(
    server: LabHost, clients: list[LabHost], chat_address: ipaddress.IPv4Address
) -> None:
    member, sender = clients[0], (clients[1] if len(clients) > 1 else server)
    room, listener, talker = unique("#restart"), unique("rc"), unique("tx")
    session = BackgroundSession(member.host, [f"/nick {listener}", f"/join {room}"], flags="--reconnect")
    try:
        joined = f"* you joined {room} "
        assert joined in session.wait_for(joined), f"{listener} never joined {room}"
        before = main_pid(server)
        assert before != "0", f"{SERVICE} has no main process on {server.name}"
        killed = server.host.run(f"sudo -n kill -9 {before}")  # the lab's VMs are reached as a sudo user
        assert killed.rc == 0, f"kill -9 {before} on {server.name} failed: {killed.stderr}"
        start = time.monotonic()
        while time.monotonic() - start < RESTART_DEADLINE_S:
            pid = main_pid(server)
            if pid not in ("0", before) and server.host.socket(
                    f"tcp://{chat_address}:{server.chat_port}").is_listening:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"{SERVICE} not serving again on {server.name} {RESTART_DEADLINE_S} s after "
                                 f"kill -9 (MainPID {main_pid(server)})")
        output = session.wait_for(joined, times=2)
        assert output.count(joined) == 2, f"{member.name}'s client did not rejoin {room}:\n{output}"
        assert "chat-client: reconnected" in output, output
        text = f"after the restart, from {sender.name}"
        run_session(sender.host, [f"/nick {talker}", f"/join {room}", text])
        received = session.wait_for(f"[{room}] {talker}: {text}", DEADLINE_S)
        assert f"[{room}] {talker}: {text}" in received, f"{member.name} got:\n{received}"
    finally:
        session.end()

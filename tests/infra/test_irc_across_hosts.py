"""IRC across hosts: WeeChat on one client host and line clients on another talk in one room through the chat
server's IRC port over the LAN (docs/irc.md). WeeChat is installed by the chat_client role
(chat_client_irc_client, the lab's default)."""

from __future__ import annotations

import shlex
import time
from typing import Any

import pytest
from chat_session import DEADLINE_S, BackgroundSession, run_session, unique
from lab_hosts import LabHost

IRC_PORT = 6667  # the chat_server role's default (chat_server_irc_port)


def test_weechat_and_a_line_client_on_other_hosts_share_a_room(server: LabHost, clients: list[LabHost],
                                                               chat_address: Any,
                                                               inventory_data: dict[str, Any]) -> None:
    weechat_host = clients[0]
    line_host = clients[1] if len(clients) > 1 else server
    if weechat_host.host.run("command -v weechat-headless").rc != 0:
        pytest.skip(f"weechat-headless is not installed on {weechat_host.name} (chat_client_irc_client: false)")
    port = inventory_data["_meta"]["hostvars"][server.name].get("chat_server_irc_port", IRC_PORT)
    room, wee, listener, talker = unique("#irc"), unique("wee"), unique("rx"), unique("tx")
    home = f"/tmp/{unique('chatlab-weechat-')}"
    # WeeChat joins by itself once registered (autojoin); it says its line on SIGUSR1 and quits (/quit) on SIGTERM
    # (weechat.signal.*), each sent when the step before has been seen, so the check takes as long as the hosts do.
    # No anti-flood delay: WeeChat's default holds each message for 2 s after the one before (its JOIN).
    script = (f"/set irc.server_default.nicks {wee}; /set irc.server_default.anti_flood_prio_high 0; "
              "/set logger.level.irc 9; /set logger.file.flush_delay 0; "
              f"/set weechat.signal.sigusr1 \"/msg -server lab {room} hello from {weechat_host.name}\"; "
              f"/server add lab {chat_address}/{port} -notls -autojoin={room}; /connect lab")
    listening = BackgroundSession(line_host.host, [f"/nick {listener}", f"/join {room}"])

    def signal_weechat(name: str) -> None:
        weechat_host.host.run(f"pkill -{name} -f {shlex.quote(f'^weechat-headless -d {home} ')}")

    try:
        assert f"you joined {room}" in listening.wait_for(f"you joined {room}")
        weechat_host.host.run(f"mkdir -p {home}; nohup timeout 120 weechat-headless -d {home} -r "
                              f"{shlex.quote(script)} > {home}.out 2>&1 &")
        seen = listening.wait_for(f"* {wee} joined {room}")
        assert f"* {wee} joined {room}" in seen, f"{line_host.name} never saw WeeChat join:\n{seen}"
        run_session(line_host.host, [f"/nick {talker}", f"/join {room}", f"hello from {line_host.name}"])
        signal_weechat("USR1")
        said = f"[{room}] {wee}: hello from {weechat_host.name}"
        assert said in listening.wait_for(said), f"{line_host.name} never got WeeChat's message"
        log = f"{home}/logs/irc.lab.{room}.weechatlog"
        deadline = time.monotonic() + DEADLINE_S
        while (text := weechat_host.host.run(f"cat {shlex.quote(log)} 2>/dev/null").stdout).count("\n") < 1 \
                or f"{talker}\thello from {line_host.name}" not in text:
            assert time.monotonic() < deadline, f"WeeChat's log on {weechat_host.name} lacks the line message:\n{text}"
            time.sleep(0.5)
        signal_weechat("TERM")
        left = listening.wait_for(f"* {wee} left {room} (Quit")
        assert f"* {wee} left {room} (Quit" in left, f"WeeChat never quit cleanly:\n{left}"
    finally:
        listening.end()
        weechat_host.host.run(f"rm -rf {home} {home}.out")

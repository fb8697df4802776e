"""Real IRC clients against the chat server on loopback: WeeChat (headless, its channel log read) and irssi
(under tmux: keys sent, pane read) each join a room, talk with a line client both ways and quit cleanly."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from chat_helpers import CHAT_WAIT
from irc_helpers import irc_port
from test_chat_client import Tmux


def needs(program: str) -> None:
    if shutil.which(program) is None:
        pytest.skip(f"{program} is not installed: tools/install-deps installs it (apt-get install {program})")


def wait_for(what: str, check, timeout: float = 3 * CHAT_WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"never saw {what} within {timeout} s"
        time.sleep(0.05)


def test_weechat_joins_talks_with_a_line_client_and_quits(irc_server, chat_connect, tmp_path: Path) -> None:
    needs("weechat-headless")
    line = chat_connect(irc_server.port, nick="liner", room="#room")
    home = tmp_path / "weechat"
    home.mkdir()
    # WeeChat's own timeline (its /wait delays); the test only waits for what it should see.
    script = (f"/set irc.server_default.nicks wee; /server add t 127.0.0.1/{irc_port(irc_server)} -notls; "
              "/set logger.level.irc 9; /connect t; /wait 2 /join -server t #room; "
              "/wait 6 /msg -server t #room hello line; /wait 9 /quit")
    weechat = subprocess.Popen(["weechat-headless", "-d", str(home), "-r", script],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        line.expect("* wee joined #room", timeout=3 * CHAT_WAIT)
        line.send("hello weechat")
        assert line.expect(lambda text: text.startswith("[#room] wee:"), timeout=3 * CHAT_WAIT) == \
            "[#room] wee: hello line"
        assert line.expect(lambda text: "wee left" in text, timeout=3 * CHAT_WAIT).startswith(
            "* wee left #room (Quit: WeeChat")
        assert weechat.wait(3 * CHAT_WAIT) == 0
    finally:
        if weechat.poll() is None:
            weechat.kill()
            weechat.wait(CHAT_WAIT)
    log = (home / "logs" / "irc.t.#room.weechatlog").read_text()
    assert "has joined #room" in log.split("\n")[0], log  # WeeChat's own join, first
    assert "\t@liner\thello weechat" in log, log  # liner made the room: its operator
    assert "\twee\thello line" in log, log


def test_irssi_joins_talks_with_a_line_client_and_quits(irc_server, chat_connect, tmp_path: Path) -> None:
    needs("irssi")
    needs("tmux")
    line = chat_connect(irc_server.port, nick="liner", room="#room")
    home = tmp_path / "irssi"
    home.mkdir()
    tmux = Tmux(tmp_path, ["irssi", f"--home={home}", "-c", "127.0.0.1", "-p", str(irc_port(irc_server)),
                           "-n", "irs"])
    try:
        wait_for("irssi registered", lambda: irc_server.call(lambda: irc_server.server.registry.find("irs")))
        tmux.type("/join #room")
        line.expect("* irs joined #room", timeout=3 * CHAT_WAIT)
        line.send("hello irssi")
        tmux.wait("the line client's message", lambda rows: any("liner" in r and "hello irssi" in r for r in rows))
        tmux.type("hello line")
        assert line.expect(lambda text: text.startswith("[#room] irs:")) == "[#room] irs: hello line"
        tmux.type("/quit bye now")
        assert line.expect(lambda text: "irs left" in text) == "* irs left #room (Quit: bye now)"
        tmux.wait("irssi's exit", lambda rows: any(row == "exit status 0" for row in rows))
    finally:
        tmux.kill()

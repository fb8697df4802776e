"""The line protocol's keepalive (docs/keepalive.md): the client's /ping after silence and its verdict when
nothing answers, the server's * pong and its drop of a client it hears nothing from. Short intervals
through the flags; every wait is for a condition, with a generous deadline."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from chat_helpers import CHAT_WAIT, PipeLines
from repo_paths import REPO
from test_chat_client import Tmux

from chat.client import Keepalive

GREETING = b"* welcome to chatlab! you are guest1; /join #room to talk, /help for commands\n"


# --- pure ------------------------------------------------------------------------------------------


def test_keepalive_pings_after_silence_either_way_and_counts_an_unanswered_ping_as_lost() -> None:
    alive = Keepalive(30, 10, now=0)
    assert alive.ping(29) == b"" and alive.wait(29) == 1
    assert alive.ping(30) == b"/ping k1\n"
    assert alive.ping(31) == b""  # one at a time
    assert not alive.lost(39.9) and alive.lost(40)
    alive.heard(35)  # any line from the server answers it
    assert not alive.lost(50)
    alive.sent(50)
    assert alive.ping(64) == b"" and alive.ping(65) == b"/ping k2\n"  # 30 s after the last line heard
    alive.heard(70)
    alive.sent(70)
    alive.heard(99)  # a busy room: lines keep coming, but we said nothing for 30 s: the server must hear us
    assert alive.ping(100) == b"/ping k3\n"
    assert alive.is_pong("* pong k3") and not alive.is_pong("* pong k4") and not alive.is_pong("* pong x")
    assert Keepalive(0, 10, now=0).ping(1000) == b""  # off


# --- the server ------------------------------------------------------------------------------------


def test_server_answers_ping_with_pong(chat_server, chat_connect) -> None:
    conn = chat_connect(chat_server.port)
    conn.send("/ping abc123")
    assert conn.line() == "* pong abc123"
    conn.send("/ping")
    assert conn.line() == "* pong"


def test_server_drops_a_silent_client_with_ping_timeout(chat_server_factory, chat_connect) -> None:
    server = chat_server_factory(rate=0, ping_interval=0.5)
    quiet = chat_connect(server.port, nick="quiet", room="#r")
    talker = chat_connect(server.port, nick="talker", room="#r")
    lines = []
    while True:  # the talker keeps pinging, the quiet one says nothing
        talker.send("/ping t")
        line = talker.line()
        if line != "* pong t":
            lines.append(line)
        if "left" in line:
            break
    assert lines[-1] == "* quiet left #r (ping timeout)"
    assert quiet.closed()[-1] == "! nothing heard from you for 1 s (ping timeout), disconnecting"


# --- the client ------------------------------------------------------------------------------------


class SilentServer:
    """A server that greets, then answers the first /ping (``answer``) or not, and never another: the link
    looks dead. Each connection is handled in turn; ``received`` has every line each one sent."""

    def __init__(self, answer_first: bool) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.answer_first = answer_first
        self.received: list[list[str]] = []
        self.second = threading.Event()  # a second connection came (the client reconnected)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        for number in range(2):
            conn, _ = self.listener.accept()
            self.received.append([])
            if number == 1:
                self.second.set()
            threading.Thread(target=self._talk, args=(conn, number), daemon=True).start()

    def _talk(self, conn: socket.socket, number: int) -> None:
        with conn:
            conn.sendall(GREETING)
            buffer = b""
            conn.settimeout(3 * CHAT_WAIT)
            try:
                while data := conn.recv(4096):
                    buffer += data
                    while b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        self.received[number].append(line.decode())
                        if line == b"/ping k1" and self.answer_first and number == 0:
                            conn.sendall(b"* pong k1\n* after the pong\n")
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()


def test_piped_reconnect_client_pings_and_reconnects_when_no_answer_comes() -> None:
    server = SilentServer(answer_first=False)
    command = [sys.executable, "-m", "chat.client", "--host", "127.0.0.1", "--port", str(server.port),
               "--nick", "alice", "--reconnect", "--keepalive", "0.3", "--keepalive-timeout", "0.5"]
    proc = subprocess.Popen(command, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert proc.stderr is not None
        err = PipeLines(proc.stderr, "the client's stderr")
        lost = err.until(lambda line: "connection lost" in line, "a lost connection", 3 * CHAT_WAIT)
        assert lost == ("chat-client: connection lost (no answer to /ping within 0.5 s); reconnecting in 1 s")
        err.until(lambda line: line == "chat-client: reconnected", "the reconnection", 3 * CHAT_WAIT)
        assert server.second.wait(CHAT_WAIT)
        assert server.received[0][:2] == ["/nick alice", "/ping k1"]
    finally:
        proc.kill()
        proc.wait(CHAT_WAIT)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        server.close()


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)")
def test_terminal_client_hides_pongs_and_says_when_the_link_is_dead(tmp_path: Path) -> None:
    server = SilentServer(answer_first=True)
    command = [sys.executable, "-m", "chat.client", "--host", "127.0.0.1", "--port", str(server.port),
               "--nick", "bob", "--keepalive", "0.3", "--keepalive-timeout", "0.5"]
    os.environ.setdefault("TERM", "xterm")
    tmux = Tmux(tmp_path, command)
    try:
        rows = tmux.wait("the dead link", lambda rows: any("no answer to /ping" in row for row in rows))
        assert any(row == "* after the pong" for row in rows)
        assert not any("pong k1" in row for row in rows)  # the answer to our own ping is not shown
        assert any(row == "! connection lost: no answer to /ping within 0.5 s" for row in rows)
        assert server.second.wait(3 * CHAT_WAIT)
        tmux.wait("the reconnection", lambda rows: any(row.startswith("* reconnected to") for row in rows))
        assert server.received[0][:3] == ["/nick bob", "/ping k1", "/ping k2"]
    finally:
        tmux.kill()
        server.close()

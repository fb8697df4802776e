"""The chat server as a process: `python3 -m chat.server`, chat/TCPServer.py, flags, SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from chat_helpers import CHAT_WAIT, ChatConn, PipeLines
from repo_paths import REPO

from chat.server import RESERVED_FILES, ChatServer, Config

SHUTDOWN_WAIT = 30.0  # seconds: a deadline for the exit (SHUTDOWN_GRACE is 1.5 s), never a measure of it


class ServerProcess:
    """A chat server subprocess on 127.0.0.1 and an ephemeral port (read from its 'listening on' log)."""

    def __init__(self, command: list[str], cwd: Path = REPO,
                 preexec: Callable[[], None] | None = None) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=preexec)
        assert self.proc.stderr is not None
        self.stderr = PipeLines(self.proc.stderr, "the server's log")
        line = self.log_line(lambda text: "listening on" in text)
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        assert match, line
        self.port = int(match.group(1))

    def log_line(self, want: Callable[[str], bool], timeout: float = CHAT_WAIT) -> str:
        """The next log line (stderr) satisfying ``want``."""
        return self.stderr.until(want, "such a line", timeout)

    def rest_of_log(self) -> list[str]:
        """The log lines up to the server's exit."""
        return self.stderr.rest()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(CHAT_WAIT)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def chat_process() -> Iterator[ServerProcess]:
    server = ServerProcess([sys.executable, "-m", "chat.server", "--host", "127.0.0.1", "--port", "0"])
    yield server
    server.stop()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signal_tells_clients_and_exits_0_as_soon_as_they_took_it(chat_process: ServerProcess,
                                                                   sig: signal.Signals) -> None:
    """Clients that read get the notice, and the server exits once they are gone, without waiting out
    SHUTDOWN_GRACE (it would log that some "did not take the shutdown notice in time")."""
    a = ChatConn("127.0.0.1", chat_process.port)
    b = ChatConn("127.0.0.1", chat_process.port)
    for conn in (a, b):
        conn.expect(lambda text: text.startswith("* welcome"))
        conn.send("/join #lab")
        conn.expect(lambda text: text.startswith("* you joined"))
    chat_process.log_line(lambda text: "joined #lab" in text)  # logs joins
    chat_process.proc.send_signal(sig)
    for conn in (a, b):
        assert conn.closed()[-1] == "* server shutting down"
    assert chat_process.proc.wait(SHUTDOWN_WAIT) == 0
    log = chat_process.rest_of_log()
    assert any(line.endswith(f"INFO {sig.name}: shutting down") for line in log), log
    assert sum("disconnected (server shutdown)" in line for line in log) == 2, log
    assert not any("did not take the shutdown notice in time" in line for line in log), log


def test_signals_are_handled_before_a_listener_serves() -> None:
    """serve() in this process: each listener is made (and serves) only once SIGTERM has the server's handler.
    The line listener serves while the IRC listener is being made; a client served in that window met a process
    that SIGTERM killed outright, without the notice (the test above failed so in CI, once in many runs)."""
    handled_when_listening: list[bool] = []

    async def serve_and_stop() -> None:
        loop = asyncio.get_running_loop()
        create_server = loop.create_server

        async def observed_create_server(*args: Any, **kwargs: Any) -> asyncio.Server:
            handled_when_listening.append(signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL)
            return await create_server(*args, **kwargs)

        loop.create_server = observed_create_server  # type: ignore[method-assign]
        server = ChatServer(Config(host="127.0.0.1", port=0, irc_port=0))
        serving = asyncio.create_task(server.serve(handle_signals=True))
        while server.irc_address is None and not serving.done():  # a start that fails ends the wait
            await asyncio.sleep(0.01)
        server.stop()
        await asyncio.wait_for(serving, SHUTDOWN_WAIT)  # raises what a failed start raised

    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, "SIGTERM must start with its default disposition here"
    asyncio.run(serve_and_stop())  # closing the loop gives SIGTERM its default back
    assert handled_when_listening == [True, True]


def test_shutdown_does_not_wait_for_a_client_that_does_not_read() -> None:
    """After SHUTDOWN_GRACE the server cuts a client that does not read: it exits with megabytes still unsent
    to it, and the client never gets them (nor the notice queued behind them)."""
    # no rate limit and no output cap, so that megabytes wait for the stalled client when the server stops
    server = ServerProcess([sys.executable, "-m", "chat.server", "--host", "127.0.0.1", "--port", "0",
                            "--rate", "0", "--max-outbuf", str(1 << 30)])
    try:
        stalled = ChatConn("127.0.0.1", server.port, rcvbuf=4096)
        stalled.send("/join #lab")
        talker = ChatConn("127.0.0.1", server.port)
        talker.send("/join #lab")
        talker.expect(lambda text: text.startswith("* you joined #lab (2 "))
        talker.send(("x" * 4000 + "\n") * 2000)  # 8 MB for the stalled client, far beyond its socket buffers
        talker.until_reply()  # the server has queued all of it
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(SHUTDOWN_WAIT) == 0  # had it waited for the stalled client, never
        assert any("1 clients did not take the shutdown notice in time" in line for line in server.rest_of_log())
        received = b""
        stalled.sock.settimeout(CHAT_WAIT)
        with contextlib.suppress(ConnectionResetError):  # cut: the rest of its queue is gone
            while chunk := stalled.sock.recv(1 << 20):
                received += chunk
        assert received.count(b"x" * 4000) < 2000 and b"* server shutting down" not in received
        stalled.close()
    finally:
        server.stop()


def test_logs_connections_joins_and_disconnects(chat_process: ServerProcess) -> None:
    conn = ChatConn("127.0.0.1", chat_process.port)
    assert "guest1 connected from 127.0.0.1:" in chat_process.log_line(lambda text: "connected" in text)
    conn.send("/join #lab")
    assert chat_process.log_line(lambda text: "joined" in text).endswith("guest1 joined #lab")
    conn.send("/quit")
    assert chat_process.log_line(lambda text: "disconnected" in text).endswith("guest1 disconnected (quit)")


def test_tcpserver_script_runs_from_inside_chat() -> None:
    server = ServerProcess([sys.executable, "TCPServer.py", "--host", "127.0.0.1", "--port", "0"],
                           cwd=REPO / "chat")
    try:
        conn = ChatConn("127.0.0.1", server.port)
        assert conn.line().startswith("* welcome to chatlab!")
        conn.close()
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--port", "70000"], "argument --port: port must be 0-65535, not 70000"),
        (["--rate", "fast"], "argument --rate: not a number: fast"),
        (["--max-clients", "0"], "argument --max-clients: must be at least 1, not 0"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_flags_give_one_line(flags: list[str], message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "chat.server", *flags], cwd=REPO, capture_output=True,
                          text=True, timeout=CHAT_WAIT)
    assert done.returncode == 2
    assert done.stderr == f"chat-server: error: {message} (see --help)\n"


def test_port_in_use_is_one_clear_line(chat_process: ServerProcess) -> None:
    done = subprocess.run([sys.executable, "-m", "chat.server", "--host", "127.0.0.1", "--port",
                           str(chat_process.port)], cwd=REPO, capture_output=True, text=True,
                          timeout=CHAT_WAIT)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert f"cannot listen on 127.0.0.1:{chat_process.port}: Address already in use" in done.stderr


def test_max_clients_is_clamped_to_the_open_files_limit_in_one_log_line() -> None:
    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (100, 100))

    server = ServerProcess([sys.executable, "-m", "chat.server", "--host", "127.0.0.1", "--port", "0",
                            "--max-clients", "1000", "--max-clients-per-address", "1000"], preexec=low_limit)
    conns = []
    try:
        clamped = 100 - RESERVED_FILES
        assert f"WARNING --max-clients 1000 lowered to {clamped}: the open-files limit is 100" in \
            server.stderr.lines[0]
        for _ in range(clamped):
            conns.append(ChatConn("127.0.0.1", server.port))
            assert conns[-1].line().startswith("* welcome")
        extra = ChatConn("127.0.0.1", server.port)
        assert extra.closed() == [f"! server full (max {clamped} clients), try again later"]
        extra.close()
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(CHAT_WAIT)
        assert not [line for line in server.rest_of_log() if "Traceback" in line or " ERROR " in line]
    finally:
        for conn in conns:
            conn.close()
        server.stop()


@pytest.mark.parametrize("program", ["chat.server", "chat.client"])
def test_a_host_that_does_not_resolve_is_one_line(program: str) -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare: the name is looked up in a network namespace of its own, so "
                    "that no query leaves the machine")
    done = subprocess.run(["unshare", "-n", sys.executable, "-m", program, "--host", "nonexistent.invalid",
                           "--port", "5000"], cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=CHAT_WAIT)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].endswith("cannot resolve nonexistent.invalid: Temporary failure in name resolution")

"""The server also runs on uvloop, the optional fast event loop it uses when that happens to be installed (a dev
dependency, so that this runs: no skip)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import uvloop
from chat_helpers import ChatConn, ChatServerThread
from test_chat_server_process import ServerProcess

from chat import server as chat_server


def test_rooms_and_messages_work_on_uvloop(chat_server_factory: Callable[..., ChatServerThread],
                                           chat_connect: Callable[..., ChatConn]) -> None:
    server = chat_server_factory(loop_factory=uvloop.new_event_loop)
    alice = chat_connect(server.port, nick="alice", room="#fast")
    bob = chat_connect(server.port, nick="bob", room="#fast")
    bob.send("hello over uvloop")
    alice.expect("[#fast] bob: hello over uvloop")


def test_the_server_process_runs_on_uvloop_when_it_is_installed() -> None:
    """chat.server's main() takes its uvloop branch: the serving process has libuv's wakeup eventfd (asyncio's
    own loop wakes through a socket pair and holds none), and it serves."""
    assert chat_server.uvloop is uvloop
    process = ServerProcess([sys.executable, "-m", "chat.server", "--host", "127.0.0.1", "--port", "0"])
    try:
        fds = [os.readlink(fd) for fd in Path(f"/proc/{process.proc.pid}/fd").iterdir()]
        assert "anon_inode:[eventfd]" in fds, f"not a uvloop (libuv) loop: {fds}"
        conn = ChatConn("127.0.0.1", process.port)
        assert conn.line().startswith("* welcome")
        conn.close()
    finally:
        process.stop()

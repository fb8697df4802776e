"""The chat tests' fixtures (named chat_*): servers on their own threads and line clients, all stopped after
the test."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator

import pytest
from chat_helpers import ChatConn, ChatServerThread
from irc_helpers import IrcConn, irc_port

from chat.server import Config


@pytest.fixture
def chat_server_factory(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[..., ChatServerThread]]:
    """Start chat servers with Config overrides (host 127.0.0.1, port 0), on asyncio's loop or the one
    ``loop_factory`` makes; all stopped after the test,
    which fails if the event loop logged an error (an exception in a callback)."""
    servers: list[ChatServerThread] = []
    caplog.set_level(logging.INFO)

    def start(loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
              **overrides: object) -> ChatServerThread:
        settings: dict[str, object] = {"host": "127.0.0.1", "port": 0, **overrides}
        server = ChatServerThread(Config(**settings), loop_factory).start()  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, f"the chat server logged errors: {[r.getMessage() for r in errors]}"


@pytest.fixture
def chat_server(chat_server_factory: Callable[..., ChatServerThread]) -> ChatServerThread:
    """A chat server with default limits except no rate limit."""
    return chat_server_factory(rate=0)


@pytest.fixture
def chat_connect() -> Iterator[Callable[..., ChatConn]]:
    """Open ChatConns (``chat_connect(port)``), reading the greeting; all closed after the test."""
    conns: list[ChatConn] = []

    def connect(port: int, *, nick: str | None = None, room: str | None = None, greeting: bool = True,
                rcvbuf: int | None = None) -> ChatConn:
        conn = ChatConn("127.0.0.1", port, rcvbuf=rcvbuf)
        conns.append(conn)
        if greeting:
            assert conn.line().startswith("* welcome to chatlab! you are guest")
        if nick:
            conn.send(f"/nick {nick}")
            conn.expect(f"* you are now {nick}")
        if room:
            conn.send(f"/join {room}")
            conn.expect(lambda text: text.startswith(f"* you joined {room} ("))
        return conn

    yield connect
    for conn in conns:
        conn.close()


@pytest.fixture
def irc_server(chat_server_factory: Callable[..., ChatServerThread]) -> ChatServerThread:
    """A chat server with its IRC listener on (server name irc.test), no rate limit."""
    return chat_server_factory(rate=0, irc_port=0, server_name="irc.test")


@pytest.fixture
def irc_connect() -> Iterator[Callable[..., IrcConn]]:
    """Open IrcConns (``irc_connect(server, nick=...)``: registered when a nick is given); all closed after."""
    conns: list[IrcConn] = []

    def connect(server: ChatServerThread, nick: str | None = None) -> IrcConn:
        conn = IrcConn(irc_port(server))
        conns.append(conn)
        if nick:
            conn.register(nick)
        return conn

    yield connect
    for conn in conns:
        conn.close()

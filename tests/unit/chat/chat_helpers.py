"""The chat tests' own tools: a line client on a real socket, a chat server on a thread, lines read from a pipe.
Every wait has a deadline (CHAT_WAIT)."""

from __future__ import annotations

import asyncio
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import IO

from chat.server import ChatServer, Config

CHAT_WAIT = 5.0  # seconds a chat test waits for an expected line before failing


class PipeLines:
    """The lines a child process writes to a pipe (its stdout or stderr), read with deadlines."""

    def __init__(self, stream: IO[bytes], name: str) -> None:
        self.stream = stream
        self.name = name  # "the client's output", "the server's log": for failure messages
        self.lines: list[str] = []
        self._pending = b""

    def until(self, want: Callable[[str], bool], what: str, timeout: float = CHAT_WAIT) -> str:
        """Read lines until one satisfies ``want`` (described by ``what``); return it."""
        fd = self.stream.fileno()
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self._pending:
                raw, self._pending = self._pending.split(b"\n", 1)
                self.lines.append(raw.decode())
                if want(self.lines[-1]):
                    return self.lines[-1]
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{self.name} never showed {what} within {timeout} s: {self.lines}"
            if select.select([fd], [], [], remaining)[0]:
                data = os.read(fd, 65536)
                assert data, f"{self.name} ended before {what}: {self.lines}"
                self._pending += data

    def rest(self) -> list[str]:
        """Every line, up to the end of the stream (the process has exited or is about to)."""
        self._pending += self.stream.read()
        self.lines += self._pending.decode().splitlines()
        self._pending = b""
        return self.lines


class ChatConn:
    """A line-oriented test client on a real socket. Every wait has a deadline."""

    def __init__(self, host: str, port: int, *, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(CHAT_WAIT)
        self.sock.connect((host, port))
        self._buf = b""
        self.eof = False
        self.seen: list[str] = []  # every line received, for failure messages

    def send(self, line: str | bytes) -> None:
        data = line if isinstance(line, bytes) else (line + "\n").encode()
        self.sock.sendall(data)

    def line(self, timeout: float = CHAT_WAIT) -> str:
        """The next line; fails after ``timeout`` seconds or at end of stream."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            if self.eof:
                raise AssertionError(f"connection closed; lines so far: {self.seen[-20:]}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line within {timeout} s; lines so far: {self.seen[-20:]}")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                data = b""
            if not data:
                self.eof = True
            self._buf += data
        raw, self._buf = self._buf.split(b"\n", 1)
        text = self._text(raw)
        self.seen.append(text)
        return text

    def _text(self, raw: bytes) -> str:
        """A received line (without its LF) as text."""
        return raw.decode()

    def expect(self, want: str | Callable[[str], bool], timeout: float = CHAT_WAIT) -> str:
        """Read lines until one equals ``want`` (or satisfies it); return it."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.line(max(0.0, deadline - time.monotonic()))
            if (want(text) if callable(want) else text == want):
                return text

    def until_reply(self, command: str = "/rooms", prefix: str = "* rooms:") -> list[str]:
        """Send a command and return the lines that arrive before its reply: a barrier proving that
        everything the server sent this client before it was processed has been seen."""
        self.send(command)
        lines = []
        while not (text := self.line()).startswith(prefix):
            lines.append(text)
        return lines

    def closed(self, timeout: float = CHAT_WAIT) -> list[str]:
        """Wait for the server to close the connection; return the lines before that."""
        lines = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                lines.append(self.line(max(0.0, deadline - time.monotonic())))
            except AssertionError:
                if self.eof:
                    return lines
                raise

    def close(self) -> None:
        self.sock.close()


class ChatServerThread:
    """A ChatServer on its own event loop in a thread, on 127.0.0.1 and an ephemeral port."""

    def __init__(self, config: Config,
                 loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None) -> None:
        self.config = config
        self.server = ChatServer(config)
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_factory = loop_factory  # None: asyncio's own loop
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with asyncio.Runner(loop_factory=self._loop_factory) as runner:
            runner.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.server.start()
        self._ready.set()
        await self.server.serve_until_stopped()

    def start(self) -> ChatServerThread:
        self._thread.start()
        assert self._ready.wait(CHAT_WAIT), "chat server did not start"
        return self

    @property
    def port(self) -> int:
        return self.server.address[1]

    def call(self, function: Callable[[], object]) -> object:
        """Run ``function`` on the server's loop and return its result (to inspect server state)."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(_call(function), self._loop).result(CHAT_WAIT)

    def stop(self) -> None:
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self.server.stop)
        self._thread.join(CHAT_WAIT)
        assert not self._thread.is_alive(), "chat server did not stop"


async def _call(function: Callable[[], object]) -> object:
    return function()

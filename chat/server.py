"""The chat server: one asyncio event loop, one Client protocol object per TCP connection.

    python3 -m chat.server [--host 0.0.0.0] [--port 5000] [--help for the limits]

Parsing lives in chat.protocol and chat.lines, the nick/room registry in chat.rooms: this module only
moves bytes. What a client is sent is queued on the client and written once per loop iteration (one
transport.write per client per iteration however many lines it got), so a busy room costs one
formatted message plus one list append per recipient.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import struct
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from chat import protocol
from chat.cli import ArgumentParser, non_negative, port, positive_int, raise_open_files_limit
from chat.lines import TOO_LONG, LineReader
from chat.protocol import Command, ProtocolError
from chat.ratelimit import TokenBucket
from chat.rooms import Member, NickTaken, Registry, Room

try:  # a faster event loop, used only when it happens to be installed
    import uvloop
except ImportError:
    uvloop = None

log = logging.getLogger("chat.server")

DEFAULT_HOST = "0.0.0.0"
DEFAULT_PORT = 5000
MAX_LINE = 4096  # bytes in one line, without its line end
MAX_CLIENTS = 10_000
MAX_CLIENTS_PER_ADDRESS = 50
MAX_OUTBUF = 256 * 1024  # bytes waiting for a client that the kernel would not take yet
RATE = 10.0  # lines per second per client, on average (0: no limit)
BURST = 20  # lines a client may send at once before RATE applies
IDLE_TIMEOUT = 3600.0  # seconds without a line from a client before it is disconnected (0: never)
SHUTDOWN_GRACE = 1.5  # seconds given to clients to take their last lines on shutdown (all within 2 s)
LISTEN_BACKLOG = 4096  # pending connections the kernel may queue (capped by net.core.somaxconn)
READ_SIZE = 64 * 1024  # bytes taken from a socket at once


@dataclass
class Config:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    max_line: int = MAX_LINE
    max_clients: int = MAX_CLIENTS
    max_clients_per_address: int = MAX_CLIENTS_PER_ADDRESS
    max_outbuf: int = MAX_OUTBUF
    rate: float = RATE
    burst: int = BURST
    idle_timeout: float = IDLE_TIMEOUT


class Client(asyncio.BufferedProtocol, Member):
    """One connection: its transport, its line reader and limits, and what waits to be written.

    A BufferedProtocol: the loop reads into the server's one read buffer (reads are one at a time),
    instead of allocating a fresh 256 KiB bytes object for every read as asyncio's Protocol does.
    """

    __slots__ = ("address", "bucket", "gone", "idle_timer", "last_active", "outbox", "reader", "server",
                 "transport")

    def __init__(self, server: ChatServer) -> None:
        Member.__init__(self)
        self.server = server
        self.transport: asyncio.Transport
        self.address = ""  # peer IP; empty for a connection refused at the door
        self.reader = LineReader(server.config.max_line)
        self.bucket: TokenBucket | None = None
        self.outbox: list[bytes] = []  # encoded lines waiting for the end of the loop iteration
        self.last_active = 0.0
        self.idle_timer: asyncio.TimerHandle | None = None
        self.gone = False  # disconnected (or refused): out of the registry, nothing more is queued

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport; not an asyncio.Transport instance under uvloop, so no isinstance check here
        self.transport = cast(asyncio.Transport, transport)
        self.server.connected(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.server.read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.server.received(self, self.server.read_buffer[:nbytes].tobytes())

    def eof_received(self) -> bool:
        return False  # the client closed its side: close ours

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connection_lost(self, exc)

    def pause_writing(self) -> None:
        self.server.too_slow(self)

    def __repr__(self) -> str:
        return f"<Client {self.nick} {self.address}>"


class ChatServer:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.registry = Registry()
        self.clients: set[Client] = set()
        self.per_address: Counter[str] = Counter()
        self.read_buffer = memoryview(bytearray(READ_SIZE))  # shared: the loop reads one socket at a time
        self.address: tuple[str, int] = (config.host, config.port)  # the real port once started
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: asyncio.Server | None = None
        self._dirty: list[Client] = []  # clients with a non-empty outbox
        self._flush_handle: asyncio.Handle | None = None
        self._stop: asyncio.Event | None = None
        self._all_gone: asyncio.Event | None = None
        self._handlers: dict[str, Callable[[Client, Command], None]] = {
            protocol.SAY: self._say,
            protocol.NICK: self._nick,
            protocol.JOIN: self._join,
            protocol.LEAVE: self._leave,
            protocol.ROOMS: self._rooms,
            protocol.WHO: self._who,
            protocol.MSG: self._msg,
            protocol.ME: self._me,
            protocol.HELP: self._help,
            protocol.QUIT: self._quit,
        }

    # --- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> tuple[str, int]:
        """Listen; return the address listened on."""
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._listener = await self._loop.create_server(
            lambda: Client(self), self.config.host, self.config.port, backlog=LISTEN_BACKLOG
        )
        host, bound_port = self._listener.sockets[0].getsockname()[:2]
        self.address = (host, bound_port)
        log.info("listening on %s:%d", host, bound_port)
        return self.address

    async def serve(self, *, handle_signals: bool = False) -> None:
        """Start, run until stop() (or SIGTERM/SIGINT with handle_signals), then shut down."""
        await self.start()
        if handle_signals:
            assert self._loop is not None
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._loop.add_signal_handler(sig, self.stop)
        await self.serve_until_stopped()

    async def serve_until_stopped(self) -> None:
        """After start(): wait for stop(), then shut down."""
        assert self._stop is not None
        await self._stop.wait()
        await self.shutdown()

    def stop(self) -> None:
        """Ask serve() to shut down (call from the loop's thread, or via call_soon_threadsafe)."""
        if self._stop is not None:
            self._stop.set()

    async def shutdown(self) -> None:
        """Stop listening, tell every client, give them SHUTDOWN_GRACE to take it, then cut the rest."""
        log.info("shutting down: %d clients", len(self.clients))
        assert self._listener is not None
        self._listener.close()
        self._all_gone = asyncio.Event()  # set by connection_lost once the last client is gone
        farewell = _encode(protocol.shutting_down())
        for client in list(self.clients):
            self.disconnect(client, "server shutdown", farewell=farewell, tell_room=False)
        if self.clients:
            try:
                await asyncio.wait_for(self._all_gone.wait(), SHUTDOWN_GRACE)
            except TimeoutError:
                log.warning("%d clients did not take the shutdown notice in time", len(self.clients))
                for client in list(self.clients):
                    client.transport.abort()
        await asyncio.sleep(0)  # let connection_lost callbacks run
        log.info("stopped")

    # --- connections -------------------------------------------------------------------------------

    def connected(self, client: Client) -> None:
        transport = client.transport
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if peer else "?"
        refusal = None
        if len(self.clients) >= self.config.max_clients:
            refusal = protocol.server_full(self.config.max_clients)
        elif self.per_address[address] >= self.config.max_clients_per_address:
            refusal = protocol.too_many_from_address(self.config.max_clients_per_address)
        if refusal is not None:
            log.warning("refused %s: %s", address, refusal)
            client.gone = True
            transport.write(_encode(refusal))
            transport.close()
            return

        client.address = address
        self.clients.add(client)
        self.per_address[address] += 1
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small lines go out at once
        transport.set_write_buffer_limits(high=self.config.max_outbuf)
        now = self._loop_time()
        client.last_active = now
        if self.config.rate > 0:
            client.bucket = TokenBucket(self.config.rate, self.config.burst, now)
        if self.config.idle_timeout > 0:
            client.idle_timer = self._loop_call_at(now + self.config.idle_timeout, self._check_idle, client)
        nick = self.registry.add(client)
        self.send(client, protocol.greeting(nick))
        log.info("%s connected from %s", nick, _peer(peer))

    def connection_lost(self, client: Client, exc: Exception | None) -> None:
        if client not in self.clients:
            return  # refused at the door
        if not client.gone:
            self.disconnect(client, f"connection lost: {exc}" if exc else "connection closed")
        self.clients.discard(client)
        self.per_address[client.address] -= 1
        if not self.per_address[client.address]:
            del self.per_address[client.address]
        if not self.clients and self._all_gone is not None:
            self._all_gone.set()

    def disconnect(self, client: Client, reason: str, *, farewell: bytes = b"", abort: bool = False,
                   tell_room: bool = True) -> None:
        """Take a client out of the registry, tell its room, write what is pending (then farewell)
        and close; with abort, drop what is pending instead."""
        if client.gone:
            return
        client.gone = True
        if client.idle_timer is not None:
            client.idle_timer.cancel()
        room = self.registry.remove(client)
        if room is not None and tell_room:
            self.broadcast(room, client, protocol.left(client.nick, room.name, reason))
        log.info("%s disconnected (%s)", client.nick, reason)
        if abort:
            client.outbox.clear()
            client.transport.abort()
            return
        if farewell:
            client.outbox.append(farewell)
        if client.outbox:
            client.transport.write(b"".join(client.outbox))
            client.outbox.clear()
        client.transport.close()

    def too_slow(self, client: Client) -> None:
        """The client's outbound buffer passed max_outbuf: it is not reading; cut it off."""
        log.warning("%s is not reading (over %d bytes waiting): disconnecting", client.nick,
                    self.config.max_outbuf)
        sock = client.transport.get_extra_info("socket")
        if sock is not None:  # reset at once: free what the kernel holds for it too
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.disconnect(client, "too slow", abort=True)

    def _check_idle(self, client: Client) -> None:
        deadline = client.last_active + self.config.idle_timeout
        if self._loop_time() < deadline:  # active since the timer was set: look again later
            client.idle_timer = self._loop_call_at(deadline, self._check_idle, client)
            return
        client.idle_timer = None
        farewell = _encode(protocol.idle_timeout(self.config.idle_timeout))
        self.disconnect(client, "idle timeout", farewell=farewell)

    # --- input -------------------------------------------------------------------------------------

    def received(self, client: Client, data: bytes) -> None:
        now = client.last_active = self._loop_time()
        for raw in client.reader.feed(data):
            if client.gone:
                return
            if raw is TOO_LONG:
                self.send(client, protocol.line_too_long(self.config.max_line))
                continue
            if client.bucket is not None and not client.bucket.take(now):
                self.send(client, protocol.rate_limited(self.config.rate))
                continue
            try:
                command = protocol.parse(raw.decode())
            except UnicodeDecodeError:
                self.send(client, protocol.invalid_utf8())
                continue
            except ProtocolError as err:
                self.send(client, protocol.error(str(err)))
                continue
            if command is not None:
                self._handlers[command.name](client, command)

    # --- commands ----------------------------------------------------------------------------------

    def _say(self, client: Client, command: Command) -> None:
        self._to_room(client, protocol.room_message, command.text)

    def _me(self, client: Client, command: Command) -> None:
        self._to_room(client, protocol.action, command.text)

    def _to_room(self, client: Client, render: Callable[[str, str, str], str], text: str) -> None:
        """A line from `client` to the rest of its room, rendered as render(room, nick, text)."""
        room = client.room
        if room is None:
            self.send(client, protocol.join_first())
        else:
            self.broadcast(room, client, render(room.name, client.nick, text))

    def _nick(self, client: Client, command: Command) -> None:
        try:
            old = self.registry.rename(client, command.target)
        except NickTaken:
            self.send(client, protocol.nick_taken(command.target))
            return
        self.send(client, protocol.nick_changed_self(client.nick))
        if client.room is not None and old != client.nick:
            self.broadcast(client.room, client, protocol.nick_changed(old, client.nick))
        log.info("%s is now %s", old, client.nick)

    def _join(self, client: Client, command: Command) -> None:
        if client.room is not None and client.room.name.lower() == command.target.lower():
            self.send(client, protocol.already_in(client.room.name))
            return
        left, room = self.registry.join(client, command.target)
        if left is not None:
            self.send(client, protocol.left_self(left.name))
            self.broadcast(left, client, protocol.left(client.nick, left.name))
        self.send(client, protocol.joined_self(room.name, len(room.members)))
        self.broadcast(room, client, protocol.joined(client.nick, room.name))
        log.info("%s joined %s", client.nick, room.name)

    def _leave(self, client: Client, command: Command) -> None:
        room = self.registry.leave(client)
        if room is None:
            self.send(client, protocol.not_in_room())
            return
        self.send(client, protocol.left_self(room.name))
        self.broadcast(room, client, protocol.left(client.nick, room.name))
        log.info("%s left %s", client.nick, room.name)

    def _rooms(self, client: Client, command: Command) -> None:
        self.send(client, protocol.rooms(self.registry.rooms()))

    def _who(self, client: Client, command: Command) -> None:
        room = client.room
        if room is None:
            self.send(client, protocol.join_first())
        else:
            self.send(client, protocol.who(room.name, [member.nick for member in room.members]))

    def _msg(self, client: Client, command: Command) -> None:
        recipient = self.registry.find(command.target)
        if not isinstance(recipient, Client):
            self.send(client, protocol.no_such_nick(command.target))
            return
        self.send(recipient, protocol.private_message(client.nick, command.text))
        self.send(client, protocol.private_sent(recipient.nick, command.text))

    def _help(self, client: Client, command: Command) -> None:
        self.send(client, protocol.help_text())

    def _quit(self, client: Client, command: Command) -> None:
        self.disconnect(client, "quit", farewell=_encode(protocol.bye()))

    # --- output ------------------------------------------------------------------------------------

    def send(self, client: Client, line: str) -> None:
        """Queue one line for one client."""
        if client.gone:
            return
        if not client.outbox:
            self._dirty.append(client)
            self._schedule_flush()
        client.outbox.append(_encode(line))

    def broadcast(self, room: Room, sender: Member | None, line: str) -> None:
        """Queue one line for every member of a room but the sender. The hot loop of the server."""
        data = _encode(line)
        dirty = self._dirty
        for member in room.members:
            if member is not sender:
                outbox = member.outbox  # type: ignore[attr-defined]  # members are Clients
                if not outbox:
                    dirty.append(member)
                outbox.append(data)
        if dirty:
            self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flush_handle is None:
            assert self._loop is not None
            self._flush_handle = self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        """Once per loop iteration: one write per client with something queued."""
        self._flush_handle = None
        dirty, self._dirty = self._dirty, []
        for client in dirty:
            outbox = client.outbox
            if not outbox or client.gone:
                continue
            data = outbox[0] if len(outbox) == 1 else b"".join(outbox)
            outbox.clear()
            client.transport.write(data)  # may call pause_writing -> too_slow

    def _loop_time(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    def _loop_call_at(self, when: float, callback: Callable[[Client], None],
                      client: Client) -> asyncio.TimerHandle:
        assert self._loop is not None
        return self._loop.call_at(when, callback, client)


def _encode(line: str) -> bytes:
    return (line + "\n").encode()


def _peer(peer: tuple | None) -> str:
    return f"{peer[0]}:{peer[1]}" if peer else "?"


# --- command line ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> tuple[Config, str]:
    parser = ArgumentParser(prog="chat-server",
                            description="Multi-room TCP chat server (one line per message).")
    parser.add_argument("--host", default=DEFAULT_HOST, metavar="ADDR",
                        help="address to listen on (default %(default)s)")
    parser.add_argument("--port", type=port, default=DEFAULT_PORT,
                        help="TCP port, 0 for any (default %(default)s)")
    parser.add_argument("--max-line", type=positive_int, default=MAX_LINE, metavar="BYTES",
                        help="longest accepted line in bytes (default %(default)s)")
    parser.add_argument("--max-clients", type=positive_int, default=MAX_CLIENTS, metavar="N",
                        help="clients at once (default %(default)s)")
    parser.add_argument("--max-clients-per-address", type=positive_int, default=MAX_CLIENTS_PER_ADDRESS,
                        metavar="N",
                        help="clients at once from one IP address (default %(default)s)")
    parser.add_argument("--max-outbuf", type=positive_int, default=MAX_OUTBUF, metavar="BYTES",
                        help="bytes that may wait for a client that is not reading before it is "
                             "disconnected (default %(default)s)")
    parser.add_argument("--rate", type=non_negative, default=RATE, metavar="LINES_PER_S",
                        help="lines per second per client, 0 for no limit (default %(default)s)")
    parser.add_argument("--burst", type=positive_int, default=BURST, metavar="LINES",
                        help="lines a client may send at once before --rate applies (default %(default)s)")
    parser.add_argument("--idle-timeout", type=non_negative, default=IDLE_TIMEOUT, metavar="SECONDS",
                        help="seconds without a line before a client is disconnected, 0 for never "
                             "(default %(default)s)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                        help="(default %(default)s)")
    args = parser.parse_args(argv)
    config = Config(
        host=args.host,
        port=args.port,
        max_line=args.max_line,
        max_clients=args.max_clients,
        max_clients_per_address=args.max_clients_per_address,
        max_outbuf=args.max_outbuf,
        rate=args.rate,
        burst=args.burst,
        idle_timeout=args.idle_timeout,
    )
    return config, args.log_level


def main(argv: list[str] | None = None) -> None:
    config, log_level = parse_args(argv)
    # Under systemd the journal stamps each line itself.
    stamp = "" if os.environ.get("JOURNAL_STREAM") else "%(asctime)s "
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format=stamp + "%(levelname)s %(message)s")
    raise_open_files_limit()
    server = ChatServer(config)
    try:
        if uvloop is not None:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(server.serve(handle_signals=True))
        else:
            asyncio.run(server.serve(handle_signals=True))
    except OSError as err:
        reason = os.strerror(err.errno) if err.errno else str(err)
        log.error("cannot listen on %s:%d: %s", config.host, config.port, reason)
        sys.exit(1)
    sys.exit(0)


if __name__ == "__main__":
    main()

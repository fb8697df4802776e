"""The chat server: one asyncio event loop, one Client protocol object per TCP connection.

    python3 -m chat.server [--host 0.0.0.0] [--port 5000] [--irc-port 6667] [--help for the limits]

Two listeners, one world: line clients on --port, IRC clients on --irc-port (docs/irc.md), in the same
rooms under one nickname namespace. Parsing lives in chat.protocol, chat.irc and chat.lines, the
nick/room registry in chat.rooms, the IRC commands in chat.ircd: this module moves bytes and tells
each room's members what happened, each in its own dialect. What a
client is sent is queued on the client and written once per loop iteration (one
transport.write per client per iteration however many lines it got), so a busy room costs one
formatted message per dialect its members speak (none for a dialect nobody there speaks) plus one list
append per recipient.

What a client sends is handled in turns of at most LINES_PER_TURN lines, each costing a rate token; its
socket is not read while lines of it wait (for their turn, or for tokens: flood control as in IRC
servers' fakelag), so the kernel's buffers and TCP flow control hold a flooder back, not our memory, and
no client gets more than one turn per loop iteration. One over its rate gets one notice per episode;
one with more than --max-recvq bytes waiting while over its rate is disconnected (excess flood).

Reference: docs/chat.md
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import logging
import os
import re
import signal
import socket
import struct
import sys
import termios
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from chat import irc, protocol
from chat.cli import ArgumentParser, non_negative, port, positive_int, raise_open_files_limit
from chat.ircd import IrcDialect
from chat.lines import TOO_LONG, LineReader, Marker
from chat.protocol import Command, ProtocolError
from chat.ratelimit import TokenBucket
from chat.rooms import Member, NickTaken, Registry, Room

try:  # a faster event loop, used only when it happens to be installed
    import uvloop
except ImportError:
    uvloop = None

log = logging.getLogger("chat.server")

DEFAULT_HOST = "0.0.0.0"
MAX_LINE = 4096  # bytes in one line, without its line end
MAX_CLIENTS = 10_000
MAX_CLIENTS_PER_ADDRESS = 50
MAX_OUTBUF = 256 * 1024  # bytes waiting for a client that the kernel would not take yet
RATE = 10.0  # lines per second per client, on average (0: no limit)
BURST = 20  # lines a client may send at once before RATE applies
IDLE_TIMEOUT = 3600.0  # seconds without a line from a client before it is disconnected (0: never)
IRC_PORT = 6667  # the IRC listener's port (0: none)
PING_INTERVAL = 120.0  # seconds of silence before an IRC client is pinged; dropped after twice that (0: never)
LINE_USER = "line"  # the user name IRC clients see for a line client (nick!line@address)
SHUTDOWN_GRACE = 1.5  # seconds given to clients to take their last lines on shutdown (all within 2 s)
LISTEN_BACKLOG = 4096  # pending connections the kernel may queue (capped by net.core.somaxconn)
READ_SIZE = 64 * 1024  # bytes taken from a socket at once
MAX_RECVQ = 32 * 1024  # bytes of input that may wait while a client is over its rate (else: excess flood)
LINES_PER_TURN = 3  # lines of one client handled before the others get their turn (as ngircd: 3 commands)
THROTTLE_CHECK = 0.5  # seconds between looks at what a throttled client has sent since (for /quit)
RESERVED_FILES = 32  # open files kept for the server itself when --max-clients is clamped to the limit
REFUSAL_LOG_INTERVAL = 10.0  # seconds summed up by one log line about refused connections
REFUSAL_LOG_ADDRESSES = 5  # addresses named in that summary, the busiest first

# A /quit (or /exit) line as chat.protocol.parse reads it, from its '/' on (LineReader.starts_a_line checks
# that a line starts there): honoured at once even while over the rate.
QUIT_LINE = re.compile(rb"/(?:[qQ][uU][iI][tT]|[eE][xX][iI][tT])(?: [^\n]*)?\r?\n")
IRC_QUIT_LINE = re.compile(rb"[qQ][uU][iI][tT](?: [^\n]*)?\r?\n")  # the same for IRC's QUIT
OUT_OF_FILES = "socket.accept() out of system resource"  # asyncio's message when accept() fails so


@dataclass
class Config:
    host: str = DEFAULT_HOST
    port: int = protocol.DEFAULT_PORT
    max_line: int = MAX_LINE
    max_clients: int = MAX_CLIENTS
    max_clients_per_address: int = MAX_CLIENTS_PER_ADDRESS
    max_outbuf: int = MAX_OUTBUF
    rate: float = RATE
    burst: int = BURST
    idle_timeout: float = IDLE_TIMEOUT
    max_recvq: int = MAX_RECVQ
    refusal_log_interval: float = REFUSAL_LOG_INTERVAL
    irc_port: int | None = None  # None: no IRC listener; 0: any free port
    server_name: str = "chatlab"  # the IRC messages' source (the command line's default: the host name)
    irc_password: str = ""  # PASS that IRC clients must give (empty: none)
    motd: tuple[str, ...] = ()  # the IRC message of the day, line by line (empty: 422)
    ping_interval: float = PING_INTERVAL


class Client(asyncio.BufferedProtocol, Member):
    """One connection: its transport, its line reader and limits, and what waits to be written.

    A BufferedProtocol: the loop reads into the server's one read buffer (reads are one at a time),
    instead of allocating a fresh 256 KiB bytes object for every read as asyncio's Protocol does.
    """

    __slots__ = ("address", "away", "bucket", "fd", "gone", "idle_timer", "last_active", "last_heard",
                 "modes", "outbox", "ping_timer", "pinged", "quit_checked", "reader", "realname",
                 "registration", "server", "signon", "source", "throttled", "transport", "turn", "user")

    def __init__(self, server: ChatServer, dialect_irc: bool = False) -> None:
        Member.__init__(self, dialect_irc)
        self.server = server
        self.transport: asyncio.Transport
        self.address = ""  # peer IP; empty for a connection refused at the door
        self.reader = LineReader(irc.MAX_TAGS + irc.MAX_CONTENT if dialect_irc else server.config.max_line)
        self.registration: irc.Registration | None = None  # an IRC connection's, until it is registered
        self.user = LINE_USER
        self.realname = ""
        self.source = ""  # nick!user@host, as IRC messages from it name it
        self.away = ""  # an IRC client's AWAY message
        self.modes = ""  # an IRC client's user modes
        self.signon = 0  # when it connected (seconds since the epoch)
        self.last_heard = 0.0  # loop time of the last bytes from it
        self.pinged = False  # an IRC PING went out in the current silence
        self.ping_timer: asyncio.TimerHandle | None = None
        self.bucket: TokenBucket | None = None
        self.outbox: list[bytes] = []  # encoded lines waiting for the end of the loop iteration
        self.last_active = 0.0
        self.idle_timer: asyncio.TimerHandle | None = None
        self.gone = False  # disconnected (or refused): out of the registry, nothing more is queued
        self.fd = -1  # the socket's file descriptor, to ask the kernel how much input waits in it
        self.turn: asyncio.Handle | None = None  # its next turn, when lines of it wait
        self.throttled = False  # over its rate (told so once) until its bucket has refilled
        self.quit_checked = 0  # input seen (fed + unread) when its waiting lines were last searched for /quit

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport; not an asyncio.Transport instance under uvloop, so no isinstance check here
        self.transport = cast(asyncio.Transport, transport)
        self.server.connected(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.server.read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.server.received(self, self.server.read_buffer[:nbytes])

    def eof_received(self) -> bool:
        return False  # the client closed its side: close ours (seen only once its waiting lines were handled)

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
        self._refused: Counter[tuple[str, str]] = Counter()  # (address, reason) since the last summary
        self._refusal_log: asyncio.TimerHandle | None = None
        self._spare_fd = -1  # given up for a moment when accept() finds no file descriptor left
        self._irc_listener: asyncio.Server | None = None
        self.irc_address: tuple[str, int] | None = None  # the IRC listener's, once started
        self.started = int(time.time())
        self.binding = config.port  # the port being bound (for the error if that fails)
        self.irc = IrcDialect(self)
        self.irc_caps: dict[Client, set[str]] = {}  # the capabilities registered IRC clients have enabled
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
            protocol.PING: self._ping,
            protocol.TOPIC: self._topic,
        }

    # --- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> tuple[str, int]:
        """Listen; return the address listened on."""
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._loop.set_exception_handler(self._loop_error)
        self._spare_fd = os.open(os.devnull, os.O_RDONLY)
        self.binding = self.config.port
        self._listener = await self._loop.create_server(
            lambda: Client(self), self.config.host, self.config.port, backlog=LISTEN_BACKLOG
        )
        host, bound_port = self._listener.sockets[0].getsockname()[:2]
        self.address = (host, bound_port)
        log.info("listening on %s:%d", host, bound_port)
        if self.config.irc_port is not None:
            self.binding = self.config.irc_port
            self._irc_listener = await self._loop.create_server(
                lambda: Client(self, dialect_irc=True), self.config.host, self.config.irc_port,
                backlog=LISTEN_BACKLOG)
            irc_host, irc_port = self._irc_listener.sockets[0].getsockname()[:2]
            self.irc_address = (irc_host, irc_port)
            log.info("IRC on %s:%d as %s", irc_host, irc_port, self.config.server_name)
        return self.address

    async def serve(self, *, handle_signals: bool = False) -> None:
        """Start, run until stop() (or SIGTERM/SIGINT/SIGHUP with handle_signals), then shut down.

        The signals are handled before the first listener serves: the line listener serves while the IRC listener
        is being made, and a client served then would meet a process that a SIGTERM kills outright, without the
        shutdown notice. A signal that comes while start() runs shuts the server down once it has started."""
        if handle_signals:
            loop = asyncio.get_running_loop()
            # SIGHUP too: a server run from a terminal that closes says goodbye to its clients and exits.
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.add_signal_handler(sig, self._signalled, sig)
        await self.start()
        await self.serve_until_stopped()

    async def serve_until_stopped(self) -> None:
        """After start(): wait for stop(), then shut down."""
        assert self._stop is not None
        await self._stop.wait()
        await self.shutdown()

    def _signalled(self, sig: signal.Signals) -> None:
        log.info("%s: shutting down", sig.name)
        self.stop()

    def stop(self) -> None:
        """Ask serve() to shut down (call from the loop's thread, or via call_soon_threadsafe)."""
        if self._stop is not None:
            self._stop.set()

    async def shutdown(self) -> None:
        """Stop listening, tell every client, give them SHUTDOWN_GRACE to take it, then cut the rest."""
        log.info("shutting down: %d clients", len(self.clients))
        assert self._listener is not None
        self._listener.close()
        if self._irc_listener is not None:
            self._irc_listener.close()
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
        self._log_refusals()
        if self._spare_fd >= 0:
            os.close(self._spare_fd)
            self._spare_fd = -1
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
            full = len(self.clients) >= self.config.max_clients
            self._count_refusal(address, "server full" if full else "per-address cap")
            client.gone = True
            if client.irc:
                why = "Server full" if full else "Too many connections from your address"
                transport.write(self.irc.closing_link(address, why))
            else:
                transport.write(_encode(refusal))
            transport.close()
            return

        client.address = address
        self.clients.add(client)
        self.per_address[address] += 1
        sock = transport.get_extra_info("socket")
        if sock is not None:
            client.fd = sock.fileno()
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small lines go out at once
        transport.set_write_buffer_limits(high=self.config.max_outbuf)
        now = self._loop_time()
        client.last_active = now
        if self.config.rate > 0:
            client.bucket = TokenBucket(self.config.rate, self.config.burst, now)
        if self.config.idle_timeout > 0:
            client.idle_timer = self._loop_call_at(now + self.config.idle_timeout, self._check_idle, client)
        client.last_heard = now
        if self.config.ping_interval > 0:
            first = self.config.ping_interval if client.irc else 2 * self.config.ping_interval
            client.ping_timer = self._loop_call_at(now + first, self._check_alive, client)
        client.signon = int(time.time())
        if client.irc:
            self.irc.connected(client)
            log.info("IRC connection from %s", _peer(peer))
            return
        nick = self.registry.add(client)
        client.source = irc.prefix(nick, LINE_USER, address)
        self.send(client, protocol.greeting(nick))
        log.info("%s connected from %s", nick, _peer(peer))

    def connection_lost(self, client: Client, exc: Exception | None) -> None:
        if client not in self.clients:
            return  # refused at the door
        if not client.gone:
            self.disconnect(client, f"connection lost: {exc}" if exc else "connection closed")
        self.clients.discard(client)
        self.irc_caps.pop(client, None)
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
        for timer in (client.idle_timer, client.ping_timer, client.turn):
            if timer is not None:
                timer.cancel()
        client.turn = None
        registered = client.registration is None
        rooms = self.registry.remove(client) if registered else []
        if registered and client.nick:
            self.irc.given_up(client.nick, client)
        if tell_room and rooms:
            irc_reason = self.irc.quit_reason(reason) if client.irc else reason
            self.tell_neighbours(client, rooms, lambda room: protocol.left(client.nick, room.name, irc_reason),
                                 irc.format_message(client.source, "QUIT", irc_reason))
        log.info("%s disconnected (%s)", client.nick or "(unregistered IRC)", reason)
        if client.irc and not abort:
            farewell = self.irc.closing_link(client.address, self.irc.quit_reason(reason))
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

    def _count_refusal(self, address: str, reason: str) -> None:
        """Refused connections are summed up in one log line per address and reason per interval."""
        self._refused[address, reason] += 1
        if self._refusal_log is None:
            assert self._loop is not None
            self._refusal_log = self._loop.call_later(self.config.refusal_log_interval, self._log_refusals)

    def _log_refusals(self) -> None:
        if self._refusal_log is not None:
            self._refusal_log.cancel()
            self._refusal_log = None
        interval = f"{self.config.refusal_log_interval:g} s"
        counts = self._refused.most_common()
        for (address, reason), count in counts[:REFUSAL_LOG_ADDRESSES]:
            log.warning("refused %s connection%s from %s in the last %s: %s", f"{count:,}",
                        "" if count == 1 else "s", address, interval, reason)
        if len(counts) > REFUSAL_LOG_ADDRESSES:
            rest = counts[REFUSAL_LOG_ADDRESSES:]
            log.warning("refused %s more connections from %d other addresses in the last %s",
                        f"{sum(count for _, count in rest):,}", len({address for (address, _), _ in rest}),
                        interval)
        self._refused.clear()

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        """asyncio's accept() found no file descriptor left (it stops accepting for a second by itself):
        refuse what waits in the backlog with '! server full' instead of a traceback per attempt."""
        listener = context.get("socket")  # the listening socket (an asyncio TransportSocket)
        if context.get("message") != OUT_OF_FILES or not hasattr(listener, "fileno"):
            loop.default_exception_handler(context)
            return
        self._refuse_backlog(listener.fileno())

    def _refuse_backlog(self, listen_fd: int) -> None:
        """Accept and close every pending connection with '! server full', using the spare descriptor."""
        if self._spare_fd < 0:
            return
        os.close(self._spare_fd)
        refusal = _encode(protocol.server_full(self.config.max_clients))
        listener = socket.socket(fileno=listen_fd)  # the same descriptor, not a copy: detached below
        try:
            while True:
                try:
                    conn, peer = listener.accept()
                except OSError:  # the backlog is empty (or still no descriptor)
                    break
                with conn:
                    conn.setblocking(False)
                    with contextlib.suppress(OSError):
                        conn.send(refusal)
                self._count_refusal(str(peer[0]) if peer else "?", "out of file descriptors")
        finally:
            listener.detach()
            try:
                self._spare_fd = os.open(os.devnull, os.O_RDONLY)
            except OSError:
                self._spare_fd = -1

    def _check_idle(self, client: Client) -> None:
        deadline = client.last_active + self.config.idle_timeout
        if self._loop_time() < deadline:  # active since the timer was set: look again later
            client.idle_timer = self._loop_call_at(deadline, self._check_idle, client)
            return
        client.idle_timer = None
        farewell = _encode(protocol.idle_timeout(self.config.idle_timeout))
        self.disconnect(client, "idle timeout", farewell=farewell)

    def _check_alive(self, client: Client) -> None:
        """The keepalive (docs/keepalive.md): after --ping-interval of silence an IRC client is sent a PING;
        after twice that any client is dropped (ping timeout)."""
        interval = self.config.ping_interval
        now = self._loop_time()
        silent = now - client.last_heard
        if silent >= 2 * interval:
            client.ping_timer = None
            if client.irc:
                self.disconnect(client, f"Ping timeout: {interval:g} seconds")
            else:
                self.disconnect(client, "ping timeout", farewell=_encode(protocol.ping_timeout(2 * interval)))
            return
        if silent < interval:
            client.pinged = False
        elif client.irc and not client.pinged:
            client.pinged = True
            self.irc.send(client, irc.format_message("", "PING", self.config.server_name))
        pinging = client.irc and not client.pinged
        next_check = client.last_heard + (interval if pinging else 2 * interval)
        client.ping_timer = self._loop_call_at(next_check, self._check_alive, client)

    # --- input -------------------------------------------------------------------------------------

    def received(self, client: Client, data: memoryview) -> None:
        if client.gone:
            return
        client.reader.feed(data)
        if client.turn is None:
            self._turn(client)

    def _turn(self, client: Client) -> None:
        """Handle up to LINES_PER_TURN of a client's waiting lines, as its rate allows; then read its
        socket again only if none is left, else come back at its next turn (or token)."""
        client.turn = None
        if client.gone:
            return
        reader, bucket = client.reader, client.bucket
        now = self._loop_time()
        client.last_heard = now
        if client.throttled and bucket is not None and bucket.full(now):
            client.throttled = False  # under its rate long enough: the next excess is a new episode
        for _ in range(LINES_PER_TURN):
            if bucket is not None and bucket.wait(now) > 0:
                if reader.has_line():
                    self._throttle(client, now)
                    return
                break
            raw = reader.next_line()
            if raw is None:
                break
            if bucket is not None:
                bucket.charge(1)
            if client.irc:
                client.last_active = now
                self.irc.line(client, raw)
            else:
                self._line(client, raw, now)
            if client.gone:
                return
        else:
            if reader.has_line():  # its turn is over; the others' come first
                reader.compact()
                self._pause(client)
                assert self._loop is not None
                client.turn = self._loop.call_soon(self._turn, client)
                return
        reader.compact()
        if not client.transport.is_reading():  # paused by an earlier turn or throttle: read it again
            client.transport.resume_reading()

    def _line(self, client: Client, raw: bytes | Marker, now: float) -> None:
        if raw is TOO_LONG:
            client.last_active = now
            self.send(client, protocol.line_too_long(self.config.max_line))
            return
        assert isinstance(raw, bytes)
        try:
            command = protocol.parse(raw.decode())
        except UnicodeDecodeError:
            client.last_active = now
            self.send(client, protocol.invalid_utf8())
            return
        except ProtocolError as err:
            client.last_active = now
            self.send(client, protocol.error(str(err)))
            return
        if command is not None:
            if command.name != protocol.PING:  # the keepalive keeps a connection alive, not its user active
                client.last_active = now
            self._handlers[command.name](client, command)
        else:
            client.last_active = now

    def _throttle(self, client: Client, now: float) -> None:
        """Over its rate with lines waiting: stop reading it until its next token (one notice per episode);
        honour a waiting /quit at once; too much input waiting is an excess flood."""
        self._pause(client)
        client.reader.compact()
        if not client.throttled:
            client.throttled = True
            if not client.irc:  # IRC's fakelag is silent
                self.send(client, protocol.rate_limited(self.config.rate))
        unread = _unread_bytes(client.fd)
        if client.reader.pending + unread > self.config.max_recvq:
            farewell = _encode(protocol.excess_flood(self.config.max_recvq))
            self.disconnect(client, "Excess Flood" if client.irc else "excess flood", farewell=farewell)
            return
        if self._quit_waiting(client, unread):
            return
        assert client.bucket is not None
        wait = min(client.bucket.wait(now), THROTTLE_CHECK)  # before its next token: look for a /quit
        client.turn = self._loop_call_at(now + wait, self._turn, client)

    def _quit_waiting(self, client: Client, unread: int = 0) -> bool:
        """A /quit among the lines of a throttled client (read, or ``unread`` in the kernel) is honoured
        at once; what waits before it is dropped. True if the client is gone. Looked for only when
        something came since the last look."""
        seen = client.reader.fed + unread
        if seen == client.quit_checked:
            return False
        client.quit_checked = seen
        if client.reader.starts_a_line(IRC_QUIT_LINE if client.irc else QUIT_LINE, _peek(client.fd, unread)):
            if client.irc:
                self.disconnect(client, self.irc.quit_reason("Quit"))
            else:
                self._quit(client, Command(protocol.QUIT))
            return True
        return False

    def _pause(self, client: Client) -> None:
        """Stop reading its socket: lines of it wait (pause_reading is a no-op if already paused)."""
        client.transport.pause_reading()

    # --- commands ----------------------------------------------------------------------------------

    def _say(self, client: Client, command: Command) -> None:
        self._to_room(client, command.text, action=False)

    def _me(self, client: Client, command: Command) -> None:
        self._to_room(client, command.text, action=True)

    def _to_room(self, client: Client, text: str, *, action: bool) -> None:
        """A line from a line client to the rest of its room."""
        room = client.room
        if room is None:
            self.send(client, protocol.join_first())
            return
        data = (protocol.action if action else protocol.room_message)(room.name, client.nick, text).encode()
        if len(data) > self.config.max_line:  # the nick and room pushed it past the limit
            self.send(client, protocol.line_too_long(self.config.max_line))
            return
        body = irc.action(text) if action else text
        # the hot path: the IRC form written out (chat.irc.format_message gives the same line), if anyone needs it
        irc_data = self.irc.encode(f":{client.source} PRIVMSG {room.name} :{body}") if room.irc_members else b""
        self._fan_out(room, client, data + b"\n", irc_data)

    def say_in(self, room: Room, sender: Client, text: str, *, notice: bool = False) -> None:
        """An IRC client's PRIVMSG (or NOTICE) to a room: IRC members get it as sent, line members as
        ``[#room] nick: text`` (a CTCP ACTION as ``[#room] * nick text``; other CTCPs not at all)."""
        irc_data = self.irc.encode(f":{sender.source} {'NOTICE' if notice else 'PRIVMSG'} {room.name} :{text}")
        line_data = b""
        if len(room.members) > room.irc_members:  # line clients there: their form too
            acted = irc.action_text(text)
            if acted is not None:
                line_data = _encode(protocol.action(room.name, sender.nick, irc.for_line_clients(acted)),
                                    self.config.max_line)
            elif not irc.is_ctcp(text):
                line_data = _encode(protocol.room_message(room.name, sender.nick, irc.for_line_clients(text)),
                                    self.config.max_line)
        self._fan_out(room, sender, line_data, irc_data)

    def tell_privately(self, sender: Client, recipient: Client, text: str, *, notice: bool = False) -> None:
        """An IRC client's PRIVMSG or NOTICE to one nick, of either dialect."""
        if recipient.irc:
            self._queue(recipient, self.irc.encode(irc.format_message(
                sender.source, "NOTICE" if notice else "PRIVMSG", recipient.nick, text)))
            return
        acted = irc.action_text(text)
        if acted is not None:
            line = protocol.private_action(sender.nick, irc.for_line_clients(acted))
        elif irc.is_ctcp(text):
            return
        else:
            line = protocol.private_message(sender.nick, irc.for_line_clients(text))
        self.send(recipient, line)

    def _nick(self, client: Client, command: Command) -> None:
        try:
            old = self.registry.rename(client, command.target)
        except NickTaken:
            self.send(client, protocol.nick_taken(command.target))
            return
        self.send(client, protocol.nick_changed_self(client.nick))
        self.renamed(client, old)

    def renamed(self, client: Client, old: str) -> None:
        """Tell a renamed member's rooms (an IRC member itself too, as IRC does)."""
        old_source = client.source
        client.source = irc.prefix(client.nick, client.user, client.address)
        if old == client.nick:
            return
        if old.lower() != client.nick.lower():
            self.irc.given_up(old, client)
        nick_line = irc.format_message(old_source, "NICK", client.nick)
        if client.irc:
            self.irc.send(client, nick_line)
        self.tell_neighbours(client, client.rooms, lambda room: protocol.nick_changed(old, client.nick),
                             nick_line)
        log.info("%s is now %s", old, client.nick)

    def _join(self, client: Client, command: Command) -> None:
        if client.room is not None and client.room.name.lower() == command.target.lower():
            self.send(client, protocol.already_in(client.room.name))
            return
        if client.room is not None:
            left = client.room
            self.registry.leave(client)
            self.send(client, protocol.left_self(left.name))
            self.parted(left, client, "")
        room = self.registry.enter(client, command.target)
        self.send(client, protocol.joined_self(room.name, len(room.members)))
        if room.topic:
            self.send(client, protocol.topic_is(room.name, room.topic, room.topic_by))
        self.joined(room, client)

    def joined(self, room: Room, client: Client) -> None:
        """Tell a room a member has joined (an IRC member itself too, as IRC does)."""
        if not room.created:
            room.created = int(time.time())
        join = irc.format_message(client.source, "JOIN", room.name)
        if client.irc:
            self.irc.send(client, join)
        self.broadcast(room, client, protocol.joined(client.nick, room.name), join)
        log.info("%s joined %s", client.nick, room.name)

    def parted(self, room: Room, client: Client, reason: str) -> None:
        """Tell a room (out of which the registry has taken ``client``) that it has left."""
        part = irc.format_message(client.source, "PART", room.name, *([reason] if reason else []))
        if client.irc:
            self.irc.send(client, part)
        self.broadcast(room, client, protocol.left(client.nick, room.name, irc.for_line_clients(reason)), part)
        log.info("%s left %s", client.nick, room.name)

    def _leave(self, client: Client, command: Command) -> None:
        room = self.registry.leave(client)
        if room is None:
            self.send(client, protocol.not_in_room())
            return
        self.send(client, protocol.left_self(room.name))
        self.parted(room, client, "")

    def _topic(self, client: Client, command: Command) -> None:
        room = client.room
        if room is None:
            self.send(client, protocol.join_first())
        elif not command.text:
            self.send(client, protocol.topic_is(room.name, room.topic, room.topic_by) if room.topic
                      else protocol.no_topic(room.name))
        else:
            self.set_topic(room, client, command.text[: irc.TOPICLEN])

    def set_topic(self, room: Room, client: Client, topic: str) -> None:
        """Any member may set its room's topic; everyone in the room (the setter too) is told."""
        room.topic, room.topic_by, room.topic_at = topic, client.nick, int(time.time())
        shown = irc.for_line_clients(topic)
        line = protocol.topic_changed(client.nick, room.name, shown)
        irc_line = irc.format_message(client.source, "TOPIC", room.name, topic)
        self.broadcast(room, None, line, irc_line)

    def _ping(self, client: Client, command: Command) -> None:
        self.send(client, protocol.pong(command.text))

    def _rooms(self, client: Client, command: Command) -> None:
        self._send_list(client, protocol.rooms(self.registry.rooms(), self.config.max_line))

    def _who(self, client: Client, command: Command) -> None:
        room = client.room
        if room is None:
            self.send(client, protocol.join_first())
        else:
            nicks = [member.nick for member in room.members]
            self._send_list(client, protocol.who(room.name, nicks, self.config.max_line))

    def _send_list(self, client: Client, lines: list[str]) -> None:
        """A list reply; each line past the first costs its asker a rate token (into debt if need be)."""
        self.charge(client, len(lines) - 1)
        for line in lines:
            self.send(client, line)

    def charge(self, client: Client, lines: int) -> None:
        """Make a client pay for a long reply with rate tokens (into debt if need be)."""
        if client.bucket is not None and lines > 0:
            client.bucket.charge(lines)

    def _msg(self, client: Client, command: Command) -> None:
        recipient = self.registry.find(command.target)
        if not isinstance(recipient, Client):
            self.send(client, protocol.no_such_nick(command.target))
            return
        delivered = protocol.private_message(client.nick, command.text).encode()
        confirmed = protocol.private_sent(recipient.nick, command.text).encode()
        if max(len(delivered), len(confirmed)) > self.config.max_line:
            self.send(client, protocol.line_too_long(self.config.max_line))
            return
        if recipient.irc:
            self._queue(recipient, self.irc.encode(irc.format_message(
                client.source, "PRIVMSG", recipient.nick, command.text)))
            if recipient.away:
                self.send(client, protocol.notice(f"{recipient.nick} is away: {irc.for_line_clients(recipient.away)}"))
        else:
            self._queue(recipient, delivered + b"\n")
        self._queue(client, confirmed + b"\n")

    def _help(self, client: Client, command: Command) -> None:
        self.send(client, protocol.help_text())

    def _quit(self, client: Client, command: Command) -> None:
        self.disconnect(client, "quit", farewell=_encode(protocol.bye()))

    # --- output ------------------------------------------------------------------------------------

    def send(self, client: Client, line: str) -> None:
        """Queue one line of the line protocol for one line client."""
        if not client.gone:
            self._queue(client, _encode(line, self.config.max_line))

    def _queue(self, client: Client, data: bytes) -> None:
        """Queue one encoded line (with its newline) for one client."""
        if client.gone or not data:
            return
        if not client.outbox:
            self._dirty.append(client)
            self._schedule_flush()
        client.outbox.append(data)

    def broadcast(self, room: Room, sender: Member | None, line: str, irc_line: str) -> None:
        """Queue an event for every member of a room but the sender: ``line`` for line clients,
        ``irc_line`` for IRC clients (an empty ``line``: nothing for line clients, e.g. a channel mode change)."""
        self._fan_out(room, sender, _encode(line, self.config.max_line) if line else b"", self.irc.encode(irc_line))

    def tell_neighbours(self, client: Client, rooms: list[Room], line_for: Callable[[Room], str],
                        irc_line: str) -> None:
        """An event about ``client`` (a nick change, a quit) for everyone in ``rooms`` but itself, once each
        however many of those rooms they share: line clients ``line_for(their room)``, IRC clients ``irc_line``."""
        irc_data = self.irc.encode(irc_line)
        told: set[Member] = {client}
        for room in rooms:
            line_data = b""
            for member in room.members:
                if member in told:
                    continue
                told.add(member)
                if member.irc:
                    self._queue(member, irc_data)  # type: ignore[arg-type]
                else:
                    line_data = line_data or _encode(line_for(room), self.config.max_line)
                    self._queue(member, line_data)  # type: ignore[arg-type]

    def _fan_out(self, room: Room, sender: Member | None, data: bytes, irc_data: bytes) -> None:
        """Queue an encoded line for every member of a room but the sender, ``data`` for line clients and
        ``irc_data`` for IRC clients (empty: nothing for them). The hot loop of the server."""
        dirty = self._dirty
        for member in room.members:
            if member is not sender:
                payload = irc_data if member.irc else data
                if not payload:
                    continue
                outbox = member.outbox  # type: ignore[attr-defined]
                if not outbox:
                    dirty.append(member)
                outbox.append(payload)
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


def _encode(line: str, limit: int | None = None) -> bytes:
    """A line as sent, with its newline. Cut to ``limit`` bytes if given: a reply is never longer than the
    line limit the server enforces on its input (farewells and refusals are short by construction)."""
    data = line.encode()
    if limit is not None:
        data = protocol.fit_bytes(data, limit)
    return data + b"\n"


def _peek(fd: int, size: int) -> bytes:
    """Up to ``size`` bytes the kernel holds for a socket, left there for a later read."""
    if fd < 0 or size <= 0:
        return b""
    sock = socket.socket(fileno=fd)  # the same descriptor, not a copy: detached below
    try:
        return sock.recv(size, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except OSError:
        return b""
    finally:
        sock.detach()


def _unread_bytes(fd: int) -> int:
    """Bytes the kernel holds for a socket that have not been read yet."""
    if fd < 0:
        return 0
    try:
        return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
    except OSError:
        return 0


def _peer(peer: tuple | None) -> str:
    return f"{peer[0]}:{peer[1]}" if peer else "?"


# --- command line ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> tuple[Config, str]:
    parser = ArgumentParser(prog="chat-server",
                            description="Multi-room TCP chat server (one line per message).")
    parser.add_argument("--host", default=DEFAULT_HOST, metavar="ADDR",
                        help="address to listen on (default %(default)s)")
    parser.add_argument("--port", type=port, default=protocol.DEFAULT_PORT,
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
    parser.add_argument("--max-recvq", type=positive_int, default=MAX_RECVQ, metavar="BYTES",
                        help="bytes of input that may wait while a client is over --rate before it is "
                             "disconnected for excess flood (default %(default)s)")
    parser.add_argument("--irc-port", type=port, default=None,
                        help=f"IRC port on the same address, 0 for none (default {IRC_PORT}; any free port "
                             "when --port is 0)")
    parser.add_argument("--server-name", default=_host_name(), metavar="NAME",
                        help="the IRC server's name, the source of its messages (default: the host name)")
    parser.add_argument("--irc-password", default="", metavar="PASSWORD",
                        help="the password IRC clients must give with PASS (default: none)")
    parser.add_argument("--motd", type=motd_file, default=(), metavar="FILE",
                        help="the IRC message of the day, a text file (default: none)")
    parser.add_argument("--ping-interval", type=non_negative, default=PING_INTERVAL, metavar="SECONDS",
                        help="seconds of silence before an IRC client is pinged; any client silent for "
                             "twice that is dropped (ping timeout), 0 for never (default %(default)s)")
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
        max_recvq=args.max_recvq,
        irc_port=_irc_port(args.irc_port, args.port),
        server_name=args.server_name,
        irc_password=args.irc_password,
        motd=args.motd,
        ping_interval=args.ping_interval,
    )
    if not irc.is_valid_server_name(config.server_name):
        parser.error(f"argument --server-name: not a valid server name: {protocol.quote(config.server_name)}")
    return config, args.log_level


def _host_name() -> str:
    name = socket.gethostname()
    return name if irc.is_valid_server_name(name) else Config.server_name


def _irc_port(given: int | None, line_port: int) -> int | None:
    """The IRC listener's port from --irc-port: IRC_PORT when not given (or any free one when the line
    port is any free one: --port 0, as tests ask); None for none."""
    if given is None:
        return 0 if line_port == 0 else IRC_PORT
    return given or None


def motd_file(path: str) -> tuple[str, ...]:
    """The lines of a message-of-the-day file (read once, at start), each cut to fit an IRC line."""
    try:
        with open(path, encoding="utf-8", errors="replace") as motd:
            text = motd.read(irc.MAX_MOTD)
    except OSError as err:
        raise argparse.ArgumentTypeError(f"cannot read {path}: {err.strerror}") from None
    return tuple(protocol.fit(irc.safe(line), 400) for line in text.splitlines())


def main(argv: list[str] | None = None) -> None:
    config, log_level = parse_args(argv)
    # Under systemd the journal stamps each line itself.
    stamp = "" if os.environ.get("JOURNAL_STREAM") else "%(asctime)s "
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format=stamp + "%(levelname)s %(message)s")
    open_files = raise_open_files_limit()
    if config.max_clients > open_files - RESERVED_FILES:
        clamped = max(1, open_files - RESERVED_FILES)
        log.warning("--max-clients %d lowered to %d: the open-files limit is %d (ulimit -n, LimitNOFILE=)",
                    config.max_clients, clamped, open_files)
        config.max_clients = clamped
    server = ChatServer(config)
    try:
        if uvloop is not None:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(server.serve(handle_signals=True))
        else:
            asyncio.run(server.serve(handle_signals=True))
    except socket.gaierror as err:
        log.error("cannot resolve %s: %s", config.host, err.strerror)
        sys.exit(1)
    except OSError as err:
        reason = os.strerror(err.errno) if err.errno else str(err)
        log.error("cannot listen on %s:%d: %s", config.host, server.binding, reason)
        sys.exit(1)
    sys.exit(0)


if __name__ == "__main__":
    main()

"""A load generator for the chat server: many non-blocking sockets on one epoll loop (no asyncio, so
that the generator spends its CPU on the sockets).

Each message sent is ``M<send time in ns>.``; the server delivers it to the other members of the room as
``[#room] nick: M<ns>.``, so each delivery carries its own latency, and deliveries are counted per line.
With ``dialect="irc"`` the generator is an IRC client instead (NICK, USER, JOIN; ``PRIVMSG #room :M<ns>.``
delivered as ``:nick!user@host PRIVMSG #room :M<ns>.``), for the chat server's IRC port or another IRC server.
With a ``tag`` (several generators on several hosts, bench/lab_client.py) a message is ``TAGM<ns>.``: deliveries of
its own tag are timed on its own clock, the others (another host's clock) only counted, in ``foreign``.
"""

from __future__ import annotations

import errno
import re
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

LINE, IRC = "line", "irc"
DIALECTS = (LINE, IRC)
BUCKET_NS = 10_000  # latency histogram resolution: 10 µs
READ_SIZE = 1 << 16  # below malloc's mmap/trim thresholds: a bigger buffer costs page faults per recv
STALL_TIMEOUT = 10.0  # seconds without progress before a phase gives up


class Conn:
    __slots__ = ("connected", "fd", "joined", "lost", "message", "number", "pending", "room", "sock")

    def __init__(self, sock: socket.socket, room: str, number: int, dialect: str, tag: str = "") -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.room = room
        self.number = number
        # % send time
        self.message = (f"PRIVMSG {room} :{tag}M%d.\r\n" if dialect == IRC else f"{tag}M%d.\n").encode()
        self.connected = False
        self.joined = False
        self.lost = False  # the server closed it (e.g. a slow reader over its send queue): never sent on again
        self.pending = b""  # an unfinished line


@dataclass
class Latency:
    """Histogram of delivery latencies (BUCKET_NS buckets) and the exact maximum."""

    buckets: dict[int, int] = field(default_factory=dict)
    count: int = 0
    max_ns: int = 0

    def add(self, latencies_ns: list[int]) -> None:
        buckets = self.buckets
        for ns in latencies_ns:
            bucket = ns // BUCKET_NS
            buckets[bucket] = buckets.get(bucket, 0) + 1
        self.count += len(latencies_ns)
        self.max_ns = max(self.max_ns, *latencies_ns)

    def percentile_ms(self, fraction: float) -> float:
        """Upper edge of the bucket holding the given fraction of deliveries, in ms."""
        if not self.count:
            return float("nan")
        rank = fraction * self.count
        seen = 0
        for bucket in sorted(self.buckets):
            seen += self.buckets[bucket]
            if seen >= rank:
                return (bucket + 1) * BUCKET_NS / 1e6
        return self.max_ns / 1e6


class LoadGen:
    def __init__(self, host: str, port: int, dialect: str = LINE, tag: str = "") -> None:
        self.address = (host, port)
        self.dialect = dialect
        self.tag = tag
        irc = dialect == IRC
        before, self._end = (b" :", b".\r\n") if irc else (b": ", b".\n")
        self._stamp_at = before + tag.encode() + b"M"  # what starts a delivery of this generator's own message
        self._stamp_skip = len(self._stamp_at)
        self._stamp = re.compile(re.escape(self._stamp_at) + rb"(\d+)" + re.escape(self._end))
        self._any_stamp = re.compile(re.escape(before) + rb"[A-Za-z0-9]*M\d+" + re.escape(self._end))
        self.foreign = 0  # deliveries of other generators' messages (tagged, see the module's docstring)
        self._joined_mark = b" 366 " if irc else b"* you joined "
        self._opened = 0
        self.epoll = select.epoll()
        self.conns: dict[int, Conn] = {}
        self.joined = 0
        self.delivered = 0
        self.dead = 0  # connections the server closed
        self.sent_by_room: dict[str, int] = {}  # messages handed whole to the kernel, per room
        self.last_delivery_ns = 0
        self.latency = Latency()

    # --- connections -------------------------------------------------------------------------------

    def connect_and_join(self, count: int, room_of: Callable[[int], str], window: int = 1000,
                         source_of: Callable[[int], str] | None = None) -> float:
        """Open ``count`` connections, each sending ``/join room_of(i)`` once connected, at most ``window``
        not yet joined at a time, from source address ``source_of(i)`` if given; return the seconds until
        every one has its join confirmed (a connection the server closed is not waited for: it counts in
        ``dead``)."""
        start = time.perf_counter()
        opened = 0
        progress = time.monotonic()
        while self.joined < count - self.dead:
            while opened < count and opened - self.joined < window:
                self._open(room_of(opened), source_of(opened) if source_of else None)
                opened += 1
            before = self.joined
            self.poll(0.5)
            if self.joined > before:
                progress = time.monotonic()
            elif time.monotonic() - progress > STALL_TIMEOUT:
                raise RuntimeError(f"only {self.joined} of {count} clients joined (dead: {self.dead})")
        return time.perf_counter() - start

    def _open(self, room: str, source: str | None = None) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        if source is not None:
            sock.bind((source, 0))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        result = sock.connect_ex(self.address)
        if result not in (0, errno.EINPROGRESS):
            raise OSError(result, f"connect: {errno.errorcode.get(result, result)}")
        conn = Conn(sock, room, self._opened, self.dialect, self.tag)
        self._opened += 1
        self.conns[conn.fd] = conn
        self.epoll.register(conn.fd, select.EPOLLOUT | select.EPOLLIN)

    def close(self) -> None:
        for conn in self.conns.values():
            conn.sock.close()
        self.conns.clear()
        self.epoll.close()

    # --- the loop ----------------------------------------------------------------------------------

    def poll(self, timeout: float) -> None:
        """Handle what is ready within ``timeout`` seconds. The hot loop of the generator."""
        events = self.epoll.poll(timeout)
        if not events:
            return
        now = time.perf_counter_ns()
        conns = self.conns
        buckets = self.latency.buckets
        end, stamp_at, skip = self._end, self._stamp_at, self._stamp_skip
        cut = len(end)
        for fd, mask in events:
            conn = conns.get(fd)
            if conn is None:
                continue
            if not conn.connected:
                self._connected(conn, mask)
                continue
            try:
                data = conn.sock.recv(READ_SIZE)
            except BlockingIOError:
                continue
            except ConnectionError:
                data = b""
            if not data:
                self._lost(conn)
            elif not conn.pending and data.endswith(end) and data.count(b"\n") == 1 and conn.joined:
                # the usual case in steady traffic: exactly one delivery
                stamp = data.rfind(stamp_at)
                if stamp < 0 and self.tag and self._any_stamp.search(data):
                    self.foreign += 1
                elif stamp >= 0:
                    latency = now - int(data[stamp + skip : -cut])
                    bucket = latency // BUCKET_NS
                    buckets[bucket] = buckets.get(bucket, 0) + 1
                    self.latency.count += 1
                    if latency > self.latency.max_ns:
                        self.latency.max_ns = latency
                    self.delivered += 1
                    self.last_delivery_ns = now
            else:
                self._lines(conn, data, now)

    def _connected(self, conn: Conn, mask: int) -> None:
        if not mask & select.EPOLLOUT:
            return
        error = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            raise OSError(error, f"connect: {errno.errorcode.get(error, error)}")
        conn.connected = True
        if self.dialect == IRC:
            conn.sock.send(f"NICK b{conn.number}\r\nUSER b 0 * :bench\r\nJOIN {conn.room}\r\n".encode())
        else:
            conn.sock.send(f"/join {conn.room}\n".encode())
        self.epoll.modify(conn.fd, select.EPOLLIN)

    def _lost(self, conn: Conn) -> None:
        conn.lost = True
        self.dead += 1
        self.epoll.unregister(conn.fd)
        del self.conns[conn.fd]
        conn.sock.close()

    def _lines(self, conn: Conn, data: bytes, now: int) -> None:
        """Any number of lines, possibly with an unfinished one."""
        if conn.pending:
            data = conn.pending + data
        end = data.rfind(b"\n") + 1
        conn.pending = data[end:]
        if not end:
            return
        if end < len(data):
            data = data[:end]
        stamps = self._stamp.findall(data)
        if self.tag:
            self.foreign += len(self._any_stamp.findall(data)) - len(stamps)
        if stamps:
            self.delivered += len(stamps)
            self.last_delivery_ns = now
            self.latency.add([now - int(stamp) for stamp in stamps])
        if self.dialect == IRC and b"PING " in data:  # another server's keepalive: answer it
            for line in data.split(b"\r\n"):
                if line.startswith(b"PING "):
                    self.send(conn, b"PONG " + line[5:] + b"\r\n")
        if not conn.joined and self._joined_mark in data:
            conn.joined = True
            self.joined += 1

    def drain(self, quiet: float = 0.3) -> None:
        """Read until nothing has arrived for ``quiet`` seconds (join notices and the like)."""
        while self.epoll.poll(quiet):
            self.poll(0)

    def wait_deliveries(self, expected: int) -> None:
        """Read until ``expected`` deliveries arrived, or nothing arrived for STALL_TIMEOUT."""
        progress = time.monotonic()
        while self.delivered < expected:
            before = self.delivered
            self.poll(0.2)
            if self.delivered > before:
                progress = time.monotonic()
            elif time.monotonic() - progress > STALL_TIMEOUT:
                return

    def send(self, conn: Conn, data: bytes) -> bool:
        """Send all of ``data`` on a non-blocking socket, reading meanwhile if the kernel is full; False when the
        server closed the connection first (then the rest is not sent)."""
        while data:
            if conn.lost:
                return False
            try:
                sent = conn.sock.send(data)
            except BlockingIOError:
                self.poll(0.001)
                continue
            except ConnectionError:
                self._lost(conn)
                return False
            data = data[sent:]
        return True

    def send_message(self, conn: Conn) -> bool:
        """One timed message from ``conn`` (skipped when the server has closed it), counted in its room."""
        if conn.lost or not self.send(conn, conn.message % time.perf_counter_ns()):
            return False
        self.sent_by_room[conn.room] = self.sent_by_room.get(conn.room, 0) + 1
        return True

    def reset_counters(self) -> None:
        self.delivered = 0
        self.foreign = 0
        self.sent_by_room = {}
        self.latency = Latency()

    # --- traffic -----------------------------------------------------------------------------------

    def burst(self, messages_each: int) -> None:
        """Every client sends ``messages_each`` messages as fast as it can (one send per message)."""
        conns = list(self.conns.values())
        for _ in range(messages_each):
            for conn in conns:
                self.send_message(conn)
            self.poll(0)

    def steady(self, rate: float, duration: float, tick: Callable[[], None] | None = None) -> int:
        """Messages at ``rate`` per second in total, spread over the clients in turn (so over the rooms),
        evenly paced, for ``duration`` seconds; return how many were sent whole (a connection the server closed
        sends no more: its turns are lost, as a user's would be). ``tick`` is called between polls."""
        conns = list(self.conns.values())
        total = int(rate * duration)
        interval_ns = int(1e9 / rate)
        start = time.perf_counter_ns()
        sent = whole = 0
        while sent < total and self.conns:
            now = time.perf_counter_ns()
            while sent < total and start + sent * interval_ns <= now:
                whole += self.send_message(conns[sent % len(conns)])
                sent += 1
            self.poll(max(0.0, (start + sent * interval_ns - time.perf_counter_ns()) / 1e9))
            if tick is not None:
                tick()
        return whole

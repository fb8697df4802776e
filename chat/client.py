"""The chat client: ``chat-client [--host H] [--port P] [--nick N]``.

On a terminal it runs a curses screen: server lines scroll above, a status bar, and an input line whose
prompt names the current room; incoming lines never disturb the line being typed. It asks for a
nickname when none is given.

Without a terminal (stdin a pipe or a file) it is a line pump for scripts: each input line is sent,
each server line printed (and flushed) as it arrives; at the end of input it sends /quit and exits 0
once the server has closed the connection.

Either way: an unreachable server gives one line on stderr and exit code 1. What the server sends is
printed through chat.protocol.clean (no control, format or separator characters reach the terminal), in
lines of at most MAX_SERVER_LINE bytes. When the connection drops, the terminal client reconnects (with
a growing pause, at most RECONNECT_MAX s), takes its nickname back and rejoins its room; in pipe mode only
with --reconnect. Reconnecting clients keep the connection alive (docs/keepalive.md): after --keepalive
seconds without a line from the server (or without one sent) they send ``/ping TOKEN``; when nothing answers
within --keepalive-timeout seconds the connection counts as lost.

Reference: docs/chat.md
"""

from __future__ import annotations

import contextlib
import curses
import os
import re
import select
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import IO

from chat import protocol
from chat.cli import ArgumentParser, non_negative, port, positive_float
from chat.lines import TOO_LONG, LineReader

DEFAULT_HOST = "127.0.0.1"
CONNECT_TIMEOUT = 10.0  # seconds
SCROLLBACK = 2000  # lines the terminal screen keeps
HISTORY = 200  # typed lines recalled with Up/Down
READ_SIZE = 65536
MAX_SERVER_LINE = 64 * 1024  # bytes of one line from the server; the rest of a longer one is dropped
RECONNECT_FIRST = 1.0  # seconds before the first attempt to reconnect; doubled after each failure
RECONNECT_MAX = 30.0  # seconds between attempts at most
KEEPALIVE = 30.0  # seconds without a line from the server (or to it) before the client sends /ping
KEEPALIVE_TIMEOUT = 10.0  # seconds for the server to answer the /ping before the connection counts as lost

# What the client learns from the server's notices (formats in chat.protocol).
NICK_NOTICE = re.compile(rf"\* (?:welcome to chatlab! )?you are (?:now )?({protocol.NICK_RE.pattern})")
JOINED_NOTICE = re.compile(rf"\* you joined ({protocol.ROOM_RE.pattern}) ")
LEFT_NOTICE = re.compile(rf"\* you left ({protocol.ROOM_RE.pattern})$")


class ConnectError(Exception):
    """Why there is no connection, as one line."""


def connect(host: str, port_number: int) -> socket.socket:
    """A connected socket; raises ConnectError."""
    try:
        sock = socket.create_connection((host, port_number), timeout=CONNECT_TIMEOUT)
    except socket.gaierror as err:
        raise ConnectError(f"cannot resolve {host}: {err.strerror}") from None
    except OSError as err:
        reason = err.strerror or str(err) or type(err).__name__
        raise ConnectError(f"cannot connect to {host}:{port_number}: {reason}") from None
    sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class ServerLines:
    """What the server sends, as lines fit to print (split with a cap on their length, cleaned), and the
    nickname and room its notices tell of. The same for the terminal and for pipes."""

    def __init__(self) -> None:
        self.reader = LineReader(MAX_SERVER_LINE)
        self.nick = ""
        self.room: str | None = None
        self.welcomed = False  # the server greeted us on this connection

    def feed(self, data: bytes) -> list[str]:
        self.reader.feed(data)
        lines = []
        for raw in self.reader.lines():
            if raw is TOO_LONG:
                lines.append(f"! (a line from the server longer than {MAX_SERVER_LINE} bytes was dropped)")
                continue
            assert isinstance(raw, bytes)
            line = protocol.clean(raw.decode(errors="replace"))
            self._learn(line)
            lines.append(line)
        return lines

    def unfinished(self) -> str:
        """The last line if the server closed the connection before its newline."""
        return protocol.clean(self.reader.unfinished().decode(errors="replace"))

    def new_connection(self) -> bytes:
        """Reconnected: forget the old connection's input; what takes our nickname and room back."""
        self.reader = LineReader(MAX_SERVER_LINE)
        self.welcomed = False
        lines = [f"/nick {self.nick}"] if self.nick else []
        if self.room:
            lines.append(f"/join {self.room}")
        return "".join(line + "\n" for line in lines).encode()

    def _learn(self, line: str) -> None:
        if not line.startswith(protocol.NOTICE):
            return
        if line.startswith("* welcome"):
            self.welcomed = True
        if match := NICK_NOTICE.match(line):
            self.nick = match.group(1)
        elif match := JOINED_NOTICE.match(line):
            self.room = match.group(1)
        elif (match := LEFT_NOTICE.match(line)) and match.group(1) == self.room:
            self.room = None


class Keepalive:
    """When to send ``/ping TOKEN`` and when a connection counts as lost; pure (times passed in, seconds,
    monotonic). A ping goes out after ``interval`` without a line from the server or without a line sent
    to it (so that the server, which drops clients it hears nothing from, hears from a reader of a busy
    room too); any line from the server answers it; none within ``timeout`` means the link is dead."""

    def __init__(self, interval: float, timeout: float, now: float) -> None:
        self.interval = interval  # 0: off
        self.timeout = timeout
        self.heard_at = self.sent_at = now
        self.token = ""  # of the ping waiting for an answer
        self.pinged_at = 0.0
        self._count = 0

    def heard(self, now: float) -> None:
        self.heard_at = now
        self.token = ""

    def sent(self, now: float) -> None:
        self.sent_at = max(self.sent_at, now)

    def ping(self, now: float) -> bytes:
        """The ping to send now, if one is due (else empty)."""
        if not self.interval or self.token or now < min(self.heard_at, self.sent_at) + self.interval:
            return b""
        self._count += 1
        self.token = f"k{self._count}"
        self.pinged_at = self.sent_at = now
        return f"/{protocol.PING} {self.token}\n".encode()

    def is_pong(self, line: str) -> bool:
        """Whether a server line is the answer to one of our pings (not shown to the user)."""
        return line.startswith("* pong k") and line[8:].isdigit() and int(line[8:]) <= self._count

    def lost(self, now: float) -> bool:
        return bool(self.token) and now >= self.pinged_at + self.timeout

    def wait(self, now: float) -> float:
        """Seconds until ping() or lost() may change (a bound for select)."""
        if not self.interval:
            return 3600.0
        if self.token:
            return max(0.0, self.pinged_at + self.timeout - now)
        return max(0.0, min(self.heard_at, self.sent_at) + self.interval - now)

    def why(self) -> str:
        return f"no answer to /ping within {self.timeout:g} s"


class Backoff:
    """Pauses between attempts to reconnect: RECONNECT_FIRST, doubled each time up to RECONNECT_MAX."""

    def __init__(self) -> None:
        self.delay = RECONNECT_FIRST

    def next(self) -> float:
        delay, self.delay = self.delay, min(RECONNECT_MAX, self.delay * 2)
        return delay

    def reset(self) -> None:
        self.delay = RECONNECT_FIRST


# --- without a terminal ------------------------------------------------------------------------------


class Link:
    """The current connection, shared by the thread that sends stdin's lines and the one that receives."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock: socket.socket | None = sock  # None while reconnecting
        self.quitting = False  # stdin has ended: /quit is (being) sent, no reconnecting
        self.closed = False  # the session is over: nothing more to send
        self.last_sent = time.monotonic()
        self._changed = threading.Condition()

    def send(self, data: bytes) -> None:
        """Send on the current connection; while there is none, wait for the next one."""
        with self._changed:
            while not self.closed:
                sock = self.sock
                if sock is None:
                    self._changed.wait()
                    continue
                try:
                    sock.sendall(data)
                    self.last_sent = time.monotonic()
                    return
                except OSError:  # dropped: the receiving side notices and reconnects (or ends)
                    self._changed.wait_for(lambda failed=sock: self.sock is not failed or self.closed)

    def try_send(self, data: bytes) -> None:
        """Send from the receiving thread (a keepalive ping), unless a send is under way: never waits
        behind a send stuck on a dead connection, never splits another line."""
        if not self._changed.acquire(timeout=0.2):
            return
        try:
            if self.sock is not None:
                with contextlib.suppress(OSError):
                    self.sock.sendall(data)
        finally:
            self._changed.release()

    def replace(self, sock: socket.socket | None) -> None:
        old = self.sock
        if old is not None:  # a send blocked on the old socket fails at once and lets go of the lock
            with contextlib.suppress(OSError):
                old.shutdown(socket.SHUT_RDWR)
        with self._changed:
            self.sock = sock
            self._changed.notify_all()
        if old is not None:
            old.close()

    def close(self) -> None:
        with self._changed:
            self.closed = True
            self._changed.notify_all()


def run_piped(sock: socket.socket, nick: str | None, reconnect: Callable[[], socket.socket] | None,
              keepalive: tuple[float, float] = (KEEPALIVE, KEEPALIVE_TIMEOUT)) -> int:
    """Send stdin's lines (then /quit), print the server's lines; return once the server closes. With
    ``reconnect`` (which makes a new connection or raises ConnectError), a dropped connection is made
    again (status lines on stderr) until stdin has ended, and ``keepalive`` (interval, timeout) finds
    connections that died silently."""
    link = Link(sock)
    if nick:
        link.send(f"/nick {nick}\n".encode())
    threading.Thread(target=_send_stdin, args=(link,), daemon=True).start()
    out = sys.stdout.buffer
    server = ServerLines()
    backoff = Backoff()
    try:
        while True:
            assert link.sock is not None
            alive = Keepalive(*keepalive, time.monotonic()) if reconnect is not None else None
            lost = _print_until_closed(link, server, out, backoff, alive)
            if reconnect is None or link.quitting:
                break
            link.replace(None)
            link.replace(_reconnect(reconnect, server, backoff, link, lost or "closed by the server"))
            if link.sock is None:  # stdin ended meanwhile
                return 0
    finally:
        link.close()
    if rest := server.unfinished():
        out.write((rest + "\n").encode())
        out.flush()
    if lost:
        print(f"connection lost: {lost}", file=sys.stderr)
        return 1
    return 0


def _print_until_closed(link: Link, server: ServerLines, out: IO[bytes], backoff: Backoff,
                        alive: Keepalive | None = None) -> str:
    """Print what the server sends until it closes (return "") or the connection fails (return why):
    with ``alive``, also when it stops answering (the keepalive pings are sent from here)."""
    sock = link.sock
    assert sock is not None
    while True:
        if alive is not None:
            now = time.monotonic()
            alive.sent(link.last_sent)
            if alive.lost(now):
                return alive.why()
            if ping := alive.ping(now):
                link.try_send(ping)
            if not select.select([sock], [], [], alive.wait(time.monotonic()) + 0.01)[0]:
                continue
        try:
            data = sock.recv(READ_SIZE)
        except OSError as err:
            return str(err.strerror or err)
        if not data:
            return ""
        lines = server.feed(data)
        if alive is not None and lines:
            alive.heard(time.monotonic())
            lines = [line for line in lines if not alive.is_pong(line)]
        if lines:  # every whole line of this read at once: one write, not one per line
            out.write(("\n".join(lines) + "\n").encode())
            out.flush()
        if server.welcomed:
            backoff.reset()


def _reconnect(reconnect: Callable[[], socket.socket], server: ServerLines, backoff: Backoff, link: Link,
               why: str) -> socket.socket | None:
    """Connect again (status lines on stderr), then take the nickname and room back; None if stdin ends
    first."""
    while not link.quitting:
        delay = backoff.next()
        print(f"chat-client: connection lost ({why}); reconnecting in {delay:g} s", file=sys.stderr, flush=True)
        time.sleep(delay)
        try:
            sock = reconnect()
        except ConnectError as err:
            why = str(err)
            continue
        print("chat-client: reconnected", file=sys.stderr, flush=True)
        with contextlib.suppress(OSError):
            sock.sendall(server.new_connection())
        return sock
    return None


def _send_stdin(link: Link) -> None:
    # os.read, not sys.stdin: a daemon thread blocked inside a buffered reader would hang the exit.
    pending = b""
    while data := os.read(0, READ_SIZE):
        *lines, pending = (pending + data).split(b"\n")
        if lines:
            link.send(b"".join(line + b"\n" for line in lines))
    if pending:
        link.send(pending + b"\n")
    link.quitting = True
    link.send(b"/quit\n")


# --- on a terminal -----------------------------------------------------------------------------------


def ask_nick() -> str | None:
    """Ask for a nickname on the terminal; None keeps the guest name."""
    while True:
        try:
            answer = input("nickname (Enter for a guest name): ").strip()
        except EOFError:
            return None
        if not answer or protocol.is_valid_nick(answer):
            return answer or None
        print(protocol.NICK_RULE)


class Attempt:
    """One attempt to connect, in a daemon thread: ``done`` is set with ``sock`` or ``error``."""

    def __init__(self, connect_once: Callable[[], socket.socket]) -> None:
        self.sock: socket.socket | None = None
        self.error = ""
        self.done = threading.Event()
        threading.Thread(target=self._run, args=(connect_once,), daemon=True).start()

    def _run(self, connect_once: Callable[[], socket.socket]) -> None:
        try:
            self.sock = connect_once()
        except ConnectError as err:
            self.error = str(err)
        finally:
            self.done.set()


class ChatScreen:
    """The curses screen: scrollback, a status bar, and an input line with the room as its prompt."""

    def __init__(self, stdscr: curses.window, sock: socket.socket, address: str,
                 reconnect: Callable[[], socket.socket],
                 keepalive: tuple[float, float] = (KEEPALIVE, KEEPALIVE_TIMEOUT)) -> None:
        self.stdscr = stdscr
        self.keepalive_settings = keepalive
        self.alive = Keepalive(*keepalive, time.monotonic())
        self.sock: socket.socket | None = sock  # None while reconnecting
        self.address = address
        self.reconnect = reconnect  # a new connection, or ConnectError
        self.server = ServerLines()
        self.backoff = Backoff()
        self.retry_at = 0.0  # when to try reconnecting (time.monotonic())
        self.attempt: Attempt | None = None  # the attempt to reconnect under way
        self.lines: deque[str] = deque(maxlen=SCROLLBACK)
        self.text: list[str] = []  # the input line
        self.cursor = 0
        self.history: list[str] = []
        self.recall = 0  # position in history while browsing with Up/Down
        self.scroll = 0  # screen rows scrolled back with PageUp
        self.quitting = False
        self.colors = {"*": curses.A_NORMAL, "!": curses.A_BOLD, "[": curses.A_NORMAL}
        if curses.has_colors():
            curses.use_default_colors()
            for number, color in ((1, curses.COLOR_CYAN), (2, curses.COLOR_RED), (3, curses.COLOR_MAGENTA)):
                curses.init_pair(number, color, -1)
            self.colors = {"*": curses.color_pair(1), "!": curses.color_pair(2) | curses.A_BOLD,
                           "[private]": curses.color_pair(3)}
        stdscr.keypad(True)
        stdscr.nodelay(True)

    @property
    def nick(self) -> str:
        return self.server.nick

    @property
    def room(self) -> str | None:
        return self.server.room

    @property
    def prompt(self) -> str:
        return f"{self.room or '(no room)'}> "

    def run(self) -> int:
        """Until the server closes the connection after /quit (or Ctrl-C while disconnected)."""
        while True:
            self.draw()
            try:
                if self.sock is None:
                    self.wait_to_reconnect()
                    continue
                if self.alive.lost(time.monotonic()):
                    self.show(f"! connection lost: {self.alive.why()}")
                    self.connection_lost()
                    continue
                if ping := self.alive.ping(time.monotonic()):
                    with contextlib.suppress(OSError):
                        self.sock.sendall(ping)
                wait = min(1.0, self.alive.wait(time.monotonic()) + 0.01)
                readable, _, _ = select.select([self.sock, 0], [], [], wait)
                if self.sock in readable and not self.receive():
                    if self.quitting:
                        return 0
                    self.connection_lost()
                self.read_keys()
            except KeyboardInterrupt:
                if self.quitting or self.sock is None:
                    return 0
                self.submit("/quit")

    # the connection

    def connection_lost(self) -> None:
        assert self.sock is not None
        self.sock.close()
        self.sock = None
        delay = self.backoff.next()
        self.retry_at = time.monotonic() + delay
        self.show(f"! connection lost: reconnecting in {delay:g} s (Ctrl-C quits)")

    def wait_to_reconnect(self) -> None:
        """Keys go on working while disconnected; from retry_at, one attempt at a time, in a thread of its
        own (a name to resolve or a host that does not answer never stops the screen)."""
        if self.attempt is None and time.monotonic() >= self.retry_at:
            self.attempt = Attempt(self.reconnect)
        wait = 0.05 if self.attempt is not None else self.retry_at - time.monotonic()
        if select.select([0], [], [], max(0.0, min(1.0, wait)))[0]:
            self.read_keys()
        if self.attempt is None or not self.attempt.done.is_set():
            return
        attempt, self.attempt = self.attempt, None
        if attempt.sock is None:
            delay = self.backoff.next()
            self.retry_at = time.monotonic() + delay
            self.show(f"! {attempt.error}: reconnecting in {delay:g} s (Ctrl-C quits)")
            return
        self.sock = attempt.sock
        self.alive = Keepalive(*self.keepalive_settings, time.monotonic())
        self.show(f"* reconnected to {self.address}")
        try:
            self.sock.sendall(self.server.new_connection())
        except OSError:
            self.connection_lost()

    # input from the server

    def receive(self) -> bool:
        """Read what the server sent; False once it has closed the connection."""
        assert self.sock is not None
        try:
            data = self.sock.recv(READ_SIZE)
        except OSError as err:
            self.show(f"! connection lost: {err.strerror or err}")
            return False
        if not data:
            if rest := self.server.unfinished():
                self.show_cleaned(rest)
            return False
        lines = self.server.feed(data)
        if lines:
            self.alive.heard(time.monotonic())
        for line in lines:
            if not self.alive.is_pong(line):
                self.show_cleaned(line)
        if self.server.welcomed:
            self.backoff.reset()
        return True

    def show(self, line: str) -> None:
        """Add a line the client made itself (a notice, an OS error, the echo of what was said) to the
        scrollback, cleaned."""
        self.show_cleaned(protocol.clean(line))

    def show_cleaned(self, line: str) -> None:
        """Add a line already fit to print to the scrollback: a line from the server (cleaned by ServerLines)."""
        self.lines.append(line)
        if self.scroll:
            self.scroll += len(self.wrap(self.lines[-1], self.stdscr.getmaxyx()[1]))

    # input from the keyboard

    def read_keys(self) -> None:
        while True:
            try:
                key = self.stdscr.get_wch()
            except curses.error:
                return  # nothing more typed
            self.on_key(key)

    def on_key(self, key: str | int) -> None:
        text, cursor = self.text, self.cursor
        if key in ("\n", "\r", curses.KEY_ENTER):
            line = "".join(text)
            self.text, self.cursor, self.recall = [], 0, 0
            if line:
                self.history = [*self.history, line][-HISTORY:]
                self.submit(line)
        elif key in (curses.KEY_BACKSPACE, "\x7f", "\b"):
            if cursor:
                del text[cursor - 1]
                self.cursor -= 1
        elif key in (curses.KEY_DC, "\x04"):
            if cursor < len(text):
                del text[cursor]
            elif not text and key == "\x04":  # Ctrl-D on an empty line
                self.submit("/quit")
        elif key == curses.KEY_LEFT:
            self.cursor = max(0, cursor - 1)
        elif key == curses.KEY_RIGHT:
            self.cursor = min(len(text), cursor + 1)
        elif key in (curses.KEY_HOME, "\x01"):
            self.cursor = 0
        elif key in (curses.KEY_END, "\x05"):
            self.cursor = len(text)
        elif key == "\x15":  # Ctrl-U
            self.text, self.cursor = [], 0
        elif key in (curses.KEY_UP, curses.KEY_DOWN):
            self.browse_history(-1 if key == curses.KEY_UP else 1)
        elif key in (curses.KEY_PPAGE, curses.KEY_NPAGE):
            page = max(1, self.stdscr.getmaxyx()[0] - 3)
            self.scroll = max(0, self.scroll + (page if key == curses.KEY_PPAGE else -page))
        elif key == "\x0c":  # Ctrl-L
            self.stdscr.clear()
        elif isinstance(key, str) and key.isprintable():
            text.insert(cursor, key)
            self.cursor += 1

    def browse_history(self, step: int) -> None:
        self.recall = max(-len(self.history), min(0, self.recall + step))
        self.text = list(self.history[self.recall]) if self.recall else []
        self.cursor = len(self.text)

    def submit(self, line: str) -> None:
        """Send a typed line; show our own room messages, which the server does not echo back."""
        try:
            command = protocol.parse(line)  # read the line as the server will
        except protocol.ProtocolError:
            command = None  # the server answers it with an error line
        if command is not None and command.name == protocol.QUIT:
            self.quitting = True
        if self.sock is None:
            if self.quitting:
                raise KeyboardInterrupt  # nothing to say goodbye to: quit at once
            self.show("! not connected: the line was not sent")
            return
        try:
            self.sock.sendall((line + "\n").encode())
            self.alive.sent(time.monotonic())
        except OSError as err:
            self.show(f"! cannot send: {err.strerror or err}")
            return
        if self.room is None or command is None:
            return
        if command.name == protocol.SAY:
            self.show(protocol.room_message(self.room, self.nick, command.text))
        elif command.name == protocol.ME:
            self.show(protocol.action(self.room, self.nick, command.text))

    # drawing

    @staticmethod
    def wrap(line: str, width: int) -> list[str]:
        width = max(1, width)
        return [line[i : i + width] for i in range(0, len(line), width)] or [""]

    def draw(self) -> None:
        screen = self.stdscr
        height, width = screen.getmaxyx()
        screen.erase()
        rows = height - 2  # scrollback rows above the status bar and the input line
        if rows > 0:
            wrapped: list[tuple[str, int]] = []
            for line in reversed(self.lines):
                attr = self.attr(line)
                wrapped[:0] = [(part, attr) for part in self.wrap(line, width)]
                if len(wrapped) >= rows + self.scroll:
                    break
            self.scroll = min(self.scroll, max(0, len(wrapped) - rows))
            visible = wrapped[max(0, len(wrapped) - rows - self.scroll) : len(wrapped) - self.scroll]
            for y, (part, attr) in enumerate(visible):
                self.put(y, part, attr)
            where = f" {self.room or 'no room'}" + (f"  (scrolled back {self.scroll})" if self.scroll else "")
            if self.sock is None:
                where += f"  (disconnected: reconnecting in {max(0, self.retry_at - time.monotonic()):.0f} s)"
            status = f" {self.nick or '?'} @ {self.address} |{where}"
            self.put(height - 2, status.ljust(width), curses.A_REVERSE)
        prompt = self.prompt[: max(0, width - 2)]
        room_for_text = max(1, width - len(prompt) - 1)
        start = max(0, self.cursor - room_for_text)
        self.put(height - 1, prompt + "".join(self.text[start : start + room_for_text]), curses.A_NORMAL)
        with contextlib.suppress(curses.error):
            screen.move(height - 1, min(width - 1, len(prompt) + self.cursor - start))
        screen.refresh()

    def attr(self, line: str) -> int:
        if line.startswith("[private]"):
            return self.colors.get("[private]", curses.A_NORMAL)
        return self.colors.get(line[:1], curses.A_NORMAL)

    def put(self, y: int, text: str, attr: int) -> None:
        width = self.stdscr.getmaxyx()[1]
        with contextlib.suppress(curses.error):  # the bottom-right cell cannot be written
            self.stdscr.addnstr(y, 0, text, width - 1 if y == self.stdscr.getmaxyx()[0] - 1 else width, attr)


def run_terminal(sock: socket.socket, nick: str | None, address: str,
                 reconnect: Callable[[], socket.socket],
                 keepalive: tuple[float, float] = (KEEPALIVE, KEEPALIVE_TIMEOUT)) -> int:
    if nick is None:
        nick = ask_nick()
    if nick:
        sock.sendall(f"/nick {nick}\n".encode())
    os.environ.setdefault("ESCDELAY", "25")  # a lone Esc must not stall the keyboard
    for stale in ("LINES", "COLUMNS"):  # exported sizes would override the terminal's real one
        os.environ.pop(stale, None)
    screens: list[ChatScreen] = []

    def session(stdscr: curses.window) -> int:
        screens.append(ChatScreen(stdscr, sock, address, reconnect, keepalive))
        return screens[0].run()

    status = curses.wrapper(session)
    if screens and screens[0].lines:  # why it ended (a "* bye", or the server's last word)
        print(screens[0].lines[-1])
    return status


# --- command line ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = ArgumentParser(prog="chat-client", description="Terminal client for the chatlab chat server.")
    parser.add_argument("--host", default=DEFAULT_HOST, metavar="ADDR",
                        help="server address (default %(default)s)")
    parser.add_argument("--port", type=port, default=protocol.DEFAULT_PORT, help="server port (default %(default)s)")
    parser.add_argument("--nick", metavar="NAME",
                        help="nickname to take (on a terminal, asked for when not given)")
    parser.add_argument("--reconnect", action="store_true",
                        help="without a terminal too, reconnect when the connection drops (on a terminal "
                             "the client always does)")
    parser.add_argument("--keepalive", type=non_negative, default=KEEPALIVE, metavar="SECONDS",
                        help="when reconnecting (always on a terminal): send /ping after this long without a "
                             "line from the server or to it, 0 for never (default %(default)s)")
    parser.add_argument("--keepalive-timeout", type=positive_float, default=KEEPALIVE_TIMEOUT, metavar="SECONDS",
                        help="seconds to wait for the answer to /ping before the connection counts as lost "
                             "and the client reconnects (default %(default)s)")
    args = parser.parse_args(argv)
    keepalive = (args.keepalive, args.keepalive_timeout)
    if args.nick is not None and not protocol.is_valid_nick(args.nick):
        parser.error(f"argument --nick: {protocol.NICK_RULE}")

    def reconnect() -> socket.socket:
        return connect(args.host, args.port)

    try:
        sock = reconnect()
    except ConnectError as err:
        print(err, file=sys.stderr)
        sys.exit(1)
    try:
        if sys.stdin.isatty() and sys.stdout.isatty():
            status = run_terminal(sock, args.nick, f"{args.host}:{args.port}", reconnect, keepalive)
        else:
            status = run_piped(sock, args.nick, reconnect if args.reconnect else None, keepalive)
    except KeyboardInterrupt:
        status = 130
    except BrokenPipeError:  # our output was closed (e.g. `| head`): nothing left to do
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 0
    finally:
        sock.close()
    sys.exit(status)


if __name__ == "__main__":
    main()

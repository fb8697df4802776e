"""The chat client: ``chat-client [--host H] [--port P] [--nick N]``.

On a terminal it runs a curses screen: server lines scroll above, a status bar, and an input line whose
prompt names the current room; incoming lines never disturb the line being typed. It asks for a
nickname when none is given.

Without a terminal (stdin a pipe or a file) it is a line pump for scripts: each input line is sent,
each server line printed (and flushed) as it arrives; at the end of input it sends /quit and exits 0
once the server has closed the connection.

Either way: an unreachable server gives one line on stderr and exit code 1.
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
from collections import deque

from chat import protocol
from chat.cli import ArgumentParser, port

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
CONNECT_TIMEOUT = 10.0  # seconds
SCROLLBACK = 2000  # lines the terminal screen keeps
HISTORY = 200  # typed lines recalled with Up/Down
READ_SIZE = 65536

# What the client learns from the server's notices (formats in chat.protocol).
NICK_NOTICE = re.compile(rf"\* (?:welcome to chatlab! )?you are (?:now )?({protocol.NICK_RE.pattern})")
JOINED_NOTICE = re.compile(rf"\* you joined ({protocol.ROOM_RE.pattern}) ")
LEFT_NOTICE = re.compile(rf"\* you left ({protocol.ROOM_RE.pattern})$")


def connect(host: str, port_number: int) -> socket.socket | None:
    """A connected socket, or None after one line on stderr saying why not."""
    try:
        sock = socket.create_connection((host, port_number), timeout=CONNECT_TIMEOUT)
    except OSError as err:
        reason = err.strerror or str(err) or type(err).__name__
        print(f"cannot connect to {host}:{port_number}: {reason}", file=sys.stderr)
        return None
    sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


# --- without a terminal ------------------------------------------------------------------------------


def run_piped(sock: socket.socket, nick: str | None) -> int:
    """Send stdin's lines (then /quit), print the server's lines; return once the server closes."""
    if nick:
        sock.sendall(f"/nick {nick}\n".encode())
    threading.Thread(target=_send_stdin, args=(sock,), daemon=True).start()
    out = sys.stdout.buffer
    pending = b""
    while True:
        try:
            data = sock.recv(READ_SIZE)
        except OSError as err:
            print(f"connection lost: {err.strerror or err}", file=sys.stderr)
            return 1
        if not data:
            break
        complete, newline, pending = (pending + data).rpartition(b"\n")
        if newline:  # every whole line of this read at once: one write, not one per line
            out.write(complete + newline)
            out.flush()
    if pending:
        out.write(pending + b"\n")
        out.flush()
    return 0


def _send_stdin(sock: socket.socket) -> None:
    # os.read, not sys.stdin: a daemon thread blocked inside a buffered reader would hang the exit.
    pending = b""
    try:
        while data := os.read(0, READ_SIZE):
            *lines, pending = (pending + data).split(b"\n")
            if lines:
                sock.sendall(b"".join(line + b"\n" for line in lines))
        if pending:
            sock.sendall(pending + b"\n")
        sock.sendall(b"/quit\n")
    except OSError:
        pass  # the server went away: the receiving side reports it


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


class ChatScreen:
    """The curses screen: scrollback, a status bar, and an input line with the room as its prompt."""

    def __init__(self, stdscr: curses.window, sock: socket.socket, address: str) -> None:
        self.stdscr = stdscr
        self.sock = sock
        self.address = address
        self.lines: deque[str] = deque(maxlen=SCROLLBACK)
        self.nick = ""
        self.room: str | None = None
        self.text: list[str] = []  # the input line
        self.cursor = 0
        self.history: list[str] = []
        self.recall = 0  # position in history while browsing with Up/Down
        self.scroll = 0  # screen rows scrolled back with PageUp
        self.pending = b""
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
    def prompt(self) -> str:
        return f"{self.room or '(no room)'}> "

    def run(self) -> int:
        """Until the server closes the connection."""
        while True:
            self.draw()
            try:
                readable, _, _ = select.select([self.sock, 0], [], [], 1.0)
                if self.sock in readable and not self.receive():
                    return 0
                self.read_keys()
            except KeyboardInterrupt:
                if self.quitting:
                    return 0
                self.submit("/quit")

    # input from the server

    def receive(self) -> bool:
        """Read what the server sent; False once it has closed the connection."""
        try:
            data = self.sock.recv(READ_SIZE)
        except OSError as err:
            self.show(f"! connection lost: {err.strerror or err}")
            return False
        if not data:
            return False
        *lines, self.pending = (self.pending + data).split(b"\n")
        for raw in lines:
            self.on_server_line(raw.rstrip(b"\r").decode(errors="replace"))
        return True

    def on_server_line(self, line: str) -> None:
        if line.startswith(protocol.NOTICE):
            if match := NICK_NOTICE.match(line):
                self.nick = match.group(1)
            elif match := JOINED_NOTICE.match(line):
                self.room = match.group(1)
            elif (match := LEFT_NOTICE.match(line)) and match.group(1) == self.room:
                self.room = None
        self.show(line)

    def show(self, line: str) -> None:
        self.lines.append(protocol.clean(line))
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
        try:
            self.sock.sendall((line + "\n").encode())
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


def run_terminal(sock: socket.socket, nick: str | None, address: str) -> int:
    if nick is None:
        nick = ask_nick()
    if nick:
        sock.sendall(f"/nick {nick}\n".encode())
    os.environ.setdefault("ESCDELAY", "25")  # a lone Esc must not stall the keyboard
    for stale in ("LINES", "COLUMNS"):  # exported sizes would override the terminal's real one
        os.environ.pop(stale, None)
    screens: list[ChatScreen] = []

    def session(stdscr: curses.window) -> int:
        screens.append(ChatScreen(stdscr, sock, address))
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
    parser.add_argument("--port", type=port, default=DEFAULT_PORT, help="server port (default %(default)s)")
    parser.add_argument("--nick", metavar="NAME",
                        help="nickname to take (on a terminal, asked for when not given)")
    args = parser.parse_args(argv)
    if args.nick is not None and not protocol.is_valid_nick(args.nick):
        parser.error(f"argument --nick: {protocol.NICK_RULE}")

    sock = connect(args.host, args.port)
    if sock is None:
        sys.exit(1)
    try:
        if sys.stdin.isatty() and sys.stdout.isatty():
            status = run_terminal(sock, args.nick, f"{args.host}:{args.port}")
        else:
            status = run_piped(sock, args.nick)
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

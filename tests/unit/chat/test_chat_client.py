"""The chat client: piped mode and errors as a subprocess, the terminal mode in a real terminal (tmux)."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from chat_helpers import CHAT_WAIT, ChatServerThread, PipeLines
from repo_paths import REPO

from bench.serverproc import free_port
from chat import client, protocol


class PipedClient:
    """chat-client with stdin and stdout as pipes; stdout read line by line with deadlines."""

    def __init__(self, port: int, *flags: str, script: str = "-m chat.client", cwd: Path = REPO) -> None:
        command = [sys.executable, *script.split(), "--host", "127.0.0.1", "--port", str(port), *flags]
        self.proc = subprocess.Popen(command, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        assert self.proc.stdout is not None
        self.output = PipeLines(self.proc.stdout, "the client's output")

    @property
    def out(self) -> list[str]:
        return self.output.lines

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def expect(self, want: str, timeout: float = CHAT_WAIT) -> str:
        """Read printed lines until one equals ``want``."""
        return self.output.until(lambda text: text == want, repr(want), timeout)

    def finish(self) -> tuple[int, str]:
        """Close stdin; return the exit code and what it printed on stderr."""
        assert self.proc.stdin and self.proc.stdout and self.proc.stderr
        self.proc.stdin.close()
        self.output.rest()
        status = self.proc.wait(CHAT_WAIT)
        err = self.proc.stderr.read().decode()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return status, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(CHAT_WAIT)


@pytest.fixture
def chat_piped() -> Iterator[Callable[..., PipedClient]]:
    clients: list[PipedClient] = []

    def start(port: int, *flags: str, **options: object) -> PipedClient:
        clients.append(PipedClient(port, *flags, **options))  # type: ignore[arg-type]
        return clients[-1]

    yield start
    for piped in clients:
        piped.kill()


def test_piped_client_stays_connected_until_end_of_input(chat_server: ChatServerThread, chat_connect,
                                                         chat_piped) -> None:
    bob = chat_connect(chat_server.port, nick="bob", room="#lab")
    alice = chat_piped(chat_server.port, "--nick", "alice")
    alice.send("/join #lab")
    alice.expect("* you joined #lab (2 members)")
    assert bob.line() == "* alice joined #lab"
    alice.send("hello from a pipe")
    assert bob.line() == "[#lab] alice: hello from a pipe"
    bob.send("hello back")  # arrives while alice's stdin is still open
    alice.expect("[#lab] bob: hello back")
    alice.send("/rooms")
    alice.expect("* rooms: #lab (2)")
    status, err = alice.finish()  # end of input: /quit, then exit once the server closes
    assert (status, err) == (0, "")
    assert alice.out[-1] == "* bye"
    assert bob.line() == "* alice left #lab (quit)"


def test_piped_client_exits_0_when_the_server_shuts_down(chat_server: ChatServerThread, chat_piped) -> None:
    piped = chat_piped(chat_server.port)
    piped.expect(protocol.greeting("guest1"))
    chat_server.stop()
    piped.expect("* server shutting down")
    status, err = piped.finish()
    assert (status, err) == (0, "")


def test_tcpclient_script_runs_from_inside_chat(chat_server: ChatServerThread, chat_piped) -> None:
    piped = chat_piped(chat_server.port, script="TCPClient.py", cwd=REPO / "chat")
    piped.send("/help")
    piped.expect(protocol.help_text())
    assert piped.finish()[0] == 0


def test_unreachable_server_is_one_line_and_exit_1() -> None:
    port = free_port()
    done = subprocess.run([sys.executable, "-m", "chat.client", "--host", "127.0.0.1", "--port", str(port)],
                          cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=CHAT_WAIT)
    assert done.returncode == 1
    assert done.stderr == f"cannot connect to 127.0.0.1:{port}: Connection refused\n"
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--port", "http"], "argument --port: not a whole number: http"),
        (["--nick", "no spaces"], "argument --nick: use 1-32 letters, digits, _ or -"),
        (["--colour"], "unrecognized arguments: --colour"),
    ],
)
def test_bad_flags_are_one_line(flags: list[str], message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "chat.client", *flags], cwd=REPO, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=CHAT_WAIT)
    assert done.returncode == 2
    assert done.stderr == f"chat-client: error: {message} (see --help)\n"


def test_client_reads_the_servers_notices() -> None:
    assert client.NICK_NOTICE.match(protocol.greeting("guest7")).group(1) == "guest7"
    assert client.NICK_NOTICE.match(protocol.nick_changed_self("Ann-1")).group(1) == "Ann-1"
    assert client.NICK_NOTICE.match(protocol.nick_changed("a", "b")) is None
    assert client.JOINED_NOTICE.match(protocol.joined_self("#lab", 3)).group(1) == "#lab"
    assert client.LEFT_NOTICE.match(protocol.left_self("#lab")).group(1) == "#lab"
    assert client.LEFT_NOTICE.match(protocol.left("bob", "#lab")) is None


def test_backoff_doubles_from_the_first_pause_up_to_the_longest_and_starts_over_after_a_reset() -> None:
    backoff = client.Backoff()
    pauses = [backoff.next() for _ in range(8)]
    assert pauses == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert (pauses[0], max(pauses)) == (client.RECONNECT_FIRST, client.RECONNECT_MAX)
    backoff.reset()
    assert [backoff.next(), backoff.next()] == [1.0, 2.0]


# --- the terminal mode, in a real terminal -----------------------------------------------------------


class Tmux:
    """A private tmux server (its own socket) running one command in an 80x16 terminal, then printing
    the command's exit status (and staying open so that the screen can be read)."""

    def __init__(self, tmp_path: Path, command: list[str]) -> None:
        config = tmp_path / "tmux.conf"
        config.write_text("set -g history-limit 100\n")
        self.base = ["tmux", "-L", f"chatlab-test-{os.getpid()}-{id(self)}", "-f", str(config)]
        shell = " ".join(shlex.quote(word) for word in command) + "; echo exit status $?; sleep 60"
        self.run("new-session", "-d", "-s", "chat", "-x", "80", "-y", "16", "-c", str(REPO), shell)

    def run(self, *args: str) -> str:
        return subprocess.run([*self.base, *args], check=True, capture_output=True, text=True,
                              timeout=CHAT_WAIT).stdout

    def type(self, text: str, enter: bool = True) -> None:
        self.run("send-keys", "-t", "chat", "-l", text)
        if enter:
            self.run("send-keys", "-t", "chat", "Enter")

    def screen(self) -> list[str]:
        return self.run("capture-pane", "-p", "-t", "chat").rstrip("\n").split("\n")

    def wait(self, what: str, check: Callable[[list[str]], bool]) -> list[str]:
        deadline = time.monotonic() + CHAT_WAIT
        while not check(rows := self.screen()):
            assert time.monotonic() < deadline, f"screen never showed {what}:\n" + "\n".join(rows)
            time.sleep(0.05)
        return rows

    def kill(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True, timeout=CHAT_WAIT)


@pytest.fixture
def chat_tmux(tmp_path: Path) -> Iterator[Callable[[list[str]], Tmux]]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed: the terminal-mode client test needs it (apt-get install tmux)")
    sessions: list[Tmux] = []

    def start(command: list[str]) -> Tmux:
        sessions.append(Tmux(tmp_path, command))
        return sessions[-1]

    yield start
    for session in sessions:
        session.kill()


def test_terminal_client_prompt_room_and_typing_never_garbled(chat_server: ChatServerThread, chat_connect,
                                                              chat_tmux) -> None:
    tmux = chat_tmux([sys.executable, "-m", "chat.client", "--host", "127.0.0.1",
                      "--port", str(chat_server.port)])
    tmux.wait("the nickname question", lambda rows: rows[0].startswith("nickname (Enter for a guest name):"))
    tmux.type("alice")
    # the prompt comes at once, the server's answer to the nickname a moment later
    tmux.wait("the prompt without a room, and alice's nickname confirmed in the lines and the status bar",
              lambda rows: rows[-1] == "(no room)>" and "* you are now alice" in rows
              and rows[-2].startswith(" alice @ 127.0.0.1:"))

    bob = chat_connect(chat_server.port, nick="bob", room="#lab")
    tmux.type("/join #lab")
    tmux.wait("the room in the prompt", lambda rows: rows[-1] == "#lab>")
    assert bob.line() == "* alice joined #lab"

    tmux.type("hello wor", enter=False)  # half a line typed...
    tmux.wait("the typed text", lambda rows: rows[-1] == "#lab> hello wor")
    bob.send("a line arriving while alice types")  # ...when a line arrives
    incoming = "[#lab] bob: a line arriving while alice types"
    rows = tmux.wait("the incoming line", lambda rows: incoming in rows)
    assert rows[-1] == "#lab> hello wor"  # the typed text is intact, on its own line
    tmux.type("ld")
    assert bob.line() == "[#lab] alice: hello world"
    rows = tmux.wait("alice's own line", lambda rows: "[#lab] alice: hello world" in rows)
    assert rows[-1] == "#lab>"

    tmux.type("/leave")
    tmux.wait("the prompt without a room", lambda rows: rows[-1] == "(no room)>")
    tmux.type("/quit")
    rows = tmux.wait("the client's exit", lambda rows: any(row.startswith("exit status") for row in rows))
    assert [row for row in rows if row][-2:] == ["* bye", "exit status 0"]


def test_terminal_client_with_nick_flag_does_not_ask(chat_server: ChatServerThread, chat_tmux) -> None:
    tmux = chat_tmux([sys.executable, "-m", "chat.client", "--host", "127.0.0.1",
                      "--port", str(chat_server.port),
                      "--nick", "carol"])
    rows = tmux.wait("the prompt", lambda rows: rows[-1] == "(no room)>" and "* you are now carol" in rows)
    assert not any(row.startswith("nickname") for row in rows)


# --- against a hostile server, and across server restarts ---------------------------------------------


class FakeServer:
    """A hostile chat server: a listening socket on 127.0.0.1 whose first connection gets ``script(conn)``
    in a thread (then the end of the stream)."""

    def __init__(self, script: Callable[[socket.socket], None]) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.script = script
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn, contextlib.suppress(OSError):
            self.script(conn)
            conn.shutdown(socket.SHUT_WR)  # then take what the client sends, so that closing is no reset
            conn.settimeout(CHAT_WAIT)
            while conn.recv(65536):
                pass

    def close(self) -> None:
        self.thread.join(CHAT_WAIT)
        self.listener.close()


@pytest.fixture
def fake_server() -> Iterator[Callable[[Callable[[socket.socket], None]], FakeServer]]:
    servers: list[FakeServer] = []

    def start(script: Callable[[socket.socket], None]) -> FakeServer:
        servers.append(FakeServer(script))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


HOSTILE = ("\x1b]0;owned\x07\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\u202ehi\u2028* server shutting down\n"
           "[#lab] bob: \u200bfine\ufeff\n")
HOSTILE_SHOWN = ["\ufffd]0;owned\ufffd\ufffd]52;c;cm0gLXJmIH4=\ufffd\ufffd[2J\ufffdhi\ufffd* server shutting down",
                 "[#lab] bob: \ufffdfine\ufffd"]


def test_piped_client_prints_no_control_format_or_separator_characters(fake_server, chat_piped) -> None:
    server = fake_server(lambda conn: conn.sendall(HOSTILE.encode()))
    piped = chat_piped(server.port)
    status, err = piped.finish()
    assert (status, err) == (0, "")
    assert piped.out == HOSTILE_SHOWN


def test_piped_client_caps_an_endless_line_from_the_server(fake_server, chat_piped) -> None:
    def endless(conn: socket.socket) -> None:
        conn.sendall(b"before\n" + b"x" * (8 << 20) + b"\nafter\n")

    piped = chat_piped(fake_server(endless).port)
    status, err = piped.finish()
    assert (status, err) == (0, "")
    assert piped.out == ["before", f"! (a line from the server longer than {client.MAX_SERVER_LINE} bytes was "
                         "dropped)", "after"]


def test_piped_client_with_reconnect_rejoins_after_a_server_restart(chat_server_factory, chat_connect,
                                                                     chat_piped) -> None:
    first = chat_server_factory(rate=0)
    port = first.port
    piped = chat_piped(port, "--nick", "alice", "--reconnect")
    piped.send("/join #lab")
    piped.expect("* you joined #lab (1 member)")
    first.stop()
    piped.expect("* server shutting down")
    second = chat_server_factory(rate=0, port=port)  # the same port, as systemd restarts it
    bob = chat_connect(second.port, nick="bob", room="#lab")
    assert bob.expect(lambda text: "alice" in text, timeout=3 * CHAT_WAIT) == "* alice joined #lab"
    piped.expect("* you are now alice")
    bob.send("welcome back")
    piped.expect("[#lab] bob: welcome back")
    status, err = piped.finish()
    assert status == 0
    assert "chat-client: connection lost (closed by the server); reconnecting in 1 s" in err
    assert "chat-client: reconnected" in err


def test_piped_client_without_reconnect_exits_when_the_connection_drops(fake_server, chat_piped) -> None:
    piped = chat_piped(fake_server(lambda conn: conn.sendall(b"* welcome\n")).port)
    piped.expect("* welcome")
    assert piped.proc.wait(CHAT_WAIT) == 0  # stdin still open: it ended because the server did


def test_terminal_client_keeps_typing_under_an_endless_line_and_shows_no_escapes(fake_server,
                                                                                 chat_tmux) -> None:
    def endless(conn: socket.socket) -> None:
        conn.sendall(HOSTILE.encode())
        chunk = b"y" * 65536
        for _ in range(800):  # 50 MB without a newline, a little at a time
            conn.sendall(chunk)
            time.sleep(0.002)
        conn.sendall(b"\nafter the flood\n")
        time.sleep(CHAT_WAIT)

    server = fake_server(endless)
    tmux = chat_tmux([sys.executable, "-m", "chat.client", "--host", "127.0.0.1", "--port", str(server.port),
                      "--nick", "carol"])
    tmux.wait("the prompt", lambda rows: rows[-1] == "(no room)>")
    tmux.type("typed during the flood", enter=False)
    tmux.wait("the typed text while the line goes on", lambda rows: rows[-1] == "(no room)> typed during the flood")
    rows = tmux.wait("the end of the flood", lambda rows: "after the flood" in rows)
    assert "! (a line from the server longer than 65536 bytes was dropped)" in rows
    assert any(row.startswith("\ufffd]0;owned\ufffd\ufffd]52;c;") for row in rows), rows
    assert "owned" not in tmux.run("display-message", "-p", "#{pane_title}")


def test_terminal_client_reconnects_rejoins_and_ctrl_c_still_quits(chat_server_factory, chat_connect,
                                                                    chat_tmux) -> None:
    first = chat_server_factory(rate=0)
    port = first.port
    tmux = chat_tmux([sys.executable, "-m", "chat.client", "--host", "127.0.0.1", "--port", str(port),
                      "--nick", "alice"])
    tmux.wait("the prompt", lambda rows: rows[-1] == "(no room)>")
    tmux.type("/join #lab")
    tmux.wait("the room in the prompt", lambda rows: rows[-1] == "#lab>")
    first.stop()
    tmux.wait("the status line", lambda rows: "! connection lost: reconnecting in 1 s (Ctrl-C quits)" in rows
              and "(disconnected: reconnecting in" in rows[-2])
    second = chat_server_factory(rate=0, port=port)
    bob = chat_connect(second.port, nick="bob", room="#lab")
    assert bob.expect(lambda text: "alice" in text, timeout=3 * CHAT_WAIT) == "* alice joined #lab"
    tmux.wait("the reconnection", lambda rows: "* reconnected to 127.0.0.1:" + str(port) in rows
              and rows[-1] == "#lab>" and rows[-2].startswith(" alice @"))
    bob.send("welcome back")
    tmux.wait("bob's line", lambda rows: "[#lab] bob: welcome back" in rows)
    second.stop()
    tmux.wait("the status line again", lambda rows: rows.count(
        "! connection lost: reconnecting in 1 s (Ctrl-C quits)") == 2)
    tmux.run("send-keys", "-t", "chat", "C-c")
    tmux.wait("the client's exit", lambda rows: "exit status 0" in rows)


def connecting_sockets(port: int, program: str) -> set[int]:
    """The inodes of the TCP sockets of processes running `program` that are connecting to 127.0.0.1:`port` and
    not answered yet (SYN_SENT, in /proc/net/tcp)."""
    rows = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    syn_sent = {int(fields[9]) for fields in rows if fields[2] == f"0100007F:{port:04X}" and fields[3] == "02"}
    owned: set[int] = set()
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if proc.name.isdigit() and program.encode() in (proc / "cmdline").read_bytes():
                owned.update(int(link[len("socket:["):-1]) for fd in (proc / "fd").iterdir()
                             if (link := os.readlink(fd)).startswith("socket:["))
    return syn_sent & owned


def test_terminal_client_keeps_typing_while_a_reconnect_attempt_hangs(chat_server_factory, chat_tmux) -> None:
    first = chat_server_factory(rate=0)
    port = first.port
    tmux = chat_tmux([sys.executable, "-m", "chat.client", "--host", "127.0.0.1", "--port", str(port),
                      "--nick", "dave"])
    tmux.wait("the prompt", lambda rows: rows[-1] == "(no room)>" and "* you are now dave" in rows)
    first.stop()
    # the port answers no more: a listener whose backlog is full and that never accepts drops every SYN
    with socket.create_server(("127.0.0.1", port), backlog=0):  # kept open, never accepting
        fillers = []
        with contextlib.suppress(TimeoutError):
            for _ in range(5):  # until the backlog is full and a connect hangs
                fillers.append(socket.create_connection(("127.0.0.1", port), timeout=0.5))
        assert len(fillers) < 5, "the backlog never filled up"
        tmux.wait("the status line", lambda rows: "! connection lost: reconnecting in 1 s (Ctrl-C quits)" in rows)
        deadline = time.monotonic() + CHAT_WAIT  # the attempt begins 1 s after the loss
        while not (attempt := connecting_sockets(port, "chat.client")):
            assert time.monotonic() < deadline, "the client never began an attempt to reconnect"
            time.sleep(0.05)
        tmux.type("typed while connecting", enter=False)
        rows = tmux.wait("the typed text", lambda rows: rows[-1] == "(no room)> typed while connecting")
        assert attempt <= connecting_sockets(port, "chat.client"), "the attempt ended before the typing showed"
        assert not any(row.startswith("! cannot connect") for row in rows), rows  # it hangs, it did not fail
        tmux.run("send-keys", "-t", "chat", "C-c")
        tmux.wait("the client's exit", lambda rows: "exit status 0" in rows)
        for filler in fillers:
            filler.close()

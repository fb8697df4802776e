"""The chat server against hostile clients, over real sockets on 127.0.0.1: flooders, endless lines, huge
lists, forged lines, connection storms, running out of file descriptors."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import resource
import select
import socket
import time

import pytest
from chat_helpers import CHAT_WAIT, ChatConn, ChatServerThread

from chat.server import LINES_PER_TURN, READ_SIZE, Client

FLOOD = b"\n" * 65536  # the attack: blank lines, as fast as the socket takes them


def flood(sock: socket.socket, data: bytes, seconds: float) -> int:
    """Send ``data`` over and over for ``seconds`` without ever reading, as far as the kernel takes it;
    return the bytes sent. Stops early once the server has closed the connection."""
    sock.setblocking(False)
    sent = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            sent += sock.send(data)
        except BlockingIOError:
            time.sleep(0.01)
        except OSError:  # reset: the server cut it off
            break
    sock.setblocking(True)
    sock.settimeout(CHAT_WAIT)
    return sent


def clients_of(server: ChatServerThread) -> list[Client]:
    return server.call(lambda: list(server.server.clients))  # type: ignore[return-value]


def test_over_rate_lines_wait_their_turn_with_one_notice(chat_server_factory, chat_connect) -> None:
    server = chat_server_factory(rate=50, burst=10)
    a = chat_connect(server.port, nick="alice", room="#r")  # /nick and /join: 2 tokens, refilled below
    b = chat_connect(server.port, nick="bob", room="#r")
    a.line()  # bob joined
    time.sleep(0.3)
    a.send("".join(f"line {i}\n" for i in range(30)).encode())
    # nothing is lost: the lines past the burst come at 50/s, in order
    assert [b.line() for _ in range(30)] == [f"[#r] alice: line {i}" for i in range(30)]
    assert a.until_reply() == ["! too many lines (limit 50/s): slowing down, your next lines wait their turn"]


def test_a_flooder_is_not_read_gets_one_notice_and_is_cut_for_excess_flood(chat_server_factory,
                                                                          chat_connect) -> None:
    server = chat_server_factory()  # the default limits
    bystander = chat_connect(server.port, nick="bystander", room="#r")
    flooders = [chat_connect(server.port) for _ in range(5)]
    for flooder in flooders:
        flood(flooder.sock, FLOOD, 0.3)
    for flooder in flooders:
        lines = flooder.closed()
        assert lines == ["! too many lines (limit 10/s): slowing down, your next lines wait their turn",
                         "! excess flood (over 32768 bytes waiting), disconnecting"]
    bystander.send("/who")
    assert bystander.line() == "* members of #r: bystander"


def test_a_throttled_client_is_not_read_and_its_input_stays_bounded(chat_server_factory, chat_connect) -> None:
    server = chat_server_factory(max_recvq=1 << 30)  # never an excess flood: the throttle alone holds it
    watcher = chat_connect(server.port)
    flooder = chat_connect(server.port, nick="flooder")
    sent = flood(flooder.sock, FLOOD, 1.0)
    assert sent > 4 * READ_SIZE, "the kernel took too little to show anything"
    (paused, pending), = [(not c.transport.is_reading(), c.reader.pending)
                          for c in clients_of(server) if c.nick == "flooder"]
    assert paused, "the server still reads a client that is over its rate"
    assert pending <= READ_SIZE + server.config.max_line + 1
    watcher.send("/rooms")
    assert watcher.line() == "* rooms: none"
    got = b""  # what the flooder was sent: one notice, nothing per line held back
    flooder.sock.settimeout(0.5)
    try:
        while data := flooder.sock.recv(65536):
            got += data
    except TimeoutError:
        pass
    assert got.count(b"too many lines") == 1, got[:300]


def test_quit_is_honoured_while_over_the_rate(chat_server_factory, chat_connect) -> None:
    server = chat_server_factory(rate=0.001, burst=2)  # a token every 1000 s: only the burst counts
    a = chat_connect(server.port, room="#r")  # /join took one token
    a.send(b"one\ntwo\nthree\n")
    a.expect("! too many lines (limit 0.001/s): slowing down, your next lines wait their turn")
    a.send("/quit")
    assert a.closed() == ["* bye"]
    b = chat_connect(server.port, room="#r")
    b.send(b"one\ntwo\nthree\n/QUIT later\n")  # in the same read as the lines it waits behind
    assert b.closed()[-1] == "* bye"


def test_one_client_gets_at_most_a_turn_of_lines_per_loop_iteration(chat_server_factory,
                                                                     chat_connect) -> None:
    server = chat_server_factory(rate=0)  # no rate limit: only the turns bound it
    chat_connect(server.port, nick="alice", room="#r")
    chat_connect(server.port, nick="bob", room="#r")

    def one_big_read() -> tuple[int, bool, bool]:  # on the server's loop: alice's socket yields 1,000 lines
        (alice,) = [c for c in server.server.clients if c.nick == "alice"]
        server.server.received(alice, memoryview(b"x\n" * 1000))
        return alice.reader.pending, not alice.transport.is_reading(), alice.turn is not None

    pending, paused, more_to_come = server.call(one_big_read)  # type: ignore[misc]
    assert pending == (1000 - LINES_PER_TURN) * 2  # one turn's lines handled, the rest wait...
    assert paused and more_to_come  # ...unread from the socket, until the next loop iteration


def test_long_who_and_rooms_replies_are_split_within_the_line_limit(chat_server_factory, chat_connect) -> None:
    server = chat_server_factory(rate=0, max_line=120, max_clients_per_address=100)
    members = [chat_connect(server.port, nick=f"member{i:02}", room="#big") for i in range(30)]
    for i in range(10):
        chat_connect(server.port, room=f"#room{i}")
    asker = members[0]
    asker.send("/who")
    lines = list_reply(asker, "* members of #big")
    assert len(lines) > 1
    assert all(len(line.encode()) <= 120 for line in lines), lines
    listed = [nick for line in lines for nick in line.split(": ", 1)[1].split(", ")]
    assert listed == [f"member{i:02}" for i in range(30)]
    asker.send("/rooms")
    lines = list_reply(asker, "* rooms")
    assert len(lines) > 1 and all(len(line.encode()) <= 120 for line in lines), lines
    assert [room for line in lines for room in line.split(": ", 1)[1].split(", ")] == \
        ["#big (30)", *(f"#room{i} (1)" for i in range(10))]


def list_reply(conn: ChatConn, head: str) -> list[str]:
    """The lines of one list reply: an unnumbered line, or the numbered lines up to (n/n)."""
    lines = [conn.expect(lambda text: text.startswith(head))]
    while (match := re.match(re.escape(head) + r" \((\d+)/(\d+)\): ", lines[-1])) and \
            match.group(1) != match.group(2):
        lines.append(conn.line())
    return lines


def test_a_huge_list_costs_its_asker_rate_tokens(chat_server_factory, chat_connect) -> None:
    server = chat_server_factory(rate=0.001, burst=3, max_line=100, max_clients_per_address=100)
    asker = chat_connect(server.port, room="#big")  # /join: 1 of 3 tokens
    for i in range(20):
        chat_connect(server.port, nick=f"m{i:02}xxxxxxxxxxxxxxxxx", room="#big")
    asker.send("/who")  # 21 nicks of about 20 characters: 5 lines or so, 4 tokens more than one
    assert len(list_reply(asker, "* members of #big")) >= 3
    asker.send("/rooms")  # one token would be left without the charge for the lines
    assert asker.expect(lambda text: text.startswith(("!", "* rooms"))) == \
        "! too many lines (limit 0.001/s): slowing down, your next lines wait their turn"


def test_idle_timeout_counts_lines_not_bytes(chat_server_factory, chat_connect) -> None:
    server = chat_server_factory(rate=0, idle_timeout=1.0)
    trickle = chat_connect(server.port, nick="trickle", room="#r")
    deadline = time.monotonic() + 2 * CHAT_WAIT  # for the 1 s timeout: a deadline, not a measure
    cut_off = False
    while not cut_off and time.monotonic() < deadline:  # a byte every 0.1 s, never a newline
        with contextlib.suppress(OSError):
            trickle.send(b"x")
        cut_off = bool(select.select([trickle.sock], [], [], 0.1)[0])
    assert cut_off, "a client sending a byte at a time, never a line, was never idle"
    assert trickle.closed()[-1] == "! idle for 1 s, disconnecting"


def test_forged_lines_via_unicode_are_replaced(chat_server: ChatServerThread, chat_connect) -> None:
    a = chat_connect(chat_server.port, nick="alice", room="#lab")
    b = chat_connect(chat_server.port, nick="bob", room="#lab")
    a.line()
    a.send("hi\u2028* server shutting down")
    assert b.line() == "[#lab] alice: hi\ufffd* server shutting down"
    a.send("\u202e\u2066evil\u2069 zero\u200bwidth")
    assert b.line() == "[#lab] alice: \ufffd\ufffdevil\ufffd zero\ufffdwidth"
    a.send("\ufeff/nick carol")  # a leading BOM: still the command, not chat text
    assert a.line() == "* you are now carol"
    assert b.line() == "* alice is now carol"


def test_refused_connections_are_summed_up_in_one_log_line(chat_server_factory, chat_connect,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    def refusals() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused")]

    server = chat_server_factory(max_clients_per_address=1, refusal_log_interval=60)
    chat_connect(server.port)
    for _ in range(30):
        refused = ChatConn("127.0.0.1", server.port)
        assert refused.closed() == ["! too many connections from your address (max 1)"]
        refused.close()
    assert refusals() == []  # nothing yet: one line at the end of the interval (or at shutdown)
    server.stop()
    assert refusals() == ["refused 30 connections from 127.0.0.1 in the last 60 s: per-address cap"]

    caplog.clear()
    server = chat_server_factory(max_clients=1, refusal_log_interval=0.3)
    chat_connect(server.port)
    ChatConn("127.0.0.1", server.port).closed()
    deadline = time.monotonic() + CHAT_WAIT
    while not refusals() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert refusals() == ["refused 1 connection from 127.0.0.1 in the last 0.3 s: server full"]


def test_out_of_file_descriptors_refuses_with_server_full_and_no_traceback(
        chat_server_factory, chat_connect, caplog: pytest.LogCaptureFixture) -> None:
    server = chat_server_factory(max_clients=1000)
    first = chat_connect(server.port)
    late = [socket.socket() for _ in range(5)]  # their descriptors exist before the limit comes down
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
    holes = []  # descriptors below the highest one that are free: taken, so that none is left
    while (fd := os.open(os.devnull, os.O_RDONLY)) < highest:
        holes.append(fd)
    os.close(fd)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (fd, hard))  # no descriptor left for accept()
        for sock in late:
            sock.settimeout(CHAT_WAIT)
            sock.connect(("127.0.0.1", server.port))
        for sock in late:
            assert sock.recv(1000) == b"! server full (max 1000 clients), try again later\n"
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        for sock in late:
            sock.close()
        for hole in holes:
            os.close(hole)
    first.send("/rooms")
    assert first.line() == "* rooms: none"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
    server.stop()  # logs the summary of refusals
    assert [r.getMessage() for r in caplog.records if "refused" in r.getMessage()] == [
        "refused 5 connections from 127.0.0.1 in the last 10 s: out of file descriptors"]

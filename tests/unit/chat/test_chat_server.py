"""The chat server over real sockets on 127.0.0.1 (server in-process, on its own loop in a thread)."""

from __future__ import annotations

import time

from chat_helpers import CHAT_WAIT, ChatConn, ChatServerThread


def test_greeting_guest_nick_and_rename(chat_server: ChatServerThread, chat_connect) -> None:
    a = chat_connect(chat_server.port, greeting=False)
    greeting = a.line()
    assert greeting.startswith("* welcome to chatlab! you are guest")
    b = chat_connect(chat_server.port)
    a.send("/nick Alice")
    assert a.line() == "* you are now Alice"
    b.send("/nick alice")
    assert b.line() == "! nickname taken: alice"
    b.send("/nick bad name!")
    assert b.line() == '! invalid nickname "bad name!": use 1-32 letters, digits, _ or -'
    b.send("/nick")
    assert b.line() == "! usage: /nick NAME"
    b.send("/msg alice still open")
    assert b.line() == "* private to Alice: still open"
    assert a.line() == "[private] guest2: still open"


def test_room_message_goes_to_the_other_members_only(chat_server: ChatServerThread, chat_connect) -> None:
    a = chat_connect(chat_server.port, nick="alice", room="#lab")
    b = chat_connect(chat_server.port, nick="bob", room="#lab")
    c = chat_connect(chat_server.port, nick="carol", room="#other")
    assert a.line() == "* bob joined #lab"
    a.send("hello there")
    assert b.line() == "[#lab] alice: hello there"
    b.send("hi\r")  # \r\n line ends are accepted
    assert a.line() == "[#lab] bob: hi"
    assert a.until_reply() == []  # no echo of alice's own line
    assert c.until_reply() == []  # nothing from #lab
    a.send("//etc is a path")
    assert b.line() == "[#lab] alice: /etc is a path"
    a.send("/me waves")
    assert b.line() == "[#lab] * alice waves"
    a.send("bell\x07 \x1b[2J")
    assert b.line() == "[#lab] alice: bell\ufffd \ufffd[2J"


def test_commands_outside_a_room(chat_server: ChatServerThread, chat_connect) -> None:
    a = chat_connect(chat_server.port)
    for line in ("hello?", "/me waves", "/who"):
        a.send(line)
        assert a.line() == "! join a room first: /join #room"
    a.send("/leave")
    assert a.line() == "! you are not in a room"
    a.send("/rooms")
    assert a.line() == "* rooms: none"


def test_rooms_appear_and_vanish_with_their_members(chat_server: ChatServerThread, chat_connect) -> None:
    port = chat_server.port
    watcher = chat_connect(port)
    a = chat_connect(port, nick="alice")
    a.send("/join #lab")
    assert a.line() == "* you joined #lab (1 member)"
    watcher.send("/rooms")
    assert watcher.line() == "* rooms: #lab (1)"
    b = chat_connect(port, nick="bob")
    b.send("/join #LAB")
    assert b.line() == "* you joined #lab (2 members)"
    assert a.line() == "* bob joined #lab"
    b.send("/join #lab")
    assert b.line() == "! you are already in #lab"
    c = chat_connect(port, nick="carol", room="#a-room")
    watcher.send("/rooms")
    assert watcher.line() == "* rooms: #a-room (1), #lab (2)"
    b.send("/who")
    assert b.line() == "* members of #lab: alice, bob"

    b.send("/nick bobby")
    assert b.line() == "* you are now bobby"
    assert a.line() == "* bob is now bobby"
    b.send("/join #a-room")  # one room at a time: joining leaves #lab
    assert b.line() == "* you left #lab"
    assert b.line() == "* you joined #a-room (2 members)"
    assert a.line() == "* bobby left #lab"
    assert c.line() == "* bobby joined #a-room"
    a.send("/leave")
    assert a.line() == "* you left #lab"
    watcher.send("/rooms")
    assert watcher.line() == "* rooms: #a-room (2)"
    c.close()
    assert b.line() == "* carol left #a-room (connection closed)"
    b.send("/quit")
    assert b.closed() == ["* bye"]
    watcher.send("/rooms")
    assert watcher.line() == "* rooms: none"


def test_unknown_commands_and_bad_arguments_keep_the_connection(chat_server: ChatServerThread,
                                                                chat_connect) -> None:
    a = chat_connect(chat_server.port)
    for line, error in [
        ("/foo", "! unknown command /foo (try /help)"),
        ("/join lab", '! invalid room name "lab": use # then 1-50 letters, digits, _ or -'),
        ("/join", "! usage: /join #room"),
        ("/msg nobody hi", "! no such nickname: nobody"),
        ("/msg nobody", "! usage: /msg NICK text"),
        ("/rooms please", "! usage: /rooms"),
    ]:
        a.send(line)
        assert a.line() == error
    a.send("/help")
    assert a.line().startswith("* commands: /nick NAME, /join #room")
    a.send("")  # blank lines are ignored
    a.send("   ")
    assert a.until_reply() == []


def test_quit_and_exit_say_bye_and_close(chat_server: ChatServerThread, chat_connect) -> None:
    a = chat_connect(chat_server.port, nick="alice", room="#lab")
    b = chat_connect(chat_server.port, nick="bob", room="#lab")
    b.send("/exit")
    assert b.closed() == ["* bye"]
    assert a.expect(lambda text: "bob left" in text) == "* bob left #lab (quit)"
    a.send("/QUIT now")
    assert a.closed() == ["* bye"]


def test_overlong_line_is_rejected_and_nothing_else_lost(chat_server_factory, chat_connect) -> None:
    server = chat_server_factory(rate=0, max_line=100)
    a = chat_connect(server.port, nick="alice", room="#lab")
    b = chat_connect(server.port, nick="bob", room="#lab")
    a.line()  # bob joined
    a.send(b"first\n" + b"x" * 101 + b"\nafter\n" + b"y" * 86 + b"\n" + b"w" * 87 + b"\n")
    assert a.line() == "! line too long (max 100 bytes), ignored"
    # 87 bytes pass the reader, but "[#lab] alice: " makes the line as sent 101 bytes: refused too
    assert a.line() == "! line too long (max 100 bytes), ignored"
    assert [b.line() for _ in range(3)] == ["[#lab] alice: first", "[#lab] alice: after",
                                            "[#lab] alice: " + "y" * 86]
    # split over many writes, far over the limit: dropped up to its newline, the rest kept
    for _ in range(20):
        a.send(b"z" * 1000)
    a.send(b"z\nstill here\n")
    assert a.line() == "! line too long (max 100 bytes), ignored"
    assert b.line() == "[#lab] alice: still here"


def test_invalid_utf8_gets_an_error_and_the_connection_stays(chat_server: ChatServerThread,
                                                             chat_connect) -> None:
    a = chat_connect(chat_server.port, nick="alice", room="#lab")
    b = chat_connect(chat_server.port, nick="bob", room="#lab")
    a.line()
    a.send(b"caf\xc3\n\xff\xfe/join\nok \xc3\xa9\n")
    assert a.line() == "! invalid UTF-8, line ignored"
    assert a.line() == "! invalid UTF-8, line ignored"
    assert b.line() == "[#lab] alice: ok é"
    b.send(b"/nick \xe9\n")
    assert b.line() == "! invalid UTF-8, line ignored"


def test_many_clients_in_many_rooms(chat_server_factory, chat_connect) -> None:
    rooms, per_room = 10, 12
    server = chat_server_factory(rate=0, max_clients_per_address=rooms * per_room + 1)
    conns: dict[str, list[ChatConn]] = {}
    for r in range(rooms):
        conns[f"#room{r}"] = [chat_connect(server.port, nick=f"u{r}x{i}", room=f"#room{r}")
                              for i in range(per_room)]
    watcher = chat_connect(server.port)
    watcher.send("/rooms")
    assert watcher.line() == "* rooms: " + ", ".join(f"#room{r} ({per_room})" for r in range(rooms))
    for room, members in conns.items():
        for member in members:
            member.send(f"from {room}")
    for room, members in conns.items():
        for i, member in enumerate(members):
            got = [line for line in member.until_reply() if line.startswith("[")]
            others = [f"u{room[5:]}x{j}" for j in range(per_room) if j != i]
            assert sorted(got) == sorted(f"[{room}] {nick}: from {room}" for nick in others)
    for members in conns.values():
        for member in members:
            member.send("/quit")
    for members in conns.values():
        for member in members:
            assert member.closed()[-1] == "* bye"
    watcher.send("/rooms")
    assert watcher.line() == "* rooms: none"


def test_max_clients_and_max_per_address(chat_server_factory, chat_connect) -> None:
    server = chat_server_factory(max_clients=2)
    chat_connect(server.port)
    chat_connect(server.port)
    third = chat_connect(server.port, greeting=False)
    assert third.closed() == ["! server full (max 2 clients), try again later"]

    server = chat_server_factory(max_clients_per_address=1)
    first = chat_connect(server.port)
    second = chat_connect(server.port, greeting=False)
    assert second.closed() == ["! too many connections from your address (max 1)"]
    first.send("/quit")
    first.closed()
    deadline = time.monotonic() + CHAT_WAIT  # the server counts the slot free once it sees the close
    while server.call(lambda: len(server.server.per_address)) and time.monotonic() < deadline:
        time.sleep(0.01)
    chat_connect(server.port)  # a slot is free again: greeted


def test_client_that_stops_reading_is_cut_off_and_others_keep_receiving(chat_server_factory,
                                                                        chat_connect) -> None:
    server = chat_server_factory(rate=0, max_outbuf=64 * 1024)
    sender = chat_connect(server.port, nick="sender", room="#busy")
    reader = chat_connect(server.port, nick="reader", room="#busy")
    stalled = chat_connect(server.port, nick="stalled", room="#busy", rcvbuf=4096)  # then never reads
    payload = "p" * 3000
    sent = 0
    left = None
    deadline = time.monotonic() + 3 * CHAT_WAIT
    while left is None:
        assert time.monotonic() < deadline, "the stalled client was never disconnected"
        for _ in range(20):
            sender.send(f"{sent} {payload}")
            sent += 1
        for i in range(sent - 20, sent):  # the reader gets every line, in order, whatever stalled does
            line = reader.line()
            while not line.startswith("[#busy]"):
                if line.startswith("* stalled left #busy"):
                    left = line
                else:
                    assert line.endswith("joined #busy"), line
                line = reader.line()
            assert line == f"[#busy] sender: {i} {payload}"
    assert left == "* stalled left #busy (too slow)"
    assert sent * len(payload) < 20 * 1024 * 1024
    stalled.closed()  # what it had, then the end of the stream


def test_idle_timeout(chat_server_factory, chat_connect) -> None:
    """The silent client is cut and its room told; the one talking is not. The talker's pauses (0.2 s) are a
    fifteenth of the timeout, so that a loaded machine's stalls do not make it idle too."""
    server = chat_server_factory(rate=0, idle_timeout=3.0)
    busy = chat_connect(server.port, nick="busy", room="#r")  # first: were lines not activity, it went first
    idle = chat_connect(server.port, nick="idle", room="#r")
    busy.expect("* idle joined #r")
    deadline = time.monotonic() + 4 * CHAT_WAIT
    while True:  # busy keeps talking while idle says nothing
        busy.send("/rooms")
        line = busy.line()
        if line.startswith(("* idle left", "!")):
            break
        assert time.monotonic() < deadline, "idle client not disconnected"
        time.sleep(0.2)
    assert line == "* idle left #r (idle timeout)"
    assert idle.closed()[-1] == "! idle for 3 s, disconnecting"
    busy.send("/who")
    assert busy.expect(lambda text: text.startswith("* members")) == "* members of #r: busy"

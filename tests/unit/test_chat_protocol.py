"""chat.protocol: parsing lines into commands and formatting reply lines (pure, no sockets)."""

from __future__ import annotations

import pytest

from chat import protocol
from chat.protocol import Command, ProtocolError, parse


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("hello there", Command("say", text="hello there")),
        ("  spaced  ", Command("say", text="  spaced  ")),
        ("//etc/passwd", Command("say", text="/etc/passwd")),
        ("/nick alice", Command("nick", target="alice")),
        ("/NICK Bob_2-x", Command("nick", target="Bob_2-x")),
        ("/join #lab", Command("join", target="#lab")),
        ("/join   #lab  ", Command("join", target="#lab")),
        ("/leave", Command("leave")),
        ("/rooms", Command("rooms")),
        ("/who", Command("who")),
        ("/msg bob hi there", Command("msg", target="bob", text="hi there")),
        ("/me waves", Command("me", text="waves")),
        ("/help", Command("help")),
        ("/quit", Command("quit")),
        ("/quit see you", Command("quit")),
        ("/exit", Command("quit")),
    ],
)
def test_parse_commands(line: str, command: Command) -> None:
    assert parse(line) == command


@pytest.mark.parametrize("line", ["", " ", "\t  "])
def test_blank_lines_are_nothing(line: str) -> None:
    assert parse(line) is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("/foo", "unknown command /foo (try /help)"),
        ("/", "unknown command / (try /help)"),
        ("/nick", "usage: /nick NAME"),
        ("/nick a b", 'invalid nickname "a b": use 1-32 letters, digits, _ or -'),
        ("/nick " + "x" * 33, f'invalid nickname "{"x" * 33}": use 1-32 letters, digits, _ or -'),
        ("/nick café", 'invalid nickname "café": use 1-32 letters, digits, _ or -'),
        ("/join", "usage: /join #room"),
        ("/join lab", 'invalid room name "lab": use # then 1-50 letters, digits, _ or -'),
        ("/join #", 'invalid room name "#": use # then 1-50 letters, digits, _ or -'),
        ("/join #" + "r" * 51, f'invalid room name "#{"r" * 51}": use # then 1-50 letters, digits, _ or -'),
        ("/join #a #b", 'invalid room name "#a #b": use # then 1-50 letters, digits, _ or -'),
        ("/leave now", "usage: /leave"),
        ("/rooms all", "usage: /rooms"),
        ("/who x", "usage: /who"),
        ("/msg", "usage: /msg NICK text"),
        ("/msg bob", "usage: /msg NICK text"),
        ("/msg bob   ", "usage: /msg NICK text"),
        ("/me", "usage: /me action"),
        ("/help me", "usage: /help"),
    ],
)
def test_parse_errors(line: str, message: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse(line)
    assert str(caught.value) == message


def test_name_limits() -> None:
    assert protocol.is_valid_nick("a" * 32) and not protocol.is_valid_nick("a" * 33)
    assert protocol.is_valid_room("#" + "a" * 50) and not protocol.is_valid_room("#" + "a" * 51)
    assert not protocol.is_valid_nick("") and not protocol.is_valid_room("#")


def test_control_characters_are_replaced() -> None:
    command = parse("hi \x1b[2Jthere\x07\tok \x9b")
    assert command == Command("say", text="hi \ufffd[2Jthere\ufffd\tok \ufffd")
    assert parse("/me \x00") == Command("me", text="\ufffd")


def test_reply_formats() -> None:
    assert protocol.room_message("#lab", "alice", "hi") == "[#lab] alice: hi"
    assert protocol.action("#lab", "alice", "waves") == "[#lab] * alice waves"
    assert protocol.private_message("alice", "psst") == "[private] alice: psst"
    assert protocol.private_sent("bob", "psst") == "* private to bob: psst"
    assert protocol.rooms([("#b", 1), ("#a", 2)]) == "* rooms: #a (2), #b (1)"
    assert protocol.rooms([("#b", 1), ("#A", 2), ("#c", 3)]) == "* rooms: #A (2), #b (1), #c (3)"
    assert protocol.rooms([]) == "* rooms: none"
    assert protocol.who("#lab", ["bob", "Alice", "carol"]) == "* members of #lab: Alice, bob, carol"
    assert protocol.joined_self("#lab", 1) == "* you joined #lab (1 member)"
    assert protocol.joined_self("#lab", 3) == "* you joined #lab (3 members)"
    assert protocol.left("bob", "#lab") == "* bob left #lab"
    assert protocol.left("bob", "#lab", "quit") == "* bob left #lab (quit)"
    assert protocol.bye() == "* bye"
    assert protocol.join_first() == "! join a room first: /join #room"
    assert protocol.greeting("guest1").startswith("* welcome to chatlab! you are guest1;")


def test_every_notice_and_error_has_its_prefix() -> None:
    notices = [protocol.greeting("g"), protocol.help_text(), protocol.nick_changed_self("a"),
               protocol.nick_changed("a", "b"), protocol.joined("a", "#r"), protocol.left_self("#r"),
               protocol.shutting_down(), protocol.private_sent("a", "x")]
    errors = [protocol.not_in_room(), protocol.already_in("#r"), protocol.nick_taken("a"),
              protocol.no_such_nick("a"), protocol.line_too_long(4096), protocol.invalid_utf8(),
              protocol.rate_limited(10), protocol.server_full(5), protocol.too_many_from_address(2),
              protocol.idle_timeout(1.5)]
    assert all(line.startswith("* ") for line in notices)
    assert all(line.startswith("! ") for line in errors)
    assert all("\n" not in line for line in notices + errors)

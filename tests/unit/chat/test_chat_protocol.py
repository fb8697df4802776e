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


KEPT = "tab\tkept, no-break\xa0space kept, caf\xe9 \u4e2d\u6587"
EMOJI = "\U0001f469\u200d\U0001f4bb \U0001f3f3\ufe0f\u200d\U0001f308"  # ZWJ sequences: woman technologist, rainbow flag


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("fake\u2028* server shutting down", "fake\ufffd* server shutting down"),  # line separator (Zl)
        ("fake\u2029[#lab] bob: hi", "fake\ufffd[#lab] bob: hi"),  # paragraph separator (Zp)
        ("\u202eevil\u202c \u2066x\u2069", "\ufffdevil\ufffd \ufffdx\ufffd"),  # bidi controls (Cf)
        ("zero\u200bwidth\u200c\u2060\ufeff", "zero\ufffdwidth\ufffd\ufffd\ufffd"),  # zero-width, BOM (Cf)
        ("soft\xadhyphen \U000e0041tag", "soft\ufffdhyphen \ufffdtag"),  # hidden text (Cf)
        ("\x1b]52;c;cGFzdGU=\x07 \x9b2J \x7f", "\ufffd]52;c;cGFzdGU=\ufffd \ufffd2J \ufffd"),  # Cc
        (KEPT, KEPT),
        (EMOJI, EMOJI),
        ("a\u200db \u200d\U0001f4bb \U0001f469\u200d", "a\ufffdb \ufffd\U0001f4bb \U0001f469\ufffd"),  # lone ZWJs
    ],
)
def test_characters_that_forge_lines_or_hide_text_are_replaced(text: str, shown: str) -> None:
    assert protocol.clean(text) == shown
    assert parse(text) == Command("say", text=shown)


def test_a_leading_bom_is_ignored() -> None:
    assert parse("\ufeff/nick alice") == Command("nick", target="alice")
    assert parse("\ufeffhello") == Command("say", text="hello")
    assert parse("\ufeff\ufeffhello") == Command("say", text="\ufffdhello")  # only one


def test_refused_arguments_are_quoted_short_and_clean() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse("/" + "\u202e" * 5000)
    assert str(caught.value) == "unknown command /" + "\ufffd" * 60 + "\u2026 (try /help)"
    assert protocol.no_such_nick("x\u2028" * 100) == "! no such nickname: " + "x\ufffd" * 30 + "\u2026"


def test_fit_cuts_at_a_character_boundary() -> None:
    assert protocol.fit("abc", 3) == "abc"
    assert protocol.fit("ab\u20ac", 4) == "ab"  # the euro sign is 3 bytes: not cut in half
    assert protocol.fit("ab\u20ac", 5) == "ab\u20ac"


def test_long_lists_are_split_into_numbered_lines_within_the_limit() -> None:
    nicks = [f"member{i:03}" for i in range(100)]
    lines = protocol.who("#lab", nicks, 200)
    assert len(lines) > 1
    assert all(len(line.encode()) <= 200 for line in lines)
    count = len(lines)
    for k, line in enumerate(lines, 1):
        assert line.startswith(f"* members of #lab ({k}/{count}): ")
    listed = [nick for line in lines for nick in line.split(": ", 1)[1].split(", ")]
    assert listed == nicks
    rooms = protocol.rooms([(f"#r{i}", i) for i in range(300)], 512)
    assert len(rooms) > 1 and all(len(line.encode()) <= 512 for line in rooms)
    assert rooms[-1].startswith(f"* rooms ({len(rooms)}/{len(rooms)}): ")


def test_control_characters_are_replaced() -> None:
    command = parse("hi \x1b[2Jthere\x07\tok \x9b")
    assert command == Command("say", text="hi \ufffd[2Jthere\ufffd\tok \ufffd")
    assert parse("/me \x00") == Command("me", text="\ufffd")


def test_reply_formats() -> None:
    assert protocol.room_message("#lab", "alice", "hi") == "[#lab] alice: hi"
    assert protocol.action("#lab", "alice", "waves") == "[#lab] * alice waves"
    assert protocol.private_message("alice", "psst") == "[private] alice: psst"
    assert protocol.private_sent("bob", "psst") == "* private to bob: psst"
    assert protocol.rooms([("#b", 1), ("#a", 2)], 4096) == ["* rooms: #a (2), #b (1)"]
    assert protocol.rooms([("#b", 1), ("#A", 2), ("#c", 3)], 4096) == ["* rooms: #A (2), #b (1), #c (3)"]
    assert protocol.rooms([], 4096) == ["* rooms: none"]
    assert protocol.who("#lab", ["bob", "Alice", "carol"], 4096) == ["* members of #lab: Alice, bob, carol"]
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
              protocol.idle_timeout(1.5), protocol.excess_flood(32768)]
    assert all(line.startswith("* ") for line in notices)
    assert all(line.startswith("! ") for line in errors)
    assert all("\n" not in line for line in notices + errors)

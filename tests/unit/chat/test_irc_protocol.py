"""chat.irc: the IRC dialect's pure core (messages, numerics, formatting codes, registration). No sockets."""

from __future__ import annotations

import pytest

from chat import irc


@pytest.mark.parametrize("line, command, params, source", [
    ("NICK alice", "NICK", ("alice",), ""),
    ("privmsg #a :hello there", "PRIVMSG", ("#a", "hello there"), ""),
    (":n!u@h PRIVMSG #a ::-)", "PRIVMSG", ("#a", ":-)"), "n!u@h"),
    ("@time=x;y :src JOIN #a,#b", "JOIN", ("#a,#b",), "src"),
    ("USER u 0 * :Real Name", "USER", ("u", "0", "*", "Real Name"), ""),
    ("PRIVMSG #a :", "PRIVMSG", ("#a", ""), ""),
    ("JOIN :", "JOIN", ("",), ""),
    ("CAP   LS   302", "CAP", ("LS", "302"), ""),
])
def test_parse(line: str, command: str, params: tuple[str, ...], source: str) -> None:
    message = irc.parse(line)
    assert message is not None
    assert (message.command, message.params, message.source) == (command, params, source)


@pytest.mark.parametrize("line", ["", "   ", ":only-a-source", "@tags-only"])
def test_parse_gives_none_for_lines_without_a_command(line: str) -> None:
    assert irc.parse(line) is None


def test_format_puts_a_colon_before_text_and_where_needed() -> None:
    assert irc.format_message("n!u@h", "JOIN", "#lab") == ":n!u@h JOIN #lab"
    assert irc.format_message("n!u@h", "PART", "#lab") == ":n!u@h PART #lab"
    assert irc.format_message("n!u@h", "PART", "#lab", "bye") == ":n!u@h PART #lab :bye"
    assert irc.format_message("n!u@h", "PRIVMSG", "#lab", "hi") == ":n!u@h PRIVMSG #lab :hi"
    assert irc.format_message("", "PING", "srv") == "PING srv"
    assert irc.format_message("n", "MODE", "n", "+i") == ":n MODE n +i"
    assert irc.numeric("srv", irc.RPL_UMODEIS, "", "+") == ":srv 221 * :+"
    assert irc.numeric("srv", irc.RPL_WELCOME, "n", "Welcome") == ":srv 001 n :Welcome"


def test_line_limits_count_tags_apart() -> None:
    assert not irc.content_too_long(b"x" * 510)
    assert irc.content_too_long(b"x" * 511)
    assert not irc.content_too_long(b"@" + b"t" * 8000 + b" " + b"x" * 510)
    assert irc.content_too_long(b"@" + b"t" * 8200 + b" PING x")


def test_formatting_codes_are_stripped_for_line_clients_and_hidden_characters_replaced() -> None:
    text = "\x02b\x02 \x0304,12c\x03 \x0399x \x04FF0000h\x04 \x1di\x1d \x1fu\x1f \x16r\x0f \x11m\x11 \x1es\x1e"
    assert irc.strip_formatting(text) == "b c x h i u r m s"
    assert irc.for_line_clients("a\x02b\x07c\u202ed") == "ab\ufffdc\ufffdd"


def test_cr_lf_and_nul_never_pass() -> None:
    assert irc.safe("a\0b\rc\nd") == "a\ufffdb\ufffdc\ufffdd"
    assert irc.safe("\x02kept\x02") == "\x02kept\x02"


def test_ctcp_action() -> None:
    assert irc.action("waves") == "\x01ACTION waves\x01"
    assert irc.action_text("\x01ACTION waves\x01") == "waves"
    assert irc.action_text("\x01ACTION no end") == "no end"
    assert irc.action_text("\x01VERSION\x01") is None and irc.is_ctcp("\x01VERSION\x01")


def test_nick_and_channel_names() -> None:
    assert irc.is_valid_nick("alice") and irc.is_valid_nick("[away]|x") and irc.is_valid_nick("a" * 32)
    for bad in ("", "a" * 33, "1abc", "-a", "a b", "a!b", "a@b", "#a", "a,b"):
        assert not irc.is_valid_nick(bad), bad
    assert irc.is_valid_channel("#lab") and not irc.is_valid_channel("lab")
    assert not irc.is_valid_channel("#" + "x" * 51) and irc.is_valid_channel("#" + "x" * 50)


def test_registration_waits_for_nick_user_and_cap_end() -> None:
    registration = irc.Registration()
    registration.nick = "a"
    assert not registration.ready()
    registration.user = "u"
    assert registration.ready()
    registration.negotiating = True
    assert not registration.ready()
    registration.negotiating = False
    assert registration.ready()
    locked = irc.Registration(password_needed=True, password="nope")
    assert not locked.password_ok("secret") and irc.Registration().password_ok("secret")


def test_cap_requests_naks_unknown_capabilities() -> None:
    assert irc.cap_request("multi-prefix -userhost-in-names") == (True, ["multi-prefix", "-userhost-in-names"])
    assert irc.cap_request("multi-prefix sasl")[0] is False


def test_isupport_fits_lines_of_13_tokens() -> None:
    lines = irc.isupport_lines("srv", "nick")
    tokens = irc.isupport_tokens()
    assert len(lines) == -(-len(tokens) // 13)
    assert all(len(line.encode()) <= irc.MAX_CONTENT for line in lines)
    assert {"CASEMAPPING=ascii", "CHANTYPES=#", "PREFIX=(o)@", "CHANMODES=,,,n", "NETWORK=chatlab"} <= set(tokens)


def test_split_words_keeps_each_group_within_its_budget() -> None:
    groups = irc.split_words([f"nick{n}" for n in range(100)], 50)
    assert all(len(" ".join(group)) <= 50 for group in groups)
    assert sum(len(group) for group in groups) == 100

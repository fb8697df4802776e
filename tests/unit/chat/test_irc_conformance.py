"""The IRC listener held to what an outside conformance suite's core server tests check (irctest's
registration, PING, JOIN/PART/QUIT, PRIVMSG/NOTICE, NAMES, WHO, LIST and NICK cases), on loopback with the
raw-socket client: numerics with their parameters to the letter, replies synchronised by a PING."""

from __future__ import annotations

from irc_helpers import SERVER, IrcConn

from chat import irc

S = f":{SERVER}"


def params(line: str) -> list[str]:
    """A received line's parameters after its command (the trailing one without its ':')."""
    message = irc.parse(line)
    assert message is not None, line
    return list(message.params)


def commands(lines: list[str]) -> set[str]:
    return {line.split(" ")[1] for line in lines}


def maker_and_joiner(irc_server, irc_connect) -> tuple[IrcConn, IrcConn, list[str]]:
    """nick1 makes #chan (so is its operator), then nick2 joins it; nick2's join replies."""
    nick1, nick2 = irc_connect(irc_server, nick="nick1"), irc_connect(irc_server, nick="nick2")
    nick1.send("JOIN #chan")
    nick1.barrier()
    nick2.send("JOIN #chan")
    return nick1, nick2, nick2.barrier()


def test_004_lists_the_user_and_channel_modes(irc_server, irc_connect) -> None:
    """004 is <client> <server> <version> <user modes> <channel modes> [<channel modes with a parameter>],
    the channel modes not empty."""
    lines = irc_connect(irc_server).register("foo")
    myinfo = next(line for line in lines if line.split(" ")[1] == "004")
    assert params(myinfo) == ["foo", SERVER, irc.VERSION, "i", "no", "o"]
    for code in ("001", "002", "003"):
        assert len(params(next(line for line in lines if line.split(" ")[1] == code))) == 2
    isupport = " ".join(line for line in lines if " 005 " in line)
    assert " PREFIX=(o)@ " in isupport and " CHANMODES=,,,n " in isupport


def test_the_creator_of_a_channel_is_its_operator_in_names(irc_server, irc_connect) -> None:
    nick1, _nick2, joined = maker_and_joiner(irc_server, irc_connect)
    assert [params(line) for line in joined if " 353 " in line] == [["nick2", "=", "#chan", "@nick1 nick2"]]
    nick1.barrier()
    nick1.send("NAMES #chan")
    assert nick1.barrier() == [f"{S} 353 nick1 = #chan :@nick1 nick2", f"{S} 366 nick1 #chan :End of /NAMES list"]


def test_operator_status_goes_with_the_operator(irc_server, irc_connect) -> None:
    """Whoever leaves takes its status along; the channel keeps no operator until it is made anew."""
    nick1, nick2, _ = maker_and_joiner(irc_server, irc_connect)
    nick1.send("PART #chan")
    nick1.barrier()
    nick2.send("NAMES #chan")
    assert nick2.barrier()[-2] == f"{S} 353 nick2 = #chan :nick2"


def test_mode_o_by_an_operator_gives_and_takes_operator_status(irc_server, irc_connect) -> None:
    nick1, nick2, _ = maker_and_joiner(irc_server, irc_connect)
    nick1.barrier()
    nick2.send("MODE #chan +o nick2")
    assert nick2.barrier() == [f"{S} 482 nick2 #chan :You're not channel operator"]
    nick1.send("MODE #chan +o nick2")
    change = ":nick1!user@127.0.0.1 MODE #chan +o nick2"
    assert nick1.barrier() == [change]
    assert nick2.barrier() == [change]
    nick1.send("MODE #chan +o nobody")
    assert nick1.barrier() == [f"{S} 401 nick1 nobody :No such nick/channel"]
    nick2.send("NAMES #chan")
    assert nick2.barrier()[0] == f"{S} 353 nick2 = #chan :@nick1 @nick2"


def test_who_flags_an_operator_with_at(irc_server, irc_connect) -> None:
    """WHO on a channel, a nick (case-folded) or a mask: 352 <client> <channel> <user> <host> <server> <nick>
    <flags> :<hopcount> <realname>, the flags H (G if away) and @ for an operator of that channel."""
    cool = irc_connect(irc_server)
    cool.register("coolNick", user="myusernam", realname="My UniqueReal Name")
    cool.send("JOIN #chan")
    cool.barrier()
    other = irc_connect(irc_server, nick="otherNick")
    other.send("JOIN #chan")
    other.barrier()
    reply = ["otherNick", "#chan", "myusernam", "127.0.0.1", SERVER, "coolNick", "H@", "0 My UniqueReal Name"]
    for mask in ("coolNick", "coolnick", "coolni*"):
        other.send(f"WHO {mask}")
        lines = other.barrier()
        assert [params(line) for line in lines] == [reply, ["otherNick", mask, "End of WHO list"]]
    other.send("WHO *")
    lines = other.barrier()
    assert len(lines) == 3 and params(lines[0]) == reply and params(lines[1])[6] == "H"
    assert params(lines[2]) == ["otherNick", "*", "End of WHO list"]
    cool.send("AWAY :be right back")
    cool.barrier()
    other.send("WHO #CHAN")
    assert params(other.barrier()[0])[6] == "G@"


def test_notice_never_gets_an_error_reply(irc_server, irc_connect) -> None:
    """Automatic replies must never be sent in response to a NOTICE (RFC 1459 4.4.2, RFC 2812 3.3.2)."""
    foo = irc_connect(irc_server, nick="foo")
    irc_connect(irc_server, nick="bar").send("JOIN #elsewhere")
    for line in ("NOTICE #nonexistent :hello there", "NOTICE nobody :hi", "NOTICE #elsewhere :hi",
                 "NOTICE", "NOTICE foo", "NOTICE a,b,c,d,e :hi"):
        foo.send(line)
        assert foo.barrier() == [], line
    foo.send("PRIVMSG #nonexistent :hello there")
    assert foo.barrier() == [f"{S} 403 foo #nonexistent :No such channel"]


def test_names_without_a_channel_lists_every_channel(irc_server, irc_connect) -> None:
    nick1, nick2 = irc_connect(irc_server, nick="nick1"), irc_connect(irc_server, nick="nick2")
    nick1.send("JOIN #chan1")
    nick1.barrier()
    nick2.send("JOIN #chan2")
    nick2.barrier()
    nick1.send("NAMES")
    assert nick1.barrier() == [f"{S} 353 nick1 = #chan1 :@nick1", f"{S} 353 nick1 = #chan2 :@nick2",
                               f"{S} 366 nick1 * :End of /NAMES list"]


def test_mode_of_a_channel_says_no_external_messages(irc_server, irc_connect) -> None:
    foo = irc_connect(irc_server, nick="foo")
    foo.send("JOIN #chan")
    foo.barrier()
    foo.send("MODE #chan")
    assert params(foo.barrier()[0]) == ["foo", "#chan", "+n"]


def test_the_irctest_core_sequences_keep_working(irc_server, irc_connect) -> None:
    """What already passed, kept: empty realname (461), PING forms, partly invalid JOIN, PART and QUIT echoes,
    LIST, a failed and a case-only NICK change."""
    conn = IrcConn(irc_server.server.irc_address[1])
    try:
        conn.send("NICK foo")
        conn.send("USER username * * :")
        assert params(conn.line()) == ["*", "USER", "Not enough parameters"]
    finally:
        conn.close()
    foo, bar = irc_connect(irc_server, nick="foo"), irc_connect(irc_server, nick="bar")
    foo.send("PING abcdef")
    assert foo.line() == f"{S} PONG {SERVER} :abcdef"
    foo.send("PING")
    assert params(foo.line()) == ["foo", "No origin specified"]
    foo.send("JOIN #valid,inv@lid")
    lines = foo.barrier()
    assert commands(lines) == {"JOIN", "353", "366", "403"}
    assert [params(line) for line in lines if " 403 " in line] == [["foo", "inv@lid", "No such channel"]]
    bar.send("JOIN #valid")
    bar.barrier()
    foo.barrier()
    foo.send("PART #valid :bye everyone")
    assert params(foo.barrier()[0]) == ["#valid", "bye everyone"]
    assert params(bar.barrier()[0]) == ["#valid", "bye everyone"]
    bar.send("NICK foo")
    assert bar.barrier() == [f"{S} 433 bar foo :Nickname is already in use"]
    bar.send("NICK Bar")
    assert bar.barrier() == [":bar!user@127.0.0.1 NICK Bar"]
    bar.send("NICK Bar")
    assert bar.barrier() == []
    foo.send("LIST")
    assert [line.split(" ")[1] for line in foo.barrier()] == ["321", "322", "323"]


def test_lusers_counts_users_unregistered_and_the_peak(irc_server, irc_connect) -> None:
    """251 and 255 agree with 265/266 <client> <users> <max> :text; 253 counts connections not yet registered."""
    bar = irc_connect(irc_server, nick="bar")
    qux = irc_connect(irc_server, nick="qux")
    pending = irc_connect(irc_server)
    pending.send("NICK pending")
    pending.barrier()
    bar.send("LUSERS")
    assert [params(line) for line in bar.barrier()] == [
        ["bar", "There are 2 users and 0 invisible on 1 servers"], ["bar", "0", "operator(s) online"],
        ["bar", "1", "unknown connection(s)"], ["bar", "0", "channels formed"],
        ["bar", "I have 2 clients and 0 servers"], ["bar", "2", "2", "Current local users 2, max 2"],
        ["bar", "2", "2", "Current global users 2, max 2"]]
    qux.send("QUIT")
    qux.expect(lambda text: text.startswith("ERROR "))
    bar.send("PING sync")  # the quit is handled once the server answers another client's PING after it
    bar.expect(f"{S} PONG {SERVER} :sync")
    bar.send("LUSERS")
    assert params(bar.barrier()[-1]) == ["bar", "1", "2", "Current global users 1, max 2"]

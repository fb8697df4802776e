"""The chat server's IRC listener on loopback, driven by a raw-socket IRC client: registration (with and
without CAP, irssi's and WeeChat's openings, PASS), every command and its numerics, one world shared with
line clients, and the limits (flood, excess flood, ping timeout, overlong lines, NUL, invalid UTF-8)."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from chat_helpers import CHAT_WAIT
from irc_helpers import SERVER, IrcConn, irc_port, join_one_channel

S = f":{SERVER}"


def welcome_codes(lines: list[str]) -> list[str]:
    return [line.split(" ")[1] for line in lines if line.startswith(S)]


# --- registration ----------------------------------------------------------------------------------


def test_registration_without_cap_gives_001_to_005_lusers_and_422(irc_server, irc_connect) -> None:
    conn = irc_connect(irc_server)
    lines = conn.register("alice", user="al", realname="Alice Liddell")
    assert lines[0] == f"{S} 001 alice :Welcome to the chatlab Network, alice!al@127.0.0.1"
    assert lines[1] == f"{S} 002 alice :Your host is {SERVER}, running version chatlab-0.1"
    assert lines[2].startswith(f"{S} 003 alice :This server was created ")
    assert lines[3] == f"{S} 004 alice {SERVER} chatlab-0.1 i no :o"
    codes = welcome_codes(lines)
    assert codes[4] == "005" and codes[-8:] == ["251", "252", "253", "254", "255", "265", "266", "422"]
    isupport = " ".join(line for line in lines if " 005 " in line)
    for token in ("CASEMAPPING=ascii", "CHANTYPES=#", "NICKLEN=32", "CHANNELLEN=51", "CHANLIMIT=#:20",
                  "TARGMAX=", "PREFIX=(o)@", "CHANMODES=,,,n", "NETWORK=chatlab"):
        assert f" {token}" in isupport, token
    assert all(line.endswith(":are supported by this server") for line in lines if " 005 " in line)
    assert f"{S} 251 alice :There are 1 users and 0 invisible on 1 servers" in lines
    assert f"{S} 422 alice :MOTD File is missing" == lines[-1]


def test_cap_ls_holds_registration_until_cap_end_and_naks_unknown(irc_server, irc_connect) -> None:
    conn = irc_connect(irc_server)
    conn.send("CAP LS 302")
    assert conn.line() == f"{S} CAP * LS :multi-prefix userhost-in-names"
    conn.send("NICK bob")
    conn.send("USER bob 0 * :Bob")
    conn.send("CAP REQ :no-such-cap")
    assert conn.line() == f"{S} CAP * NAK :no-such-cap"
    conn.send("CAP REQ :userhost-in-names")
    assert conn.line() == f"{S} CAP * ACK :userhost-in-names"
    conn.send("CAP LIST")
    assert conn.line() == f"{S} CAP * LIST :userhost-in-names"  # still unregistered: nothing else came
    conn.send("CAP END")
    assert conn.line().startswith(f"{S} 001 bob ")
    conn.expect(f"{S} 422 bob :MOTD File is missing")
    conn.send("JOIN #caps")
    assert conn.expect(lambda text: " 353 " in text) == f"{S} 353 bob = #caps :@bob!bob@127.0.0.1"


def test_irssi_opening_registers(irc_server, irc_connect) -> None:
    """irssi 1.4: CAP LS 302 and a bare JOIN : (a probe), then NICK/USER after CAP END."""
    conn = irc_connect(irc_server)
    conn.send("CAP LS 302")
    conn.send("JOIN :")
    assert conn.line().startswith(f"{S} CAP * LS ")
    assert conn.line() == f"{S} 451 * :You have not registered"
    conn.send("CAP END")
    assert welcome_codes(conn.register("irssi"))[0] == "001"


def test_weechat_opening_registers(irc_server, irc_connect) -> None:
    """WeeChat 3.8: CAP LS 302, NICK, USER, then CAP END once the LS reply came."""
    conn = irc_connect(irc_server)
    conn.send("CAP LS 302")
    conn.send("NICK wee")
    conn.send("USER wee 0 * :WeeChat")
    assert conn.line().startswith(f"{S} CAP * LS ")
    conn.send("CAP END")
    assert conn.line().startswith(f"{S} 001 wee ")
    conn.expect(f"{S} 422 wee :MOTD File is missing")


def test_commands_before_registration_get_451(irc_server, irc_connect) -> None:
    conn = irc_connect(irc_server)
    for command in ("PRIVMSG #x :hi", "JOIN #x", "WHO #x", "LIST", "NAMES #x", "MODE x"):
        conn.send(command)
        assert conn.line() == f"{S} 451 * :You have not registered", command
    conn.send("PING early")
    assert conn.line() == f"{S} PONG {SERVER} :early"


def test_password_is_required_when_set(chat_server_factory, irc_connect) -> None:
    server = chat_server_factory(rate=0, irc_port=0, server_name=SERVER, irc_password="s3cret")
    wrong = irc_connect(server)
    wrong.send("PASS nope")
    wrong.send("NICK wrong")
    wrong.send("USER w 0 * :W")
    lines = wrong.closed()
    assert lines == [f"{S} 464 * :Password incorrect", "ERROR :Closing Link: 127.0.0.1 (Bad password)"]
    right = irc_connect(server)
    right.send("PASS s3cret")
    assert welcome_codes(right.register("right"))[0] == "001"


def test_motd_file(chat_server_factory, irc_connect) -> None:
    server = chat_server_factory(rate=0, irc_port=0, server_name=SERVER, motd=("Hello", "lab"))
    lines = irc_connect(server).register("m")
    assert lines[-4:] == [f"{S} 375 m :- {SERVER} Message of the day - ", f"{S} 372 m :- Hello",
                          f"{S} 372 m :- lab", f"{S} 376 m :End of /MOTD command."]


def test_nick_errors_and_one_namespace_with_line_clients(irc_server, irc_connect, chat_connect) -> None:
    chat_connect(irc_server.port, nick="Taken")
    conn = irc_connect(irc_server)
    conn.send("NICK")
    assert conn.line() == f"{S} 431 * :No nickname given"
    conn.send("USER u 0 * :")
    assert conn.line() == f"{S} 461 * USER :Not enough parameters"
    conn.send("NICK bad!nick")
    assert conn.line() == f"{S} 432 * bad!nick :Erroneus nickname"
    conn.send("NICK taken")
    assert conn.line() == f"{S} 433 * taken :Nickname is already in use"
    conn.register("free")
    conn.send("NICK TAKEN")
    assert conn.line() == f"{S} 433 free TAKEN :Nickname is already in use"
    conn.send("NICK newname")
    assert conn.line() == ":free!user@127.0.0.1 NICK newname"
    conn.send("USER again 0 * :x")
    assert conn.line() == f"{S} 462 newname :You may not reregister"


# --- commands --------------------------------------------------------------------------------------


def test_ping_pong_and_unknown_commands(irc_server, irc_connect) -> None:
    conn = irc_connect(irc_server, nick="p")
    conn.send("PING :some token")
    assert conn.line() == f"{S} PONG {SERVER} :some token"
    conn.send("PING")
    assert conn.line() == f"{S} 409 p :No origin specified"
    conn.send("FROBNICATE x")
    assert conn.line() == f"{S} 421 p FROBNICATE :Unknown command"


def test_join_several_channels_names_and_part(irc_server, irc_connect) -> None:
    a = irc_connect(irc_server, nick="a")
    b = irc_connect(irc_server, nick="b")
    a.send("JOIN #one,#two")
    assert a.until(f"{S} 366 a #two :End of /NAMES list") == [
        ":a!user@127.0.0.1 JOIN #one", f"{S} 353 a = #one :@a", f"{S} 366 a #one :End of /NAMES list",
        ":a!user@127.0.0.1 JOIN #two", f"{S} 353 a = #two :@a", f"{S} 366 a #two :End of /NAMES list"]
    b.send("JOIN #two")
    b.expect(f"{S} 353 b = #two :@a b")
    b.numeric("366")
    assert a.line() == ":b!user@127.0.0.1 JOIN #two"
    a.send("NAMES #one,#none")
    assert a.until(f"{S} 366 a #none :End of /NAMES list") == [
        f"{S} 353 a = #one :@a", f"{S} 366 a #one :End of /NAMES list", f"{S} 366 a #none :End of /NAMES list"]
    a.send("NAMES")
    assert a.until(f"{S} 366 a * :End of /NAMES list") == [
        f"{S} 353 a = #one :@a", f"{S} 353 a = #two :@a b", f"{S} 366 a * :End of /NAMES list"]
    a.send("PART #two :see you")
    assert a.line() == ":a!user@127.0.0.1 PART #two :see you"
    assert b.line() == ":a!user@127.0.0.1 PART #two :see you"
    a.send("PART #two")
    assert a.line() == f"{S} 442 a #two :You're not on that channel"
    a.send("PART #nowhere")
    assert a.line() == f"{S} 403 a #nowhere :No such channel"
    a.send("JOIN bad")
    assert a.line() == f"{S} 403 a bad :No such channel"
    a.send("JOIN")
    assert a.line() == f"{S} 461 a JOIN :Not enough parameters"


def test_join_stops_at_chanlimit(irc_server, irc_connect) -> None:
    conn = irc_connect(irc_server, nick="many")
    conn.send("JOIN " + ",".join(f"#c{n}" for n in range(21)))
    assert conn.expect(lambda text: " 405 " in text) == f"{S} 405 many #c20 :You have joined too many channels"


def test_privmsg_and_notice_to_channel_and_nick_with_their_errors(irc_server, irc_connect) -> None:
    a = irc_connect(irc_server, nick="a")
    b = irc_connect(irc_server, nick="b")
    join_one_channel("#talk", a, b)
    a.send("PRIVMSG #talk :hello there")
    assert b.line() == ":a!user@127.0.0.1 PRIVMSG #talk :hello there"
    a.send("NOTICE #talk :a notice")
    assert b.line() == ":a!user@127.0.0.1 NOTICE #talk :a notice"
    a.send("PRIVMSG b :just you")
    assert b.line() == ":a!user@127.0.0.1 PRIVMSG b :just you"
    assert a.barrier() == []  # no echo to the sender
    a.send("PRIVMSG nobody :x")
    assert a.line() == f"{S} 401 a nobody :No such nick/channel"
    a.send("PRIVMSG #nochan :x")
    assert a.line() == f"{S} 403 a #nochan :No such channel"
    b.send("JOIN #other")
    b.numeric("366")
    a.send("PRIVMSG #other :x")
    assert a.line() == f"{S} 404 a #other :Cannot send to channel"
    a.send("PRIVMSG")
    assert a.line() == f"{S} 411 a :No recipient given (PRIVMSG)"
    a.send("PRIVMSG #talk")
    assert a.line() == f"{S} 412 a :No text to send"
    a.send("PRIVMSG #talk :")
    assert a.line() == f"{S} 412 a :No text to send"


def test_topic_set_to_what_it_is_is_no_change_and_tells_no_one(irc_server, irc_connect) -> None:
    """Modern: the room hears TOPIC when the topic is changed or cleared; the same text again is neither."""
    a, b = irc_connect(irc_server, nick="a"), irc_connect(irc_server, nick="b")
    join_one_channel("#same", a, b)
    a.send("TOPIC #same :T0P1C")
    assert a.line() == ":a!user@127.0.0.1 TOPIC #same :T0P1C"
    assert b.expect(lambda text: "TOPIC" in text) == ":a!user@127.0.0.1 TOPIC #same :T0P1C"
    a.send("TOPIC #same :T0P1C")
    assert a.barrier() == [] and b.barrier() == []
    a.send("TOPIC #same :")
    assert a.line() == ":a!user@127.0.0.1 TOPIC #same :"
    a.send("TOPIC #same :")  # clearing what is already clear
    assert a.barrier() == []


def test_who_list_topic_and_mode(irc_server, irc_connect) -> None:
    a = irc_connect(irc_server, nick="a")
    a.send("JOIN #room")
    a.numeric("366")
    a.send("WHO #room")
    assert a.until(f"{S} 315 a #room :End of WHO list") == [
        f"{S} 352 a #room user 127.0.0.1 {SERVER} a H@ :0 Real Name", f"{S} 315 a #room :End of WHO list"]
    a.send("WHO a*")
    assert a.until(f"{S} 315 a a* :End of WHO list") == [
        f"{S} 352 a #room user 127.0.0.1 {SERVER} a H@ :0 Real Name", f"{S} 315 a a* :End of WHO list"]
    a.send("TOPIC #room")
    assert a.line() == f"{S} 331 a #room :No topic is set"
    a.send("TOPIC #room :new topic")
    assert a.line() == ":a!user@127.0.0.1 TOPIC #room :new topic"
    a.send("TOPIC #room")
    assert a.line() == f"{S} 332 a #room :new topic"
    assert re.fullmatch(rf"{S} 333 a #room a :?\d+", a.line())
    a.send("LIST")
    assert a.until(f"{S} 323 a :End of /LIST") == [
        f"{S} 321 a Channel :Users  Name", f"{S} 322 a #room 1 :new topic", f"{S} 323 a :End of /LIST"]
    a.send("MODE #room")
    assert a.line() == f"{S} 324 a #room :+n"
    assert re.fullmatch(rf"{S} 329 a #room :?\d+", a.line())
    a.send("MODE #room b")
    assert a.line() == f"{S} 368 a #room :End of channel ban list"
    a.send("MODE a")
    assert a.line() == f"{S} 221 a :+"
    a.send("MODE a +i")
    assert a.line() == ":a MODE a +i"
    a.send("MODE a +z")
    assert a.line() == f"{S} 501 a :Unknown MODE flag"


def test_away_whois_userhost_ison(irc_server, irc_connect) -> None:
    a = irc_connect(irc_server, nick="a")
    b = irc_connect(irc_server, nick="b")
    b.send("AWAY :out for lunch")
    assert b.line() == f"{S} 306 b :You have been marked as being away"
    a.send("PRIVMSG b :are you there")
    assert a.line() == f"{S} 301 a b :out for lunch"
    a.send("WHOIS b")
    lines = a.until(f"{S} 318 a b :End of /WHOIS list")
    assert lines[0] == f"{S} 311 a b user 127.0.0.1 * :Real Name"
    assert f"{S} 312 a b {SERVER} :chatlab chat server" in lines
    a.send("WHOIS nobody")
    assert a.line() == f"{S} 401 a nobody :No such nick/channel"
    assert a.line() == f"{S} 318 a nobody :End of /WHOIS list"
    a.send("USERHOST a b")
    assert a.line() == f"{S} 302 a :a=+user@127.0.0.1 b=-user@127.0.0.1"
    a.send("ISON a nobody b")
    assert a.line() == f"{S} 303 a :a b"
    b.send("AWAY")
    assert b.expect(lambda text: " 305 " in text) == f"{S} 305 b :You are no longer marked as being away"


def test_quit_tells_the_channels_then_error_and_close(irc_server, irc_connect) -> None:
    a = irc_connect(irc_server, nick="a")
    b = irc_connect(irc_server, nick="b")
    for conn in (a, b):
        conn.send("JOIN #q,#r")
        conn.numeric("366")
        conn.numeric("366")
    a.barrier()
    a.send("QUIT :gone fishing")
    assert a.closed() == ["ERROR :Closing Link: 127.0.0.1 (Quit: gone fishing)"]
    assert b.line() == ":a!user@127.0.0.1 QUIT :Quit: gone fishing"  # once, though they shared two channels
    assert b.barrier() == []


# --- one world with line clients -------------------------------------------------------------------


def test_line_and_irc_clients_share_a_room_both_ways(irc_server, irc_connect, chat_connect) -> None:
    line = chat_connect(irc_server.port, nick="liner", room="#lab")
    irc = irc_connect(irc_server, nick="ircer")
    irc.send("JOIN #LAB")
    assert irc.line() == ":ircer!user@127.0.0.1 JOIN #lab"
    assert irc.line() == f"{S} 353 ircer = #lab :ircer @liner"
    assert line.line() == "* ircer joined #lab"
    line.send("hello irc")
    assert irc.expect(lambda text: "PRIVMSG" in text) == ":liner!line@127.0.0.1 PRIVMSG #lab :hello irc"
    irc.send("PRIVMSG #lab :hello line")
    assert line.line() == "[#lab] ircer: hello line"
    line.send("/me waves")
    assert irc.line() == ":liner!line@127.0.0.1 PRIVMSG #lab :\x01ACTION waves\x01"
    irc.send("PRIVMSG #lab :\x01ACTION waves back\x01")
    assert line.line() == "[#lab] * ircer waves back"
    line.send("/msg ircer psst")
    assert irc.line() == ":liner!line@127.0.0.1 PRIVMSG ircer :psst"
    irc.send("PRIVMSG liner :psst back")
    assert line.line() == "* private to ircer: psst"
    assert line.line() == "[private] ircer: psst back"
    irc.send("NICK ircer2")
    assert irc.line() == ":ircer!user@127.0.0.1 NICK ircer2"
    assert line.line() == "* ircer is now ircer2"
    line.send("/nick liner2")
    line.expect("* you are now liner2")
    assert irc.line() == ":liner!line@127.0.0.1 NICK liner2"
    irc.send("TOPIC #lab :shared topic")
    assert irc.line() == ":ircer2!user@127.0.0.1 TOPIC #lab :shared topic"
    assert line.line() == "* ircer2 set the topic of #lab: shared topic"
    line.send("/topic")
    assert line.line() == "* topic of #lab: shared topic (set by ircer2)"
    line.send("/topic line topic")
    assert irc.expect(lambda text: "TOPIC" in text) == ":liner2!line@127.0.0.1 TOPIC #lab :line topic"
    line.send("/leave")
    assert irc.line() == ":liner2!line@127.0.0.1 PART #lab"
    line.send("/join #lab")
    assert irc.line() == ":liner2!line@127.0.0.1 JOIN #lab"
    irc.send("PART #lab :bye all")
    assert line.expect(lambda text: "ircer2 left" in text) == "* ircer2 left #lab (bye all)"
    irc.send("JOIN #lab")
    line.expect("* ircer2 joined #lab")
    irc.send("QUIT :off")
    assert line.expect(lambda text: "ircer2 left" in text) == "* ircer2 left #lab (Quit: off)"
    line.send("/quit")
    assert irc.closed()  # closed after its ERROR


def test_line_client_quit_is_an_irc_quit(irc_server, irc_connect, chat_connect) -> None:
    line = chat_connect(irc_server.port, nick="leaver", room="#lab")
    irc = irc_connect(irc_server, nick="stay")
    irc.send("JOIN #lab")
    irc.numeric("366")
    line.send("/quit")
    assert irc.line() == ":leaver!line@127.0.0.1 QUIT :quit"


def test_formatting_passes_between_irc_clients_and_is_stripped_for_line_clients(
        irc_server, irc_connect, chat_connect) -> None:
    line = chat_connect(irc_server.port, nick="liner", room="#fmt")
    a = irc_connect(irc_server, nick="a")
    b = irc_connect(irc_server, nick="b")
    join_one_channel("#fmt", a, b)
    text = "\x02bold\x02 \x0304,12red\x03 \x1ditalic\x1d \x1funder\x1f \x16rev\x0f end"
    a.send(f"PRIVMSG #fmt :{text}")
    assert b.expect(lambda t: "PRIVMSG" in t) == f":a!user@127.0.0.1 PRIVMSG #fmt :{text}"
    assert line.expect(lambda t: t.startswith("[#fmt] a:")) == "[#fmt] a: bold red italic under rev end"


def test_nul_and_invalid_utf8_are_replaced_never_dropped(irc_server, irc_connect, chat_connect) -> None:
    line = chat_connect(irc_server.port, nick="liner", room="#bytes")
    a = irc_connect(irc_server, nick="a")
    b = irc_connect(irc_server, nick="b")
    join_one_channel("#bytes", a, b)
    a.send(b"PRIVMSG #bytes :nul\x00here caf\xe9 cr\rhere\r\n")
    replaced = "nul\ufffdhere caf\ufffd cr\ufffdhere"
    assert b.expect(lambda t: "PRIVMSG" in t) == f":a!user@127.0.0.1 PRIVMSG #bytes :{replaced}"
    assert line.expect(lambda t: t.startswith("[#bytes]")) == f"[#bytes] a: {replaced}"


def test_overlong_line_gets_417_and_the_connection_stays(irc_server, irc_connect) -> None:
    conn = irc_connect(irc_server, nick="long")
    conn.send("PRIVMSG long :" + "x" * 600)
    assert conn.line() == f"{S} 417 long :Input line was too long"
    conn.send("PING :" + "x" * (510 - len("PING :")))  # exactly 512 bytes with CR LF: fine
    assert conn.line().startswith(f"{S} PONG {SERVER} :xxxx")
    conn.send("@" + "t" * 5000 + " PING tagged")  # tags have their own, larger limit
    assert conn.line() == f"{S} PONG {SERVER} :tagged"
    conn.send("x" * 20_000)
    assert conn.line() == f"{S} 417 long :Input line was too long"
    assert conn.barrier() == []


def test_line_text_too_long_for_irc_is_cut_to_512_bytes(irc_server, irc_connect, chat_connect) -> None:
    line = chat_connect(irc_server.port, nick="liner", room="#cut")
    conn = irc_connect(irc_server, nick="c")
    conn.send("JOIN #cut")
    conn.numeric("366")
    line.send("y" * 3000)
    got = conn.expect(lambda t: "PRIVMSG" in t)
    assert got.startswith(":liner!line@127.0.0.1 PRIVMSG #cut :yyy") and len(got.encode()) == 510


# --- limits ----------------------------------------------------------------------------------------


def test_flood_is_fakelag_and_excess_flood_closes_the_link(chat_server_factory, irc_connect) -> None:
    server = chat_server_factory(rate=1, burst=2, max_recvq=2048, irc_port=0, server_name=SERVER)
    conn = irc_connect(server, nick="flood")  # registration's lines paid for the burst
    conn.send("".join(f"PING t{n}\r\n" for n in range(3)))
    assert conn.line() == f"{S} PONG {SERVER} :t0"  # answered as the rate allows: the rest wait their turn
    conn.send(b"PING x\r\n" * 5000)  # 40 kB over its rate: more than the recvq
    lines = conn.closed()
    assert lines[-1] == "ERROR :Closing Link: 127.0.0.1 (Excess Flood)", lines[-3:]
    assert not any("NOTICE" in line for line in lines)  # fakelag is silent


def test_quit_is_honoured_while_over_the_rate(chat_server_factory, irc_connect) -> None:
    server = chat_server_factory(rate=0.5, burst=1, irc_port=0, server_name=SERVER)
    conn = irc_connect(server, nick="slow")
    conn.send(b"PING a\r\n" * 20 + b"QUIT :done\r\n")
    assert conn.closed()[-1].startswith("ERROR :Closing Link: 127.0.0.1 (Quit")


def test_silent_irc_client_is_pinged_then_dropped(chat_server_factory, irc_connect, chat_connect) -> None:
    server = chat_server_factory(rate=0, irc_port=0, server_name=SERVER, ping_interval=0.5)
    silent = irc_connect(server, nick="silent")
    silent.send("JOIN #alive")
    silent.numeric("366")
    watcher = irc_connect(server, nick="watcher")
    watcher.send("JOIN #alive")
    watcher.numeric("366")

    def watch() -> str:  # meanwhile the watcher answers its own pings, and waits for silent's QUIT
        while (line := watcher.line()).startswith("PING"):
            watcher.send(f"PONG {SERVER}")
        return line

    watching = ThreadPoolExecutor(1).submit(watch)
    assert silent.expect(lambda t: t.startswith("PING")) == f"PING {SERVER}"
    silent.send(f"PONG {SERVER}")  # answered: it stays
    assert silent.expect(lambda t: t.startswith("PING")) == f"PING {SERVER}"  # and is asked again later
    lines = silent.closed()
    assert lines[-1] == "ERROR :Closing Link: 127.0.0.1 (Ping timeout: 0.5 seconds)"
    assert watching.result(CHAT_WAIT) == ":silent!user@127.0.0.1 QUIT :Ping timeout: 0.5 seconds"


def test_caps_are_shared_by_both_listeners(chat_server_factory, chat_connect) -> None:
    server = chat_server_factory(rate=0, irc_port=0, server_name=SERVER, max_clients_per_address=1)
    chat_connect(server.port)
    refused = IrcConn(irc_port(server))
    try:
        assert refused.closed() == [
            "ERROR :Closing Link: 127.0.0.1 (Too many connections from your address)"]
    finally:
        refused.close()


@pytest.mark.parametrize("argv, port", [(["--port", "0"], 0), (["--irc-port", "0"], None),
                                        ([], 6667), (["--irc-port", "7000"], 7000)])
def test_irc_port_flag(argv, port) -> None:
    from chat.server import parse_args

    config, _ = parse_args(argv)
    assert config.irc_port == port


def test_server_shutdown_closes_irc_links_with_error(chat_server_factory, irc_connect) -> None:
    server = chat_server_factory(rate=0, irc_port=0, server_name=SERVER)
    conn = irc_connect(server, nick="late")
    server.stop()
    assert conn.closed()[-1] == "ERROR :Closing Link: 127.0.0.1 (Server shutting down)"


def test_version_gives_351_and_isupport(irc_server, irc_connect) -> None:
    a = irc_connect(irc_server, nick="a")
    a.send("VERSION")
    lines = a.barrier()
    assert lines[0] == f"{S} 351 a chatlab-0.1 {SERVER} :chatlab chat server"
    assert [line.split(" ")[1] for line in lines[1:]] == ["005"] * (len(lines) - 1) and len(lines) > 1
    a.send("VERSION other.server")
    assert a.barrier() == [f"{S} 402 a other.server :No such server"]


def test_whowas_remembers_quits_and_nick_changes_newest_first(irc_server, irc_connect, chat_connect) -> None:
    a = irc_connect(irc_server, nick="a")
    gone = irc_connect(irc_server)
    gone.register("gone", user="gu", realname="Gone Away")
    gone.send("QUIT :bye")
    gone.expect(lambda text: text.startswith("ERROR "))
    renamed = irc_connect(irc_server, nick="old")
    renamed.send("NICK new")
    renamed.barrier()
    line = chat_connect(irc_server.port, nick="gone")  # the nick taken again, then given up by a line client
    line.send("/nick again")
    line.expect("* you are now again")
    a.send("WHOWAS gone")
    assert a.barrier() == [
        f"{S} 314 a gone line 127.0.0.1 * :gone", f"{S} 312 a gone {SERVER} :chatlab chat server",
        f"{S} 314 a gone gu 127.0.0.1 * :Gone Away", f"{S} 312 a gone {SERVER} :chatlab chat server",
        f"{S} 369 a gone :End of WHOWAS"]
    a.send("WHOWAS GONE 1")
    assert a.barrier()[0] == f"{S} 314 a gone line 127.0.0.1 * :gone"
    a.send("WHOWAS old")
    assert a.barrier()[0] == f"{S} 314 a old user 127.0.0.1 * :Real Name"
    a.send("WHOWAS nobody")
    assert a.barrier() == [f"{S} 406 a nobody :There was no such nickname", f"{S} 369 a nobody :End of WHOWAS"]
    a.send("WHOWAS")
    assert a.barrier() == [f"{S} 431 a :No nickname given"]

"""The chat wire protocol as pure code: parse a text line into a Command, format every reply line.

No sockets, no I/O. Lines here are ``str`` without the trailing newline; the server encodes them.

Line kinds sent by the server:
  ``* ...``                     notice (greeting and every informational line)
  ``! ...``                     error (the connection stays open unless the line says otherwise)
  ``[#room] nick: text``        room message
  ``[#room] * nick action``     /me in a room
  ``[private] nick: text``      private message (/msg)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_NICK_LEN = 32
MAX_ROOM_LEN = 50  # not counting the leading '#'

NICK_RE = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_NICK_LEN}}}")
NICK_RULE = f"use 1-{MAX_NICK_LEN} letters, digits, _ or -"  # said wherever a nickname is refused
ROOM_RE = re.compile(rf"#[A-Za-z0-9_-]{{1,{MAX_ROOM_LEN}}}")

NOTICE = "* "
ERROR = "! "

# Command names (what follows the '/'); SAY is a plain line for the room.
SAY = "say"
NICK = "nick"
JOIN = "join"
LEAVE = "leave"
ROOMS = "rooms"
WHO = "who"
MSG = "msg"
ME = "me"
HELP = "help"
QUIT = "quit"

ALIASES = {"exit": QUIT}
NO_ARGUMENT = frozenset({LEAVE, ROOMS, WHO, HELP})
COMMANDS = frozenset({NICK, JOIN, LEAVE, ROOMS, WHO, MSG, ME, HELP, QUIT}) | ALIASES.keys()

USAGE = {
    NICK: "/nick NAME",
    JOIN: "/join #room",
    LEAVE: "/leave",
    ROOMS: "/rooms",
    WHO: "/who",
    MSG: "/msg NICK text",
    ME: "/me action",
    HELP: "/help",
}

HELP_TEXT = (
    "commands: /nick NAME, /join #room, /leave, /rooms, /who, /msg NICK text, /me action, "
    "/help, /quit or /exit; //text sends /text"
)

# C0 and C1 control characters and DEL (tab excepted) would drive the readers' terminals: replace them.
_CONTROLS = {c: "\ufffd" for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)] if c != 0x09}


@dataclass(frozen=True, slots=True)
class Command:
    """One parsed line: ``name`` is SAY or a command; ``target`` a nick or room; ``text`` free text."""

    name: str
    target: str = ""
    text: str = ""


class ProtocolError(Exception):
    """A line the server answers with one error line (the message, without the ``! `` prefix)."""


def clean(text: str) -> str:
    """Text safe to show on a terminal: control characters become U+FFFD."""
    return text if text.isprintable() else text.translate(_CONTROLS)


def is_valid_nick(name: str) -> bool:
    return NICK_RE.fullmatch(name) is not None


def is_valid_room(name: str) -> bool:
    return ROOM_RE.fullmatch(name) is not None


def parse(line: str) -> Command | None:
    """Parse one line (newline already removed). None for a blank line. Raises ProtocolError."""
    if not line or line.isspace():
        return None
    if not line.startswith("/"):
        return Command(SAY, text=clean(line))
    if line.startswith("//"):
        return Command(SAY, text=clean(line[1:]))

    word, _, rest = line[1:].partition(" ")
    name = ALIASES.get(word.lower(), word.lower())
    rest = rest.strip()
    if name not in COMMANDS:
        raise ProtocolError(f"unknown command /{clean(word)} (try /help)")
    if name == QUIT:
        return Command(QUIT)  # anything after /quit is ignored
    if name in NO_ARGUMENT:
        if rest:
            raise ProtocolError(f"usage: {USAGE[name]}")
        return Command(name)
    if not rest:
        raise ProtocolError(f"usage: {USAGE[name]}")
    if name == NICK:
        if not is_valid_nick(rest):
            raise ProtocolError(
                f'invalid nickname "{clean(rest)}": {NICK_RULE}'
            )
        return Command(NICK, target=rest)
    if name == JOIN:
        if not is_valid_room(rest):
            raise ProtocolError(
                f'invalid room name "{clean(rest)}": use # then 1-{MAX_ROOM_LEN} letters, digits, _ or -'
            )
        return Command(JOIN, target=rest)
    if name == ME:
        return Command(ME, text=clean(rest))
    # MSG
    nick, _, text = rest.partition(" ")
    text = text.strip()
    if not text:
        raise ProtocolError(f"usage: {USAGE[MSG]}")
    return Command(MSG, target=nick, text=clean(text))


# --- replies -----------------------------------------------------------------------------------------


def notice(text: str) -> str:
    return NOTICE + text


def error(text: str) -> str:
    return ERROR + text


def greeting(nick: str) -> str:
    return notice(f"welcome to chatlab! you are {nick}; /join #room to talk, /help for commands")


def help_text() -> str:
    return notice(HELP_TEXT)


def room_message(room: str, nick: str, text: str) -> str:
    return f"[{room}] {nick}: {text}"


def action(room: str, nick: str, text: str) -> str:
    return f"[{room}] * {nick} {text}"


def private_message(sender: str, text: str) -> str:
    return f"[private] {sender}: {text}"


def private_sent(recipient: str, text: str) -> str:
    return notice(f"private to {recipient}: {text}")


def nick_changed_self(nick: str) -> str:
    return notice(f"you are now {nick}")


def nick_changed(old: str, new: str) -> str:
    return notice(f"{old} is now {new}")


def joined_self(room: str, members: int) -> str:
    return notice(f"you joined {room} ({members} member{'' if members == 1 else 's'})")


def joined(nick: str, room: str) -> str:
    return notice(f"{nick} joined {room}")


def left_self(room: str) -> str:
    return notice(f"you left {room}")


def left(nick: str, room: str, reason: str = "") -> str:
    return notice(f"{nick} left {room} ({reason})" if reason else f"{nick} left {room}")


def who(room: str, nicks: list[str]) -> str:
    return notice(f"members of {room}: {', '.join(sorted(nicks, key=str.lower))}")


def rooms(counts: list[tuple[str, int]]) -> str:
    """``* rooms: #a (2), #b (1)`` sorted by name (case-insensitively), or ``* rooms: none``."""
    if not counts:
        return notice("rooms: none")
    ordered = sorted(counts, key=lambda item: (item[0].lower(), item[0]))
    return notice("rooms: " + ", ".join(f"{name} ({count})" for name, count in ordered))


def bye() -> str:
    return notice("bye")


def shutting_down() -> str:
    return notice("server shutting down")


def join_first() -> str:
    return error("join a room first: /join #room")


def not_in_room() -> str:
    return error("you are not in a room")


def already_in(room: str) -> str:
    return error(f"you are already in {room}")


def nick_taken(nick: str) -> str:
    return error(f"nickname taken: {nick}")


def no_such_nick(nick: str) -> str:
    return error(f"no such nickname: {clean(nick)}")


def line_too_long(limit: int) -> str:
    return error(f"line too long (max {limit} bytes), ignored")


def invalid_utf8() -> str:
    return error("invalid UTF-8, line ignored")


def rate_limited(rate: float) -> str:
    return error(f"too many lines (limit {rate:g}/s), line ignored")


def server_full(limit: int) -> str:
    return error(f"server full (max {limit} clients), try again later")


def too_many_from_address(limit: int) -> str:
    return error(f"too many connections from your address (max {limit})")


def idle_timeout(seconds: float) -> str:
    return error(f"idle for {seconds:g} s, disconnecting")

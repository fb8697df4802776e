"""The chat wire protocol as pure code: parse a text line into a Command, format every reply line.

No sockets, no I/O. Lines here are ``str`` without the trailing newline; the server encodes them.

Line kinds sent by the server:
  ``* ...``                     notice (greeting and every informational line)
  ``! ...``                     error (the connection stays open unless the line says otherwise)
  ``[#room] nick: text``        room message
  ``[#room] * nick action``     /me in a room
  ``[private] nick: text``      private message (/msg)

No line is longer than the server's line limit: a list (/who, /rooms) that does not fit comes as numbered
lines ``* rooms (1/3): ...`` to ``(3/3)``. What users wrote goes through ``clean`` (the one rule against
forged lines and hidden text, used by the client too on all it prints).

Reference: docs/chat.md#line-protocol
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

DEFAULT_PORT = 5000  # the chat's TCP port, for the server, the client and the lab alike

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
PING = "ping"
TOPIC = "topic"

ALIASES = {"exit": QUIT}
NO_ARGUMENT = frozenset({LEAVE, ROOMS, WHO, HELP})
OPTIONAL_ARGUMENT = frozenset({PING, TOPIC})
COMMANDS = frozenset({NICK, JOIN, LEAVE, ROOMS, WHO, MSG, ME, HELP, QUIT, PING, TOPIC}) | ALIASES.keys()

USAGE = {
    NICK: "/nick NAME",
    JOIN: "/join #room",
    LEAVE: "/leave",
    ROOMS: "/rooms",
    WHO: "/who",
    MSG: "/msg NICK text",
    ME: "/me action",
    HELP: "/help",
    PING: "/ping [TOKEN]",
    TOPIC: "/topic [text]",
}

HELP_TEXT = (
    "commands: /nick NAME, /join #room, /leave, /rooms, /who, /msg NICK text, /me action, "
    "/topic [text], /ping [TOKEN], /help, /quit or /exit; //text sends /text"
)

# Characters that could drive a reader's terminal, forge a line or hide text, and so are replaced: controls (Cc:
# C0, C1, DEL; tab excepted), format characters (Cf: bidi controls, zero-width characters, the BOM, soft hyphen,
# tags) and the line and paragraph separators (Zl, Zp). A zero-width joiner between two visible non-ASCII
# characters is kept: it builds emoji sequences (and ligatures in some scripts) and hides nothing there.
HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
REPLACEMENT = "\ufffd"
ZWJ = "\u200d"
BOM = "\ufeff"
ELLIPSIS = "\u2026"
MAX_ECHO = 60  # characters of a refused argument quoted back in an error line


@dataclass(frozen=True, slots=True)
class Command:
    """One parsed line: ``name`` is SAY or a command; ``target`` a nick or room; ``text`` free text."""

    name: str
    target: str = ""
    text: str = ""


class ProtocolError(Exception):
    """A line the server answers with one error line (the message, without the ``! `` prefix)."""


def clean(text: str) -> str:
    """Text safe to show on a terminal: every character of HIDDEN_CATEGORIES becomes U+FFFD (tab and
    emoji-joining ZWJs kept). The one rule for the server's lines and what the client prints."""
    if text.isprintable():  # the usual case, in C: nothing to replace
        return text
    chars = list(text)
    last = len(chars) - 1
    for i, char in enumerate(chars):
        if char == "\t" or char.isprintable() or unicodedata.category(char) not in HIDDEN_CATEGORIES:
            continue
        if char == ZWJ and 0 < i < last and _joinable(chars[i - 1]) and _joinable(chars[i + 1]):
            continue
        chars[i] = REPLACEMENT
    return "".join(chars)


def _joinable(char: str) -> bool:
    return char > "\x7f" and char.isprintable()


def quote(text: str) -> str:
    """A refused argument as an error line shows it: cleaned, and cut to MAX_ECHO characters."""
    text = clean(text)
    return text if len(text) <= MAX_ECHO else text[:MAX_ECHO] + ELLIPSIS


def fit(line: str, limit: int) -> str:
    """``line`` cut to at most ``limit`` bytes of UTF-8 (never inside a character)."""
    return fit_bytes(line.encode(), limit).decode()


def fit_bytes(data: bytes, limit: int) -> bytes:
    """UTF-8 ``data`` cut to at most ``limit`` bytes (never inside a character)."""
    return data if len(data) <= limit else data[:limit].decode(errors="ignore").encode()


def is_valid_nick(name: str) -> bool:
    return NICK_RE.fullmatch(name) is not None


def is_valid_room(name: str) -> bool:
    return ROOM_RE.fullmatch(name) is not None


def parse(line: str) -> Command | None:
    """Parse one line (newline already removed). None for a blank line. Raises ProtocolError.
    A leading BOM is ignored."""
    line = line.removeprefix(BOM)
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
        raise ProtocolError(f"unknown command /{quote(word)} (try /help)")
    if name == QUIT:
        return Command(QUIT)  # anything after /quit is ignored
    if name in OPTIONAL_ARGUMENT:
        return Command(name, text=clean(rest))
    if name in NO_ARGUMENT:
        if rest:
            raise ProtocolError(f"usage: {USAGE[name]}")
        return Command(name)
    if not rest:
        raise ProtocolError(f"usage: {USAGE[name]}")
    if name == NICK:
        if not is_valid_nick(rest):
            raise ProtocolError(f'invalid nickname "{quote(rest)}": {NICK_RULE}')
        return Command(NICK, target=rest)
    if name == JOIN:
        if not is_valid_room(rest):
            raise ProtocolError(
                f'invalid room name "{quote(rest)}": use # then 1-{MAX_ROOM_LEN} letters, digits, _ or -'
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


def private_action(sender: str, text: str) -> str:
    return f"[private] * {sender} {text}"


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


def listing(head: str, items: list[str], limit: int) -> list[str]:
    """``* HEAD: a, b, c`` in one line if it fits in ``limit`` bytes; otherwise in as many lines as needed,
    numbered ``* HEAD (1/3): ...`` to ``* HEAD (3/3): ...``: a list is complete with its unnumbered line or
    with its line (n/n). (IRC splits NAMES and LIST the same way, with an end line instead.)"""
    whole = notice(f"{head}: {', '.join(items)}")
    if len(whole.encode()) <= limit:
        return [whole]
    widest = len(notice(f"{head} ({len(items)}/{len(items)}): ").encode())
    budget = max(1, limit - widest)
    parts: list[list[str]] = [[]]
    used = 0
    for item in items:
        size = len(item.encode()) + 2  # with its ", "
        if parts[-1] and used + size - 2 > budget:
            parts.append([])
            used = 0
        parts[-1].append(item)
        used += size
    return [notice(f"{head} ({k}/{len(parts)}): {', '.join(part)}") for k, part in enumerate(parts, 1)]


def who(room: str, nicks: list[str], limit: int) -> list[str]:
    """``* members of #room: a, b`` sorted by name (case-insensitively), split as ``listing`` says."""
    return listing(f"members of {room}", sorted(nicks, key=str.lower), limit)


def rooms(counts: list[tuple[str, int]], limit: int) -> list[str]:
    """``* rooms: #a (2), #b (1)`` sorted by name (case-insensitively), or ``* rooms: none``; split as
    ``listing`` says."""
    if not counts:
        return [notice("rooms: none")]
    ordered = sorted(counts, key=lambda item: (item[0].lower(), item[0]))
    return listing("rooms", [f"{name} ({count})" for name, count in ordered], limit)


def pong(token: str) -> str:
    """The answer to ``/ping TOKEN`` (the client's keepalive: docs/keepalive.md)."""
    return notice(f"pong {token}" if token else "pong")


def topic_is(room: str, topic: str, by: str) -> str:
    return notice(f"topic of {room}: {topic} (set by {by})")


def no_topic(room: str) -> str:
    return notice(f"no topic set for {room}")


def topic_changed(nick: str, room: str, topic: str) -> str:
    return notice(f"{nick} set the topic of {room}: {topic}" if topic else f"{nick} cleared the topic of {room}")


def ping_timeout(seconds: float) -> str:
    return error(f"nothing heard from you for {seconds:g} s (ping timeout), disconnecting")


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
    return error(f"no such nickname: {quote(nick)}")


def line_too_long(limit: int) -> str:
    return error(f"line too long (max {limit} bytes), ignored")


def invalid_utf8() -> str:
    return error("invalid UTF-8, line ignored")


def rate_limited(rate: float) -> str:
    return error(f"too many lines (limit {rate:g}/s): slowing down, your next lines wait their turn")


def excess_flood(limit: int) -> str:
    return error(f"excess flood (over {limit} bytes waiting), disconnecting")


def server_full(limit: int) -> str:
    return error(f"server full (max {limit} clients), try again later")


def too_many_from_address(limit: int) -> str:
    return error(f"too many connections from your address (max {limit})")


def idle_timeout(seconds: float) -> str:
    return error(f"idle for {seconds:g} s, disconnecting")

"""The IRC dialect as pure code: parse and format messages, the numerics, registration. No sockets, no I/O.

The chat server speaks IRC on a second port (``--irc-port``) to the same world as its line clients: rooms
are channels. Messages follow the modern IRC client protocol (modern.ircdocs.horse): ``[@tags] [:source]
COMMAND params... [:trailing]`` in lines of at most MAX_LINE bytes with their CR LF (tags, which are
parsed and ignored, may add up to MAX_TAGS bytes). Numerics take their parameters exactly as the modern
docs list them, the client's nickname (``*`` before it has one) first. docs/irc.md is the reference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from chat import protocol

MAX_LINE = 512  # bytes of one message with its CR LF, tags not counted
MAX_TAGS = 8191  # bytes of the tags part (with its '@' and trailing space) of one message
MAX_CONTENT = MAX_LINE - 2  # without CR LF
NICKLEN = protocol.MAX_NICK_LEN
CHANNELLEN = protocol.MAX_ROOM_LEN + 1  # with the '#'
CHANLIMIT = 20  # channels an IRC client may be in at once
MAX_TARGETS = 4  # targets of one PRIVMSG or NOTICE
TOPICLEN = 300
AWAYLEN = 200
USERLEN = 16
REALNAMELEN = 100
NETWORK = "chatlab"
VERSION = "chatlab-0.1"
USER_MODES = "i"  # the user modes a client may set (and nothing follows from them)
CHANNEL_MODES = "n"  # the modes every channel has, fixed: no messages from outside (non-members get 404)
OPERATOR_MODE = "o"  # the channel mode with a parameter: operator status, shown as OPERATOR_PREFIX
OPERATOR_PREFIX = "@"
CAPABILITIES = ("multi-prefix", "userhost-in-names")  # what CAP LS offers

CTCP = "\x01"
ACTION_PREFIX = CTCP + "ACTION "
# IRC's formatting codes: bold, colour (with up to two numbers), hex colour, italics, monospace,
# reverse, strikethrough, underline, reset. They pass between IRC clients and are taken out for line clients.
FORMATTING_RE = re.compile(
    r"\x03(?:\d{1,2}(?:,\d{1,2})?)?|\x04(?:[0-9A-Fa-f]{6}(?:,[0-9A-Fa-f]{6})?)?|[\x02\x0f\x11\x16\x1d\x1e\x1f]"
)
NICK_RE = re.compile(rf"[A-Za-z0-9_\-\[\]\\`^{{}}|]{{1,{NICKLEN}}}")  # as the line protocol's, plus IRC's specials
CHANNEL_RE = protocol.ROOM_RE  # one rule for room and channel names
SERVER_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,62}")
WHOWAS_HISTORY = 200  # nicknames WHOWAS remembers (the most recent; each a few strings)
WHOWAS_REPLIES = 10  # entries one WHOWAS returns at most
MAX_MOTD = 64 * 1024  # characters of the message of the day read
UNSAFE = str.maketrans({"\0": protocol.REPLACEMENT, "\r": protocol.REPLACEMENT, "\n": protocol.REPLACEMENT})

# Numerics used (names as modern.ircdocs.horse gives them).
RPL_WELCOME = "001"
RPL_YOURHOST = "002"
RPL_CREATED = "003"
RPL_MYINFO = "004"
RPL_ISUPPORT = "005"
RPL_UMODEIS = "221"
RPL_LUSERCLIENT = "251"
RPL_LUSEROP = "252"
RPL_LUSERUNKNOWN = "253"
RPL_LUSERCHANNELS = "254"
RPL_LUSERME = "255"
RPL_LOCALUSERS = "265"
RPL_GLOBALUSERS = "266"
RPL_AWAY = "301"
RPL_USERHOST = "302"
RPL_ISON = "303"
RPL_UNAWAY = "305"
RPL_NOWAWAY = "306"
RPL_WHOISUSER = "311"
RPL_WHOISSERVER = "312"
RPL_WHOWASUSER = "314"
RPL_ENDOFWHO = "315"
RPL_WHOISIDLE = "317"
RPL_ENDOFWHOIS = "318"
RPL_WHOISCHANNELS = "319"
RPL_LISTSTART = "321"
RPL_LIST = "322"
RPL_LISTEND = "323"
RPL_CHANNELMODEIS = "324"
RPL_CREATIONTIME = "329"
RPL_NOTOPIC = "331"
RPL_TOPIC = "332"
RPL_TOPICWHOTIME = "333"
RPL_VERSION = "351"
RPL_WHOREPLY = "352"
RPL_NAMREPLY = "353"
RPL_ENDOFNAMES = "366"
RPL_ENDOFBANLIST = "368"
RPL_ENDOFWHOWAS = "369"
RPL_MOTD = "372"
RPL_MOTDSTART = "375"
RPL_ENDOFMOTD = "376"
ERR_NOSUCHNICK = "401"
ERR_NOSUCHSERVER = "402"
ERR_NOSUCHCHANNEL = "403"
ERR_CANNOTSENDTOCHAN = "404"
ERR_TOOMANYCHANNELS = "405"
ERR_TOOMANYTARGETS = "407"
ERR_WASNOSUCHNICK = "406"
ERR_NOORIGIN = "409"
ERR_INVALIDCAPCMD = "410"
ERR_NORECIPIENT = "411"
ERR_NOTEXTTOSEND = "412"
ERR_INPUTTOOLONG = "417"
ERR_UNKNOWNCOMMAND = "421"
ERR_NOMOTD = "422"
ERR_NONICKNAMEGIVEN = "431"
ERR_ERRONEUSNICKNAME = "432"
ERR_NICKNAMEINUSE = "433"
ERR_USERNOTINCHANNEL = "441"
ERR_NOTONCHANNEL = "442"
ERR_NOTREGISTERED = "451"
ERR_NEEDMOREPARAMS = "461"
ERR_ALREADYREGISTERED = "462"
ERR_PASSWDMISMATCH = "464"
ERR_UNKNOWNMODE = "472"
ERR_BADCHANMASK = "476"
ERR_CHANOPRIVSNEEDED = "482"
ERR_UMODEUNKNOWNFLAG = "501"
ERR_USERSDONTMATCH = "502"

# Commands a client may send before it is registered (anything else gets 451).
BEFORE_REGISTRATION = frozenset({"CAP", "PASS", "NICK", "USER", "PING", "PONG", "QUIT"})


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs more, and this is the hot path
class Message:
    """One message: its command upper-cased, its parameters (the trailing one included, without its ':')."""

    command: str
    params: tuple[str, ...] = ()
    source: str = ""
    tags: str = ""  # the raw tags, without '@' (parsed for length only)


def parse(line: str) -> Message | None:
    """One line (CR LF already removed) as a Message; None for an empty line. Never raises."""
    tags = source = ""
    rest = line.lstrip(" ")
    if rest.startswith("@"):
        tags, _, rest = rest[1:].partition(" ")
        rest = rest.lstrip(" ")
    if rest.startswith(":"):
        source, _, rest = rest[1:].partition(" ")
        rest = rest.lstrip(" ")
    if not rest:
        return None
    head, colon, trailing = rest.partition(" :")
    if rest.startswith(":"):  # no command, only a trailing part
        return None
    words = head.split()
    if not words:
        return None
    params = words[1:]
    if colon:
        params.append(trailing)
    return Message(words[0].upper(), tuple(params), source, tags)


def content_too_long(raw: bytes) -> bool:
    """Whether a received line (without its line end) is over the limits: MAX_CONTENT bytes without its
    tags, MAX_TAGS bytes of tags."""
    if raw.startswith(b"@"):
        space = raw.find(b" ")
        if space < 0:
            return len(raw) > MAX_TAGS
        if space + 1 > MAX_TAGS:
            return True
        raw = raw[space + 1 :]
    return len(raw) > MAX_CONTENT


# Commands whose parameter at this index is free text: sent as a trailing parameter whatever it holds.
TEXT_PARAM = {"PRIVMSG": 1, "NOTICE": 1, "PART": 1, "TOPIC": 1, "KICK": 2, "QUIT": 0, "ERROR": 0, "AWAY": 0,
              "PONG": 1, "CAP": 2}


def format_message(source: str, command: str, *params: str) -> str:
    """A message as sent (without CR LF). The last parameter gets its ':' when it needs one (empty, with a
    space, or starting with ':') and always when it is free text (a numeric's last, TEXT_PARAM)."""
    parts = [f":{source}"] if source else []
    parts.append(command)
    if params:
        *middle, last = params
        parts.extend(middle)
        text = command.isdigit() or TEXT_PARAM.get(command, -1) == len(middle)
        parts.append(f":{last}" if text or not last or " " in last or last.startswith(":") else last)
    return " ".join(parts)


def numeric(server: str, code: str, client: str, *params: str) -> str:
    """A numeric reply from the server to ``client`` (its nick, or ``*`` before it has one)."""
    return format_message(server, code, client or "*", *params)


def prefix(nick: str, user: str, host: str) -> str:
    return f"{nick}!{user}@{host}"


def is_valid_nick(name: str) -> bool:
    return NICK_RE.fullmatch(name) is not None and not name[0].isdigit() and name[0] != "-"


def is_valid_server_name(name: str) -> bool:
    return SERVER_NAME_RE.fullmatch(name) is not None


def is_valid_channel(name: str) -> bool:
    return CHANNEL_RE.fullmatch(name) is not None


def safe(text: str) -> str:
    """Text as it may go on in an IRC line: CR, LF and NUL replaced (the rest, formatting included, passes)."""
    return text.translate(UNSAFE) if ("\0" in text or "\r" in text or "\n" in text) else text


def strip_formatting(text: str) -> str:
    """Text without IRC's formatting codes (for line clients; chat.protocol.clean does the rest)."""
    return text if text.isprintable() else FORMATTING_RE.sub("", text)


def for_line_clients(text: str) -> str:
    """What an IRC client wrote, as line clients may see it: no formatting codes, nothing hidden."""
    return protocol.clean(strip_formatting(text))


def action_text(text: str) -> str | None:
    """The text of a CTCP ACTION (``\\x01ACTION text\\x01``), or None if ``text`` is not one."""
    if not text.startswith(ACTION_PREFIX):
        return None
    return text[len(ACTION_PREFIX) :].removesuffix(CTCP)


def action(text: str) -> str:
    return f"{ACTION_PREFIX}{text}{CTCP}"


def is_ctcp(text: str) -> bool:
    return text.startswith(CTCP)


def isupport_tokens() -> list[str]:
    """The RPL_ISUPPORT tokens this server advertises."""
    return [
        f"AWAYLEN={AWAYLEN}",
        "CASEMAPPING=ascii",
        f"CHANLIMIT=#:{CHANLIMIT}",
        f"CHANMODES=,,,{CHANNEL_MODES}",
        f"CHANNELLEN={CHANNELLEN}",
        "CHANTYPES=#",
        f"MAXTARGETS={MAX_TARGETS}",
        f"NETWORK={NETWORK}",
        f"NICKLEN={NICKLEN}",
        f"PREFIX=({OPERATOR_MODE}){OPERATOR_PREFIX}",
        "SAFELIST",
        f"TARGMAX=JOIN:{CHANLIMIT},PART:{CHANLIMIT},PRIVMSG:{MAX_TARGETS},NOTICE:{MAX_TARGETS},NAMES:1,"
        "WHOIS:1,ISON:,USERHOST:5",
        f"TOPICLEN={TOPICLEN}",
        f"USERLEN={USERLEN}",
    ]


def isupport_lines(server: str, nick: str, per_line: int = 13) -> list[str]:
    tokens = isupport_tokens()
    return [numeric(server, RPL_ISUPPORT, nick, *tokens[i : i + per_line], "are supported by this server")
            for i in range(0, len(tokens), per_line)]


def split_words(items: list[str], budget: int) -> list[list[str]]:
    """Items in groups whose space-joined length stays within ``budget`` bytes (at least one each)."""
    groups: list[list[str]] = [[]]
    used = 0
    for item in items:
        size = len(item.encode()) + 1
        if groups[-1] and used + size > budget:
            groups.append([])
            used = 0
        groups[-1].append(item)
        used += size
    return groups if groups[0] else []


@dataclass
class Registration:
    """What an IRC connection has told about itself before it is registered: CAP negotiation, PASS, NICK,
    USER. ``ready`` says when registration completes (then the server checks the password and the nick)."""

    password_needed: bool = False
    negotiating: bool = False  # CAP LS or REQ seen and no CAP END yet
    cap_version: int = 0
    password: str | None = None
    nick: str = ""
    user: str = ""
    realname: str = ""
    caps: set[str] = field(default_factory=set)
    done: bool = False

    def ready(self) -> bool:
        return not self.done and bool(self.nick) and bool(self.user) and not self.negotiating

    def password_ok(self, expected: str) -> bool:
        return not self.password_needed or self.password == expected


def cap_request(wanted: str) -> tuple[bool, list[str]]:
    """A CAP REQ's list: (all known, the changes as given). Unknown capabilities refuse the whole request."""
    changes = wanted.split()
    known = all(change.removeprefix("-") in CAPABILITIES for change in changes)
    return known, changes

"""The chat server's IRC dialect: what each IRC command does in the shared world, and its replies.

No sockets here: the server (chat.server) reads the lines and hands them over (``line``); this module
answers through the server's queues and tells the rooms through its dialect-aware broadcasts, so that
line clients see an IRC client's doings in their own form. Messages and numerics come from chat.irc;
docs/irc.md is the reference.
"""

from __future__ import annotations

import fnmatch
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from chat import irc, protocol
from chat.irc import Message
from chat.lines import TOO_LONG, Marker
from chat.rooms import NickTaken, Room

if TYPE_CHECKING:
    from chat.server import ChatServer, Client

log = logging.getLogger("chat.server")

# The line protocol's reasons for a disconnection, as IRC clients are told them.
IRC_REASONS = {
    "quit": "Quit",
    "connection closed": "Connection closed",
    "server shutdown": "Server shutting down",
    "too slow": "SendQ exceeded",
    "idle timeout": "Idle timeout",
}


class IrcDialect:
    def __init__(self, server: ChatServer) -> None:
        self.server = server
        self.name = server.config.server_name
        self._commands: dict[str, Callable[[Client, Message], None]] = {
            "CAP": self._cap, "PASS": self._pass, "NICK": self._nick, "USER": self._user,
            "PING": self._ping, "PONG": self._pong, "QUIT": self._quit, "JOIN": self._join,
            "PART": self._part, "PRIVMSG": self._privmsg, "NOTICE": self._notice, "NAMES": self._names,
            "WHO": self._who, "LIST": self._list, "TOPIC": self._topic, "MODE": self._mode,
            "AWAY": self._away, "WHOIS": self._whois, "USERHOST": self._userhost, "ISON": self._ison,
            "MOTD": self._motd, "LUSERS": self._lusers, "VERSION": self._version, "WHOWAS": self._whowas,
        }
        # (nick, user, host, realname) of the nicknames given up (quits and nick changes), newest last
        self.whowas: deque[tuple[str, str, str, str]] = deque(maxlen=irc.WHOWAS_HISTORY)

    # --- output ------------------------------------------------------------------------------------

    @staticmethod
    def encode(line: str) -> bytes:
        """One IRC message as sent: cut to MAX_LINE bytes with its CR LF."""
        return protocol.fit_bytes(line.encode(), irc.MAX_CONTENT) + b"\r\n" if line else b""

    def send(self, client: Client, line: str) -> None:
        self.server._queue(client, self.encode(line))

    def reply(self, client: Client, code: str, *params: str) -> None:
        self.send(client, irc.numeric(self.name, code, client.nick or "*", *params))

    def closing_link(self, host: str, reason: str) -> bytes:
        return self.encode(irc.format_message("", "ERROR", f"Closing Link: {host} ({reason})"))

    @staticmethod
    def quit_reason(reason: str) -> str:
        return IRC_REASONS.get(reason, reason)

    # --- input -------------------------------------------------------------------------------------

    def connected(self, client: Client) -> None:
        client.registration = irc.Registration(password_needed=bool(self.server.config.irc_password))

    def line(self, client: Client, raw: bytes | Marker) -> None:
        if raw.__class__ is bytes and raw.startswith(b"PRIVMSG #") and self._channel_message(client, raw):  # type: ignore[union-attr]
            return
        if raw is TOO_LONG or (isinstance(raw, bytes) and irc.content_too_long(raw)):
            self.reply(client, irc.ERR_INPUTTOOLONG, "Input line was too long")
            return
        assert isinstance(raw, bytes)
        message = irc.parse(irc.safe(raw.decode(errors="replace")))  # never dropped for bad UTF-8
        if message is None:
            return
        registration = client.registration
        if registration is not None and message.command not in irc.BEFORE_REGISTRATION:
            self.reply(client, irc.ERR_NOTREGISTERED, "You have not registered")
            return
        handler = self._commands.get(message.command)
        if handler is None:
            self.reply(client, irc.ERR_UNKNOWNCOMMAND, message.command, "Unknown command")
            return
        handler(client, message)

    def _channel_message(self, client: Client, raw: bytes) -> bool:
        """The hot path: ``PRIVMSG #room :text`` from a member of one room, as _message would do it, without
        the general parse; False for anything else (then the general path runs)."""
        space = raw.find(b" :", 9)
        if space < 0 or client.registration is not None or len(raw) > irc.MAX_CONTENT:
            return False
        name = raw[8:space]
        if b"," in name or b" " in name:
            return False
        room = self.server.registry.room(name.decode(errors="replace"))
        text = irc.safe(raw[space + 2 :].decode(errors="replace"))
        if room is None or client not in room.members or not text:
            return False
        self.server.say_in(room, client, text)
        return True

    def _enough(self, client: Client, message: Message, count: int) -> bool:
        if len(message.params) >= count and all(message.params[:count]):
            return True
        self.reply(client, irc.ERR_NEEDMOREPARAMS, message.command, "Not enough parameters")
        return False

    # --- registration ------------------------------------------------------------------------------

    def _cap(self, client: Client, message: Message) -> None:
        if not self._enough(client, message, 1):
            return
        sub = message.params[0].upper()
        registration = client.registration
        who = client.nick or "*"
        if sub == "LS":
            version = int(message.params[1]) if len(message.params) > 1 and message.params[1].isdigit() else 0
            if registration is not None:
                registration.negotiating = True
                registration.cap_version = max(registration.cap_version, version)
            self.send(client, irc.format_message(self.name, "CAP", who, "LS", " ".join(irc.CAPABILITIES)))
        elif sub == "LIST":
            self.send(client, irc.format_message(self.name, "CAP", who, "LIST", " ".join(sorted(self._caps(client)))))
        elif sub == "REQ":
            if registration is not None:
                registration.negotiating = True
            wanted = message.params[1] if len(message.params) > 1 else ""
            known, changes = irc.cap_request(wanted)
            if not known or not changes:
                self.send(client, irc.format_message(self.name, "CAP", who, "NAK", wanted))
                return
            caps = self._caps(client)
            for change in changes:
                if change.startswith("-"):
                    caps.discard(change[1:])
                else:
                    caps.add(change)
            self.send(client, irc.format_message(self.name, "CAP", who, "ACK", wanted))
        elif sub == "END":
            if registration is not None:
                registration.negotiating = False
                self._maybe_register(client)
        else:
            self.reply(client, irc.ERR_INVALIDCAPCMD, message.params[0], "Invalid CAP command")

    def _caps(self, client: Client) -> set[str]:
        registration = client.registration
        if registration is not None:
            return registration.caps
        return self.server.irc_caps.setdefault(client, set())

    def _pass(self, client: Client, message: Message) -> None:
        if client.registration is None:
            self.reply(client, irc.ERR_ALREADYREGISTERED, "You may not reregister")
        elif self._enough(client, message, 1):
            client.registration.password = message.params[0]

    def _user(self, client: Client, message: Message) -> None:
        registration = client.registration
        if registration is None:
            self.reply(client, irc.ERR_ALREADYREGISTERED, "You may not reregister")
            return
        if len(message.params) < 4 or not message.params[0] or not message.params[3]:
            self.reply(client, irc.ERR_NEEDMOREPARAMS, "USER", "Not enough parameters")
            return
        user = "".join(c for c in message.params[0] if c.isalnum() or c in "-_.")[: irc.USERLEN] or "user"
        registration.user = user
        registration.realname = message.params[3][: irc.REALNAMELEN]
        self._maybe_register(client)

    def _nick(self, client: Client, message: Message) -> None:
        if not message.params or not message.params[0]:
            self.reply(client, irc.ERR_NONICKNAMEGIVEN, "No nickname given")
            return
        nick = message.params[0]
        if not irc.is_valid_nick(nick):
            self.reply(client, irc.ERR_ERRONEUSNICKNAME, nick, "Erroneus nickname")
            return
        holder = self.server.registry.find(nick)
        if holder is not None and holder is not client:
            self.reply(client, irc.ERR_NICKNAMEINUSE, nick, "Nickname is already in use")
            return
        registration = client.registration
        if registration is not None:
            registration.nick = nick
            self._maybe_register(client)
            return
        old = self.server.registry.rename(client, nick)
        self.server.renamed(client, old)

    def _maybe_register(self, client: Client) -> None:
        registration = client.registration
        assert registration is not None
        if not registration.ready():
            return
        if not registration.password_ok(self.server.config.irc_password):
            self.reply(client, irc.ERR_PASSWDMISMATCH, "Password incorrect")
            self.server.disconnect(client, "Bad password")
            return
        try:
            self.server.registry.add(client, registration.nick)
        except NickTaken:
            self.reply(client, irc.ERR_NICKNAMEINUSE, registration.nick, "Nickname is already in use")
            registration.nick = ""
            return
        registration.done = True
        client.registration = None
        client.user = registration.user
        client.realname = registration.realname
        client.source = irc.prefix(client.nick, client.user, client.address)
        if registration.caps:
            self.server.irc_caps[client] = registration.caps
        self._welcome(client)
        log.info("%s registered over IRC from %s", client.nick, client.address)

    def _welcome(self, client: Client) -> None:
        created = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.server.started))
        self.reply(client, irc.RPL_WELCOME, f"Welcome to the {irc.NETWORK} Network, {client.source}")
        self.reply(client, irc.RPL_YOURHOST, f"Your host is {self.name}, running version {irc.VERSION}")
        self.reply(client, irc.RPL_CREATED, f"This server was created {created}")
        self.reply(client, irc.RPL_MYINFO, self.name, irc.VERSION, irc.USER_MODES,
                   irc.CHANNEL_MODES + irc.OPERATOR_MODE, irc.OPERATOR_MODE)
        for line in irc.isupport_lines(self.name, client.nick):
            self.send(client, line)
        self._lusers(client, Message("LUSERS"))
        self._motd(client, Message("MOTD"))

    def _lusers(self, client: Client, message: Message) -> None:
        users = len(self.server.registry)
        unknown = len(self.server.clients) - users
        self.reply(client, irc.RPL_LUSERCLIENT, f"There are {users} users and 0 invisible on 1 servers")
        self.reply(client, irc.RPL_LUSEROP, "0", "operator(s) online")
        self.reply(client, irc.RPL_LUSERUNKNOWN, str(max(0, unknown)), "unknown connection(s)")
        self.reply(client, irc.RPL_LUSERCHANNELS, str(len(self.server.registry.rooms())), "channels formed")
        self.reply(client, irc.RPL_LUSERME, f"I have {users} clients and 0 servers")
        peak = self.server.registry.peak  # one server: local and global are the same
        self.reply(client, irc.RPL_LOCALUSERS, str(users), str(peak), f"Current local users {users}, max {peak}")
        self.reply(client, irc.RPL_GLOBALUSERS, str(users), str(peak), f"Current global users {users}, max {peak}")

    def _version(self, client: Client, message: Message) -> None:
        if message.params and message.params[0] and message.params[0].lower() != self.name.lower():
            self.reply(client, irc.ERR_NOSUCHSERVER, message.params[0], "No such server")
            return
        self.reply(client, irc.RPL_VERSION, irc.VERSION, self.name, f"{irc.NETWORK} chat server")
        for line in irc.isupport_lines(self.name, client.nick):
            self.send(client, line)

    def _motd(self, client: Client, message: Message) -> None:
        motd = self.server.config.motd
        if not motd:
            self.reply(client, irc.ERR_NOMOTD, "MOTD File is missing")
            return
        self.reply(client, irc.RPL_MOTDSTART, f"- {self.name} Message of the day - ")
        for text in motd:
            self.reply(client, irc.RPL_MOTD, f"- {text}")
        self.reply(client, irc.RPL_ENDOFMOTD, "End of /MOTD command.")
        self.server.charge(client, len(motd))

    # --- connection --------------------------------------------------------------------------------

    def _ping(self, client: Client, message: Message) -> None:
        if not message.params or not message.params[0]:
            self.reply(client, irc.ERR_NOORIGIN, "No origin specified")
            return
        self.send(client, irc.format_message(self.name, "PONG", self.name, message.params[0]))

    def _pong(self, client: Client, message: Message) -> None:
        client.pinged = False  # heard: the server's liveness check counts from now

    def _quit(self, client: Client, message: Message) -> None:
        reason = f"Quit: {message.params[0]}" if message.params and message.params[0] else "Quit"
        self.server.disconnect(client, reason)

    # --- channels ----------------------------------------------------------------------------------

    def _join(self, client: Client, message: Message) -> None:
        if not self._enough(client, message, 1):
            return
        if message.params[0] == "0":
            for room in list(client.rooms):
                self._leave(client, room, "Left all channels")
            return
        for name in message.params[0].split(","):
            if not name:
                continue
            if not irc.is_valid_channel(name):
                self.reply(client, irc.ERR_NOSUCHCHANNEL, name, "No such channel")
                continue
            room = self.server.registry.room(name)
            if room is not None and client in room.members:
                continue
            if len(client.rooms) >= irc.CHANLIMIT:
                self.reply(client, irc.ERR_TOOMANYCHANNELS, name, "You have joined too many channels")
                continue
            room = self.server.registry.enter(client, name)
            self.server.joined(room, client)
            if room.topic:
                self._send_topic(client, room)
            self._names_of(client, room)

    def _part(self, client: Client, message: Message) -> None:
        if not self._enough(client, message, 1):
            return
        reason = message.params[1] if len(message.params) > 1 else ""
        for name in message.params[0].split(","):
            room = self.server.registry.room(name)
            if room is None:
                self.reply(client, irc.ERR_NOSUCHCHANNEL, name, "No such channel")
            elif client not in room.members:
                self.reply(client, irc.ERR_NOTONCHANNEL, room.name, "You're not on that channel")
            else:
                self._leave(client, room, reason)

    def _leave(self, client: Client, room: Room, reason: str) -> None:
        self.server.registry.part(client, room)
        self.server.parted(room, client, reason)

    def _names(self, client: Client, message: Message) -> None:
        if not message.params or not message.params[0]:  # every channel (all are public), then one end
            rooms = self.server.registry.all_rooms()
            for room in rooms:
                self._names_of(client, room, end=False)
            self.reply(client, irc.RPL_ENDOFNAMES, "*", "End of /NAMES list")
            self.server.charge(client, len(rooms))
            return
        for name in message.params[0].split(","):
            room = self.server.registry.room(name)
            if room is None:
                self.reply(client, irc.RPL_ENDOFNAMES, name, "End of /NAMES list")
            else:
                self._names_of(client, room)

    def _names_of(self, client: Client, room: Room, *, end: bool = True) -> None:
        full = "userhost-in-names" in self._caps(client)
        members = sorted(room.members, key=lambda m: m.nick.lower())
        names = [(irc.OPERATOR_PREFIX if m in room.operators else "") + (m.source if full else m.nick)  # type: ignore[attr-defined]
                 for m in members]
        head = len(irc.numeric(self.name, irc.RPL_NAMREPLY, client.nick, "=", room.name, "").encode())
        groups = irc.split_words(names, irc.MAX_CONTENT - head)
        for group in groups:
            self.reply(client, irc.RPL_NAMREPLY, "=", room.name, " ".join(group))
        if end:
            self.reply(client, irc.RPL_ENDOFNAMES, room.name, "End of /NAMES list")
        self.server.charge(client, len(groups) - 1)

    def _topic(self, client: Client, message: Message) -> None:
        if not self._enough(client, message, 1):
            return
        room = self.server.registry.room(message.params[0])
        if room is None:
            self.reply(client, irc.ERR_NOSUCHCHANNEL, message.params[0], "No such channel")
        elif client not in room.members:
            self.reply(client, irc.ERR_NOTONCHANNEL, room.name, "You're not on that channel")
        elif len(message.params) < 2:
            self._send_topic(client, room)
        elif (topic := message.params[1][: irc.TOPICLEN]) != room.topic:
            # the same text again changes nothing, so nobody is told (Modern: TOPIC goes out on a change)
            self.server.set_topic(room, client, topic)

    def _send_topic(self, client: Client, room: Room) -> None:
        if not room.topic:
            self.reply(client, irc.RPL_NOTOPIC, room.name, "No topic is set")
            return
        self.reply(client, irc.RPL_TOPIC, room.name, room.topic)
        self.reply(client, irc.RPL_TOPICWHOTIME, room.name, room.topic_by, str(room.topic_at))

    def _list(self, client: Client, message: Message) -> None:
        rooms = self.server.registry.all_rooms()
        if message.params and message.params[0]:
            wanted = {name.lower() for name in message.params[0].split(",")}
            rooms = [room for room in rooms if room.name.lower() in wanted]
        self.reply(client, irc.RPL_LISTSTART, "Channel", "Users  Name")
        for room in rooms:
            self.reply(client, irc.RPL_LIST, room.name, str(len(room.members)), room.topic)
        self.reply(client, irc.RPL_LISTEND, "End of /LIST")
        self.server.charge(client, len(rooms))

    def _who(self, client: Client, message: Message) -> None:
        mask = message.params[0] if message.params and message.params[0] else "*"
        room = self.server.registry.room(mask)
        if room is not None:
            targets = [(room.name, member) for member in sorted(room.members, key=lambda m: m.nick.lower())]
        elif "*" in mask or "?" in mask:  # a nickname mask: everyone it matches
            pattern = mask.lower()
            matched = [m for m in self.server.registry.members() if fnmatch.fnmatchcase(m.nick.lower(), pattern)]
            targets = [(m.room.name if m.room else "*", m) for m in sorted(matched, key=lambda m: m.nick.lower())]
        else:
            member = self.server.registry.find(mask)
            targets = [(member.room.name if member.room else "*", member)] if member is not None else []
        for channel, member in targets:
            flags = "G" if member.away else "H"  # type: ignore[attr-defined]
            room = self.server.registry.room(channel)
            if room is not None and member in room.operators:
                flags += irc.OPERATOR_PREFIX
            self.reply(client, irc.RPL_WHOREPLY, channel, member.user, member.address,  # type: ignore[attr-defined]
                       self.name, member.nick, flags, f"0 {member.realname or member.nick}")  # type: ignore[attr-defined]
        self.reply(client, irc.RPL_ENDOFWHO, mask, "End of WHO list")
        self.server.charge(client, len(targets) - 1)

    def _mode(self, client: Client, message: Message) -> None:
        if not self._enough(client, message, 1):
            return
        target = message.params[0]
        if target.startswith("#"):
            self._channel_mode(client, target, message.params[1:])
            return
        member = self.server.registry.find(target)
        if member is None:
            self.reply(client, irc.ERR_NOSUCHNICK, target, "No such nick/channel")
        elif member is not client:
            self.reply(client, irc.ERR_USERSDONTMATCH, "Cant change mode for other users")
        elif len(message.params) < 2:
            self.reply(client, irc.RPL_UMODEIS, f"+{client.modes}")
        else:
            self._set_user_modes(client, message.params[1])

    def _set_user_modes(self, client: Client, changes: str) -> None:
        adding, modes, unknown = True, set(client.modes), False
        for char in changes:
            if char in "+-":
                adding = char == "+"
            elif char in irc.USER_MODES:
                (modes.add if adding else modes.discard)(char)
            else:
                unknown = True
        if unknown:
            self.reply(client, irc.ERR_UMODEUNKNOWNFLAG, "Unknown MODE flag")
        new = "".join(sorted(modes))
        if new != client.modes:
            added = "".join(sorted(modes - set(client.modes)))
            removed = "".join(sorted(set(client.modes) - modes))
            change = (f"+{added}" if added else "") + (f"-{removed}" if removed else "")
            client.modes = new
            self.send(client, irc.format_message(client.nick, "MODE", client.nick, change))

    def _channel_mode(self, client: Client, name: str, args: tuple[str, ...]) -> None:
        room = self.server.registry.room(name)
        if room is None:
            self.reply(client, irc.ERR_NOSUCHCHANNEL, name, "No such channel")
            return
        if not args or not args[0]:
            self.reply(client, irc.RPL_CHANNELMODEIS, room.name, f"+{irc.CHANNEL_MODES}")
            self.reply(client, irc.RPL_CREATIONTIME, room.name, str(room.created))
            return
        modes = args[0]
        if modes.lstrip("+") == "b" and len(args) == 1:
            self.reply(client, irc.RPL_ENDOFBANLIST, room.name, "End of channel ban list")
            return
        known = "+-" + irc.CHANNEL_MODES + irc.OPERATOR_MODE
        unknown = next((char for char in modes if char not in known), "")
        if unknown and unknown != "b":
            self.reply(client, irc.ERR_UNKNOWNMODE, unknown, "is unknown mode char to me")
        elif unknown or irc.OPERATOR_MODE in modes:  # bans and operators: for operators only
            if client not in room.operators:
                self.reply(client, irc.ERR_CHANOPRIVSNEEDED, room.name, "You're not channel operator")
            elif unknown:  # no bans here: the ban list stays empty
                self.reply(client, irc.ERR_UNKNOWNMODE, unknown, "is unknown mode char to me")
            else:
                self._set_operators(client, room, modes, args[1:])
        # CHANNEL_MODES are always set: +n changes nothing, and nothing takes it off

    def _set_operators(self, client: Client, room: Room, modes: str, nicks: tuple[str, ...]) -> None:
        """``MODE #room +o nick`` (or ``-o``, several at once) by an operator: each change to the room's
        IRC members (line clients have no operators to see)."""
        adding, waiting = True, list(nicks)
        for char in modes:
            if char in "+-":
                adding = char == "+"
            elif char == irc.OPERATOR_MODE and waiting:
                nick = waiting.pop(0)
                member = self.server.registry.find(nick)
                if member is None:
                    self.reply(client, irc.ERR_NOSUCHNICK, nick, "No such nick/channel")
                elif member not in room.members:
                    self.reply(client, irc.ERR_USERNOTINCHANNEL, member.nick, room.name,
                               "They aren't on that channel")
                elif (member in room.operators) != adding:
                    (room.operators.add if adding else room.operators.discard)(member)
                    change = irc.format_message(client.source, "MODE", room.name,
                                                f"{'+' if adding else '-'}{irc.OPERATOR_MODE}", member.nick)
                    self.server.broadcast(room, None, "", change)

    # --- messages ----------------------------------------------------------------------------------

    def _privmsg(self, client: Client, message: Message) -> None:
        self._message(client, message, notice=False)

    def _notice(self, client: Client, message: Message) -> None:
        self._message(client, message, notice=True)

    def _message(self, client: Client, message: Message, *, notice: bool) -> None:
        """PRIVMSG or NOTICE. A NOTICE never gets an automatic reply, errors included (RFC 2812 3.3.2)."""
        error = _no_reply if notice else self.reply
        if not message.params or not message.params[0]:
            error(client, irc.ERR_NORECIPIENT, f"No recipient given ({message.command})")
            return
        if len(message.params) < 2 or not message.params[1]:
            error(client, irc.ERR_NOTEXTTOSEND, "No text to send")
            return
        targets = message.params[0].split(",")
        if len(targets) > irc.MAX_TARGETS:
            error(client, irc.ERR_TOOMANYTARGETS, message.params[0], "Too many targets")
            return
        text = message.params[1]
        for target in targets:
            if target.startswith("#"):
                room = self.server.registry.room(target)
                if room is None:
                    error(client, irc.ERR_NOSUCHCHANNEL, target, "No such channel")
                elif client not in room.members:
                    error(client, irc.ERR_CANNOTSENDTOCHAN, room.name, "Cannot send to channel")
                else:
                    self.server.say_in(room, client, text, notice=notice)
                continue
            recipient = self.server.registry.find(target)
            if recipient is None:
                error(client, irc.ERR_NOSUCHNICK, target, "No such nick/channel")
                continue
            self.server.tell_privately(client, recipient, text, notice=notice)  # type: ignore[arg-type]
            if recipient.away and not notice:  # type: ignore[attr-defined]
                self.reply(client, irc.RPL_AWAY, recipient.nick, recipient.away)  # type: ignore[attr-defined]

    # --- users -------------------------------------------------------------------------------------

    def _away(self, client: Client, message: Message) -> None:
        client.away = message.params[0][: irc.AWAYLEN] if message.params else ""
        if client.away:
            self.reply(client, irc.RPL_NOWAWAY, "You have been marked as being away")
        else:
            self.reply(client, irc.RPL_UNAWAY, "You are no longer marked as being away")

    def _whois(self, client: Client, message: Message) -> None:
        if not message.params or not message.params[-1]:
            self.reply(client, irc.ERR_NONICKNAMEGIVEN, "No nickname given")
            return
        nick = message.params[-1].split(",")[0]
        member = self.server.registry.find(nick)
        if member is None:
            self.reply(client, irc.ERR_NOSUCHNICK, nick, "No such nick/channel")
            self.reply(client, irc.RPL_ENDOFWHOIS, nick, "End of /WHOIS list")
            return
        self.reply(client, irc.RPL_WHOISUSER, member.nick, member.user, member.address, "*",  # type: ignore[attr-defined]
                   member.realname or member.nick)  # type: ignore[attr-defined]
        if member.rooms:
            self.reply(client, irc.RPL_WHOISCHANNELS, member.nick, " ".join(
                (irc.OPERATOR_PREFIX if member in room.operators else "") + room.name for room in member.rooms))
        self.reply(client, irc.RPL_WHOISSERVER, member.nick, self.name, f"{irc.NETWORK} chat server")
        if member.away:  # type: ignore[attr-defined]
            self.reply(client, irc.RPL_AWAY, member.nick, member.away)  # type: ignore[attr-defined]
        self.reply(client, irc.RPL_ENDOFWHOIS, member.nick, "End of /WHOIS list")

    def given_up(self, nick: str, member: Client) -> None:
        """Remember a nickname someone stopped using (it quit or changed it), for WHOWAS."""
        self.whowas.append((nick, member.user, member.address, member.realname or nick))

    def _whowas(self, client: Client, message: Message) -> None:
        if not message.params or not message.params[0]:
            self.reply(client, irc.ERR_NONICKNAMEGIVEN, "No nickname given")
            return
        nick = message.params[0].split(",")[0]
        count = message.params[1] if len(message.params) > 1 else ""
        most = min(int(count), irc.WHOWAS_REPLIES) if count.isdigit() and int(count) > 0 else irc.WHOWAS_REPLIES
        entries = [entry for entry in reversed(self.whowas) if entry[0].lower() == nick.lower()][:most]
        if not entries:
            self.reply(client, irc.ERR_WASNOSUCHNICK, nick, "There was no such nickname")
        for was, user, host, realname in entries:
            self.reply(client, irc.RPL_WHOWASUSER, was, user, host, "*", realname)
            self.reply(client, irc.RPL_WHOISSERVER, was, self.name, f"{irc.NETWORK} chat server")
        self.reply(client, irc.RPL_ENDOFWHOWAS, nick, "End of WHOWAS")
        self.server.charge(client, len(entries))

    def _userhost(self, client: Client, message: Message) -> None:
        if not self._enough(client, message, 1):
            return
        replies = []
        for nick in message.params[:5]:
            member = self.server.registry.find(nick)
            if member is not None:
                away = "-" if member.away else "+"  # type: ignore[attr-defined]
                replies.append(f"{member.nick}={away}{member.user}@{member.address}")  # type: ignore[attr-defined]
        self.reply(client, irc.RPL_USERHOST, " ".join(replies))

    def _ison(self, client: Client, message: Message) -> None:
        if not self._enough(client, message, 1):
            return
        nicks = " ".join(message.params).split()
        online = [member.nick for nick in nicks if (member := self.server.registry.find(nick)) is not None]
        self.reply(client, irc.RPL_ISON, " ".join(online))


def _no_reply(client: Client, code: str, *params: str) -> None:
    """What a NOTICE's errors get: nothing."""

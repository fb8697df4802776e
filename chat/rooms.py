"""Who is connected, under which nickname, in which rooms. Pure code, no I/O.

Nicknames and room names are unique case-insensitively; each keeps the spelling it was given (a room
the spelling of its creator). A room exists while it has members. A member of the line protocol is in at
most one room (``join`` moves it, ``leave`` takes it out); an IRC member may be in several at once
(``enter`` adds one, ``part`` takes one away). A room has a topic that any member may set. Whoever makes a
room (joins it when it has no members) is its operator (IRC's ``@``); leaving takes that status along.
"""

from __future__ import annotations

GUEST_PREFIX = "guest"


class Member:
    """Someone the registry knows. The server's connection objects are Members."""

    __slots__ = ("irc", "nick", "rooms")

    def __init__(self, irc: bool = False) -> None:
        self.irc = irc  # speaks IRC (else the line protocol): fixed for its life
        self.nick = ""
        self.rooms: list[Room] = []  # in the order joined; at most one for a line client

    @property
    def room(self) -> Room | None:
        """The room a line client is in (an IRC member's first room), or None."""
        return self.rooms[0] if self.rooms else None


class Room:
    __slots__ = ("created", "irc_members", "members", "name", "operators", "topic", "topic_at", "topic_by")

    def __init__(self, name: str) -> None:
        self.name = name
        self.members: set[Member] = set()
        self.operators: set[Member] = set()  # members with operator status (a subset of members)
        self.irc_members = 0  # how many members speak IRC (a member's ``irc``): a form nobody needs is not made
        self.created = 0  # when it was made, seconds since the epoch (stamped by the server)
        self.topic = ""
        self.topic_by = ""  # who set the topic
        self.topic_at = 0  # when, seconds since the epoch

    def __repr__(self) -> str:
        return f"<Room {self.name} ({len(self.members)})>"


class NickTaken(Exception):
    pass


class Registry:
    def __init__(self) -> None:
        self._members: dict[str, Member] = {}  # lowercased nick -> member
        self._rooms: dict[str, Room] = {}  # lowercased room name -> room
        self._next_guest = 1
        self.peak = 0  # the most members there have been at once

    def __len__(self) -> int:
        return len(self._members)

    def add(self, member: Member, nick: str = "") -> str:
        """Register a new member under ``nick`` (raises NickTaken) or, without one, a free guest
        nickname; return it."""
        if nick:
            if nick.lower() in self._members:
                raise NickTaken(nick)
            member.nick = nick
        else:
            while f"{GUEST_PREFIX}{self._next_guest}" in self._members:
                self._next_guest += 1
            member.nick = f"{GUEST_PREFIX}{self._next_guest}"
            self._next_guest += 1
        self._members[member.nick.lower()] = member
        self.peak = max(self.peak, len(self._members))
        return member.nick

    def remove(self, member: Member) -> list[Room]:
        """Forget a member; return the rooms it was in."""
        rooms = list(member.rooms)
        for room in rooms:
            self.part(member, room)
        if member.nick and self._members.get(member.nick.lower()) is member:
            del self._members[member.nick.lower()]
        return rooms

    def rename(self, member: Member, nick: str) -> str:
        """Give a member a new nickname; return the old one. Raises NickTaken."""
        key = nick.lower()
        holder = self._members.get(key)
        if holder is not None and holder is not member:
            raise NickTaken(nick)
        old = member.nick
        del self._members[old.lower()]
        self._members[key] = member
        member.nick = nick
        return old

    def find(self, nick: str) -> Member | None:
        return self._members.get(nick.lower())

    def members(self) -> list[Member]:
        return list(self._members.values())

    def room(self, name: str) -> Room | None:
        return self._rooms.get(name.lower())

    def join(self, member: Member, name: str) -> tuple[Room | None, Room]:
        """Move a line member into room ``name`` (created if new); return (room left or None, room joined)."""
        left = self.leave(member)
        return left, self.enter(member, name)

    def enter(self, member: Member, name: str) -> Room:
        """Add room ``name`` (created if new) to a member's rooms, keeping the others; return it."""
        room = self._rooms.get(name.lower())
        if room is None:
            room = self._rooms[name.lower()] = Room(name)
            room.operators.add(member)
        if member not in room.members:
            room.members.add(member)
            member.rooms.append(room)
            room.irc_members += member.irc
        return room

    def part(self, member: Member, room: Room) -> bool:
        """Take a member out of one room (removed when it empties); False if it was not in it."""
        if member not in room.members:
            return False
        room.members.discard(member)
        room.operators.discard(member)
        room.irc_members -= member.irc
        member.rooms.remove(room)
        if not room.members:
            del self._rooms[room.name.lower()]
        return True

    def leave(self, member: Member) -> Room | None:
        """Take a line member out of its room; return that room, or None."""
        room = member.room
        if room is None:
            return None
        self.part(member, room)
        return room

    def rooms(self) -> list[tuple[str, int]]:
        """(name, member count) of every room, sorted by name case-insensitively."""
        return sorted(((r.name, len(r.members)) for r in self._rooms.values()), key=lambda c: c[0].lower())

    def all_rooms(self) -> list[Room]:
        """Every room, sorted by name case-insensitively."""
        return sorted(self._rooms.values(), key=lambda r: r.name.lower())

    def neighbours(self, member: Member) -> set[Member]:
        """Everyone who shares a room with a member (not the member itself)."""
        seen: set[Member] = set()
        for room in member.rooms:
            seen |= room.members
        seen.discard(member)
        return seen

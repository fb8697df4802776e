"""Who is connected, under which nickname, in which room. Pure code, no I/O.

Nicknames and room names are unique case-insensitively; each keeps the spelling it was given (a room
the spelling of its creator). A member is in at most one room. A room exists while it has members.
"""

from __future__ import annotations

GUEST_PREFIX = "guest"


class Member:
    """Someone the registry knows. The server's connection objects are Members."""

    __slots__ = ("nick", "room")

    def __init__(self) -> None:
        self.nick = ""
        self.room: Room | None = None


class Room:
    __slots__ = ("members", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.members: set[Member] = set()

    def __repr__(self) -> str:
        return f"<Room {self.name} ({len(self.members)})>"


class NickTaken(Exception):
    pass


class Registry:
    def __init__(self) -> None:
        self._members: dict[str, Member] = {}  # lowercased nick -> member
        self._rooms: dict[str, Room] = {}  # lowercased room name -> room
        self._next_guest = 1

    def __len__(self) -> int:
        return len(self._members)

    def add(self, member: Member) -> str:
        """Register a new member under a free guest nickname, and return it."""
        while f"{GUEST_PREFIX}{self._next_guest}" in self._members:
            self._next_guest += 1
        member.nick = f"{GUEST_PREFIX}{self._next_guest}"
        self._next_guest += 1
        self._members[member.nick] = member
        return member.nick

    def remove(self, member: Member) -> Room | None:
        """Forget a member; return the room it was in, if any."""
        room = self.leave(member)
        if self._members.get(member.nick.lower()) is member:
            del self._members[member.nick.lower()]
        return room

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

    def room(self, name: str) -> Room | None:
        return self._rooms.get(name.lower())

    def join(self, member: Member, name: str) -> tuple[Room | None, Room]:
        """Move a member into room ``name`` (created if new); return (room left or None, room joined)."""
        left = self.leave(member)
        room = self._rooms.get(name.lower())
        if room is None:
            room = self._rooms[name.lower()] = Room(name)
        room.members.add(member)
        member.room = room
        return left, room

    def leave(self, member: Member) -> Room | None:
        """Take a member out of its room (removed when it empties); return that room, or None."""
        room = member.room
        if room is None:
            return None
        room.members.discard(member)
        member.room = None
        if not room.members:
            del self._rooms[room.name.lower()]
        return room

    def rooms(self) -> list[tuple[str, int]]:
        """(name, member count) of every room, sorted by name case-insensitively."""
        return sorted(((r.name, len(r.members)) for r in self._rooms.values()), key=lambda c: c[0].lower())

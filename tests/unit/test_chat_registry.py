"""chat.rooms (nick/room registry), chat.lines (framing) and chat.ratelimit: pure code, no sockets."""

from __future__ import annotations

import pytest

from chat.lines import TOO_LONG, LineReader
from chat.ratelimit import TokenBucket
from chat.rooms import Member, NickTaken, Registry


def members(registry: Registry, count: int) -> list[Member]:
    people = [Member() for _ in range(count)]
    for person in people:
        registry.add(person)
    return people


def test_guest_nicks_are_unique_and_skip_taken_names() -> None:
    registry = Registry()
    a, b = members(registry, 2)
    assert (a.nick, b.nick) == ("guest1", "guest2")
    registry.rename(a, "guest3")
    (c,) = members(registry, 1)
    assert c.nick == "guest4"
    assert len(registry) == 3


def test_nicks_are_unique_case_insensitively() -> None:
    registry = Registry()
    a, b = members(registry, 2)
    assert registry.rename(a, "Alice") == "guest1"
    with pytest.raises(NickTaken):
        registry.rename(b, "ALICE")
    assert registry.find("alice") is a and registry.find("guest1") is None
    registry.rename(a, "alice")  # a new spelling of one's own nick is fine
    assert a.nick == "alice"
    registry.remove(a)
    registry.rename(b, "ALICE")  # free again
    assert registry.find("alice") is b


def test_rooms_appear_with_first_member_and_vanish_with_last() -> None:
    registry = Registry()
    a, b = members(registry, 2)
    assert registry.rooms() == []
    left, room = registry.join(a, "#Lab")
    assert left is None and room.name == "#Lab" and a.room is room
    _, same = registry.join(b, "#lab")  # room names are case-insensitive; the creator's spelling stays
    assert same is room and room.members == {a, b}
    assert registry.rooms() == [("#Lab", 2)]
    left, other = registry.join(a, "#other")  # one room at a time
    assert left is room and room.members == {b}
    assert registry.rooms() == [("#Lab", 1), ("#other", 1)]
    assert registry.leave(b) is room and b.room is None
    assert registry.room("#lab") is None
    assert registry.leave(b) is None
    assert registry.remove(a) is other
    assert registry.rooms() == [] and len(registry) == 1


def test_rooms_are_sorted_by_name() -> None:
    registry = Registry()
    people = members(registry, 4)
    for person, room in zip(people, ["#b", "#C", "#a", "#b"], strict=True):
        registry.join(person, room)
    assert registry.rooms() == [("#a", 1), ("#b", 2), ("#C", 1)]


def test_lines_split_on_newline_and_drop_cr() -> None:
    reader = LineReader(10)
    assert reader.feed(b"one\r\ntw") == [b"one"]
    assert reader.feed(b"o\n\nthree\n") == [b"two", b"", b"three"]
    assert reader.feed(b"") == []


def test_overlong_line_in_one_chunk_is_replaced_and_the_rest_kept() -> None:
    reader = LineReader(10)
    assert reader.feed(b"a" * 11 + b"\nok\n" + b"b" * 10 + b"\r\n") == [TOO_LONG, b"ok", b"b" * 10]


def test_overlong_line_across_chunks_is_discarded_without_buffering() -> None:
    reader = LineReader(10)
    assert reader.feed(b"x" * 8) == []
    assert reader.feed(b"x" * 8) == []  # over the limit: dropped, now discarding
    assert reader.feed(b"y" * 1000) == []
    assert reader.feed(b"yy\nafter\npart") == [TOO_LONG, b"after"]
    assert reader.feed(b"ial\n") == [b"partial"]


def test_line_of_exactly_max_bytes_with_crlf_split_before_lf() -> None:
    reader = LineReader(4)
    assert reader.feed(b"abcd\r") == []
    assert reader.feed(b"\n") == [b"abcd"]


def test_token_bucket() -> None:
    bucket = TokenBucket(rate=2, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.25) is False  # half a token
    assert bucket.take(0.5) is True  # one token after 0.5 s at 2/s
    assert bucket.take(0.5) is False
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]  # never above burst
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1, now=0.0)

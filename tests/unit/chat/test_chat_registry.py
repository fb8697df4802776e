"""chat.rooms (nick/room registry), chat.lines (framing) and chat.ratelimit: pure code, no sockets."""

from __future__ import annotations

import re

import pytest

from chat.lines import TOO_LONG, LineReader, Marker
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
    assert registry.remove(a) == [other]
    assert registry.rooms() == [] and len(registry) == 1


def test_rooms_are_sorted_by_name() -> None:
    registry = Registry()
    people = members(registry, 4)
    for person, room in zip(people, ["#b", "#C", "#a", "#b"], strict=True):
        registry.join(person, room)
    assert registry.rooms() == [("#a", 1), ("#b", 2), ("#C", 1)]


def fed(reader: LineReader, data: bytes) -> list[bytes | Marker]:
    reader.feed(data)
    return reader.lines()


def test_lines_split_on_newline_and_drop_cr() -> None:
    reader = LineReader(10)
    assert fed(reader, b"one\r\ntw") == [b"one"]
    assert fed(reader, b"o\n\nthree\n") == [b"two", b"", b"three"]
    assert fed(reader, b"") == []


def test_overlong_line_in_one_chunk_is_replaced_and_the_rest_kept() -> None:
    reader = LineReader(10)
    assert fed(reader, b"a" * 11 + b"\nok\n" + b"b" * 10 + b"\r\n") == [TOO_LONG, b"ok", b"b" * 10]


def test_overlong_line_across_chunks_is_discarded_without_buffering() -> None:
    reader = LineReader(10)
    assert fed(reader, b"x" * 8) == []
    assert fed(reader, b"x" * 8) == []  # over the limit: dropped, now discarding
    assert reader.pending == 0
    assert fed(reader, b"y" * 1000) == []
    assert reader.pending == 0
    assert fed(reader, b"yy\nafter\npart") == [TOO_LONG, b"after"]
    assert fed(reader, b"ial\n") == [b"partial"]


def test_line_of_exactly_max_bytes_with_crlf_split_before_lf() -> None:
    reader = LineReader(4)
    assert fed(reader, b"abcd\r") == []
    assert fed(reader, b"\n") == [b"abcd"]


def test_lines_are_taken_one_at_a_time_and_the_rest_waits() -> None:
    reader = LineReader(10)
    reader.feed(b"a\nbb\nc")
    assert reader.has_line() and reader.pending == 6
    assert reader.next_line() == b"a"
    reader.compact()
    assert reader.pending == 4 and reader.has_line()
    assert reader.next_line() == b"bb"
    assert not reader.has_line() and reader.next_line() is None and reader.pending == 1
    assert reader.starts_a_line(re.compile(rb"c")) and not reader.starts_a_line(re.compile(rb"x"))
    assert reader.starts_a_line(re.compile(rb"d"), b"\n\xef\xbb\xbfd")  # in bytes not fed yet, after a BOM
    assert not reader.starts_a_line(re.compile(rb"d"), b"d")  # "cd": not at the start of a line
    reader.feed(b"\n")
    assert reader.lines() == [b"c"] and reader.pending == 0


def test_an_endless_line_keeps_at_most_max_len_bytes() -> None:
    # 50 MB without a newline, in 64 KiB reads: never more than max_len + 1 bytes of it kept
    reader = LineReader(65536)
    chunk = b"x" * 65536
    for _ in range(800):
        reader.feed(chunk)
        assert reader.next_line() is None
        assert reader.pending <= 65536 + 1
    reader.feed(b"\nok\n")
    assert reader.lines() == [TOO_LONG, b"ok"]


def take(bucket: TokenBucket, now: float) -> bool:
    """What the server does per line: a line goes through when there is a token, and costs one."""
    if bucket.wait(now) > 0:
        return False
    bucket.charge(1)
    return True


def test_token_bucket() -> None:
    bucket = TokenBucket(rate=2, burst=3, now=0.0)
    assert [take(bucket, 0.0) for _ in range(4)] == [True, True, True, False]
    assert take(bucket, 0.25) is False  # half a token
    assert take(bucket, 0.5) is True  # one token after 0.5 s at 2/s
    assert take(bucket, 0.5) is False
    assert [take(bucket, 100.0) for _ in range(4)] == [True, True, True, False]  # never above burst
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1, now=0.0)


def test_token_bucket_debt_wait_and_full() -> None:
    bucket = TokenBucket(rate=2, burst=3, now=0.0)
    assert bucket.full(0.0) and bucket.wait(0.0) == 0
    assert take(bucket, 0.0)
    bucket.charge(4)  # a costly request: 2 tokens left, minus 4
    assert bucket.wait(0.0) == 1.5  # 3 tokens short of one: 1.5 s at 2/s
    assert not take(bucket, 1.0)
    assert take(bucket, 1.5)
    assert not bucket.full(2.0) and bucket.full(3.0)


def test_a_room_counts_its_irc_members() -> None:
    """The server makes a message's IRC form (or line form) only when someone in the room needs it."""
    registry = Registry()
    line, irc_a, irc_b = Member(), Member(irc=True), Member(irc=True)
    for person in (line, irc_a, irc_b):
        registry.add(person)
        registry.enter(person, "#mixed")
    room = registry.room("#mixed")
    assert room is not None and room.irc_members == 2
    registry.part(irc_a, room)
    registry.remove(irc_b)
    assert room.irc_members == 0 and room.members == {line}

"""Split a byte stream into lines, with a maximum line length. Pure code, no I/O.

A line ends with ``\\n``; a ``\\r`` before it is dropped. A line longer than ``max_len`` bytes (not
counting ``\\r\\n``) is not kept: TOO_LONG comes in its place once its newline arrives, and everything
after that newline is read normally. Lines are taken one at a time (``next_line``), so that a reader
of many lines can stop and go on later; what has not been taken yet waits in the reader (``pending``).
Of an unfinished line at most ``max_len + 1`` bytes are ever kept. Work and memory are linear in the
bytes fed: no byte is scanned twice for a newline.
"""

from __future__ import annotations

import re
from enum import Enum


class Marker(Enum):
    TOO_LONG = "too long"


TOO_LONG = Marker.TOO_LONG  # in place of an overlong line
BOM = b"\xef\xbb\xbf"  # U+FEFF in UTF-8


class LineReader:
    __slots__ = ("_buffer", "_discarding", "_max_len", "_scanned", "_start", "fed")

    def __init__(self, max_len: int) -> None:
        self._max_len = max_len
        self._buffer = bytearray()  # fed bytes; those before _start are taken
        self._start = 0
        self._scanned = 0  # bytes from _start known to hold no newline
        self._discarding = False  # inside an overlong line: drop bytes up to the next newline
        self.fed = 0  # bytes fed in all

    @property
    def pending(self) -> int:
        """Bytes fed and not yet taken as lines."""
        return len(self._buffer) - self._start

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if self._start and self._start == len(self._buffer):
            self._buffer.clear()
            self._start = 0
        self._buffer += data
        self.fed += len(data)

    def next_line(self) -> bytes | Marker | None:
        """The next complete line (without its line end), TOO_LONG for an overlong one, or None when
        no complete line is waiting."""
        buffer, start = self._buffer, self._start
        end = buffer.find(b"\n", start + self._scanned)
        if end < 0:
            self._scanned = len(buffer) - start
            if self._scanned > self._max_len + 1:  # +1: room for the '\r' of a '\r\n'
                del buffer[start:]
                self._scanned = 0
                self._discarding = True
            return None
        self._start = end + 1
        self._scanned = 0
        if self._discarding:
            self._discarding = False
            return TOO_LONG
        if end > start and buffer[end - 1] == 0x0D:  # '\r'
            end -= 1
        if end - start > self._max_len:
            return TOO_LONG
        return bytes(buffer[start:end])

    def has_line(self) -> bool:
        """Whether a complete line waits (without taking it)."""
        end = self._buffer.find(b"\n", self._start + self._scanned)
        if end < 0:
            self._scanned = len(self._buffer) - self._start
        return end >= 0

    def starts_a_line(self, pattern: re.Pattern[bytes], more: bytes = b"") -> bool:
        """Whether a waiting line (in what waits, followed by ``more``: bytes not fed yet) starts with a
        match of ``pattern``, after a UTF-8 BOM if there is one. Best with a pattern that starts with a
        rare literal: the regex engine then looks for it at C speed."""
        self.compact()
        data = self._buffer + more if more else self._buffer
        for match in pattern.finditer(data):
            start = match.start()
            if start >= 3 and data[start - 3 : start] == BOM:
                start -= 3
            if start == 0 or data[start - 1] == 0x0A:
                return True
        return False

    def unfinished(self) -> bytes:
        """What waits after the last complete line (empty inside an overlong line)."""
        return b"" if self._discarding else bytes(self._buffer[self._start :])

    def compact(self) -> None:
        """Free the taken bytes (call when a batch of next_line calls is done)."""
        if self._start:
            del self._buffer[: self._start]
            self._start = 0

    def lines(self) -> list[bytes | Marker]:
        """Every complete line waiting (then compacted)."""
        taken = []
        while (line := self.next_line()) is not None:
            taken.append(line)
        self.compact()
        return taken

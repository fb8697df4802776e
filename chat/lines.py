"""Split a byte stream into lines, with a maximum line length. Pure code, no I/O.

A line ends with ``\\n``; a ``\\r`` before it is dropped. A line longer than ``max_len`` bytes (not
counting ``\\r\\n``) is not kept: ``feed`` yields TOO_LONG in its place once its newline arrives, and
everything after that newline is read normally. At most ``max_len + 1`` bytes are ever buffered.
"""

from __future__ import annotations

from typing import Final

TOO_LONG: Final = None  # placeholder yielded for an overlong line


class LineReader:
    __slots__ = ("_discarding", "_max_len", "_partial")

    def __init__(self, max_len: int) -> None:
        self._max_len = max_len
        self._partial = b""  # an unfinished line
        self._discarding = False  # inside an overlong line: drop bytes up to the next newline

    def feed(self, data: bytes) -> list[bytes | None]:
        """The complete lines in ``data`` (without line ends), TOO_LONG for each overlong one."""
        if self._discarding:
            end = data.find(b"\n")
            if end < 0:
                return []
            self._discarding = False
            return [TOO_LONG, *self.feed(data[end + 1 :])]

        if self._partial:
            data = self._partial + data
        lines: list[bytes | None] = data.split(b"\n")
        tail = lines.pop()
        limit = self._max_len
        for i, line in enumerate(lines):
            if line.endswith(b"\r"):
                line = lines[i] = line[:-1]
            if len(line) > limit:
                lines[i] = TOO_LONG
        if len(tail) > limit + 1:  # +1: room for the '\r' of a '\r\n'
            self._partial = b""
            self._discarding = True
        else:
            self._partial = tail
        return lines

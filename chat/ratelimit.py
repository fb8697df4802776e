"""A token bucket: ``rate`` lines per second on average, bursts of up to ``burst``. Pure code: the
caller passes the current time (seconds, monotonic). Tokens may go below zero (``charge``): a costly
request is paid for with the time its sender then has to wait.

Reference: docs/chat.md#flood-control
"""

from __future__ import annotations


class TokenBucket:
    __slots__ = ("_burst", "_rate", "_stamp", "_tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._stamp = now

    def _refill(self, now: float) -> float:
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        return self._tokens

    def charge(self, tokens: float) -> None:
        """Spend ``tokens``, into debt if need be (call after ``wait`` or ``full`` with the same ``now``)."""
        self._tokens -= tokens

    def full(self, now: float) -> bool:
        """Refilled to the whole burst: the caller has kept under the rate for a while."""
        return self._refill(now) >= self._burst

    def wait(self, now: float) -> float:
        """Seconds until the next token (0 if there is one)."""
        return max(0.0, (1 - self._refill(now)) / self._rate)

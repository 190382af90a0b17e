"""How much one connection may ask of a worker: token buckets per kind of frame, and strikes.

A person never reaches these limits: the page keeps one edit in flight and
folds what is typed meanwhile into the next, sends its caret at most ten
times a second and fetches only when a revision is missing. A client that
goes over one is told (``rate-limited``, with how long to wait) and the
frame is dropped, costing the worker almost nothing; each refusal is a
strike, and a client that keeps going after being told runs out of strikes
and is closed with 1008. Connections per client address and per signed-in
user are counted here too, for this process (docs/security.md).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; each frame takes one."""

    __slots__ = ("_at", "_clock", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._clock = clock
        self._at = clock()

    def wait(self) -> float:
        """The seconds until a token will be there (0.0: one is), taking none."""
        tokens = min(self.burst, self._tokens + (self._clock() - self._at) * self.rate)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def take(self) -> float:
        """0.0 when a token was taken; otherwise the seconds until one will be there."""
        now = self._clock()
        tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if tokens >= 1:
            self._tokens = tokens - 1
            return 0.0
        self._tokens = tokens
        return (1 - tokens) / self.rate


@dataclass(frozen=True, slots=True)
class Rate:
    per_second: float
    burst: int

    def bucket(self, clock: Callable[[], float]) -> TokenBucket:
        return TokenBucket(self.per_second, self.burst, clock=clock)


@dataclass(frozen=True, slots=True)
class Rates:
    """The limits of one connection (settings.EDITOR_RATES, from the environment)."""

    frames: Rate  # every frame, whatever it is: bounds the work of garbage too
    edits: Rate
    presence: Rate  # caret and rename frames
    fetches: Rate  # fetch and ping frames: each reads the database
    strikes: Rate  # refusals forgiven: ``burst`` in a row, ``per_second`` more as time passes


@dataclass(frozen=True, slots=True)
class ApiRates:
    """The HTTP API's limits (settings.EDITOR_API_RATES): requests per caller (a token, or an
    address for anonymous ones), and edits per token."""

    requests: Rate
    edits: Rate


@dataclass(frozen=True, slots=True)
class Refusal:
    """A frame over its limit: retry after ``retry_after`` seconds; ``final`` means close (1008)."""

    retry_after: float
    final: bool


class ConnectionLimits:
    """One connection's buckets. ``check(kind)`` is None for a frame within its limits."""

    __slots__ = ("_buckets", "_strikes")

    def __init__(self, rates: Rates, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._buckets = {
            kind: getattr(rates, kind).bucket(clock) for kind in ("frames", "edits", "presence", "fetches")
        }
        self._strikes = rates.strikes.bucket(clock)

    def check(self, kind: str = "frames") -> Refusal | None:
        """Take a token of ``kind``: "frames" for every frame, before it is parsed, then its own."""
        wait = self._buckets[kind].take()
        if not wait:
            return None
        return Refusal(retry_after=wait, final=self._strikes.take() > 0)


class ConnectionCounts:
    """Open connections of this process per key (a client address, or a user)."""

    def __init__(self) -> None:
        self._open: Counter[str] = Counter()

    def admit(self, key: str, *, limit: int) -> bool:
        """Count a new connection under ``key`` unless ``limit`` are open already."""
        if self._open[key] >= limit:
            return False
        self._open[key] += 1
        return True

    def release(self, key: str) -> None:
        self._open[key] -= 1
        if self._open[key] <= 0:
            del self._open[key]

    def __getitem__(self, key: str) -> int:
        return self._open[key]

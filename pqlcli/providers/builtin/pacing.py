"""Pacing HTTP lookups: a clock (injectable, so tests control time), an even-spacing rate limiter, a
shared pause for rate-limited keys, and the retry timing (``Retry-After``, ``X-RateLimit-Reset``, backoff).

The limiter spaces requests at least ``60 / rate_limit`` seconds apart, with no initial burst, so the
rate over any window never exceeds the limit. (``aiolimiter``'s leaky bucket would allow a burst of a whole minute's
requests at start, and reads the event loop's clock, which a test cannot replace.)
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Protocol


class Clock(Protocol):
    """Where a provider reads time and waits: ``monotonic()`` for intervals, ``time()`` for epoch seconds
    (``X-RateLimit-Reset``, HTTP dates), ``sleep()`` to wait."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


CATCH_UP = 0.05  # seconds of event-loop lateness the limiter makes up for (at least one slot)


class RateLimiter:
    """At most ``per_minute`` grants per minute, evenly spaced ``60 / per_minute`` seconds apart (0 =
    unlimited); and a pause every caller honours (a 429 applies to the whole API key, not to one worker).

    Grant *k* is due at its slot, one interval after the previous slot. A grant that a busy event loop
    made late by at most :data:`CATCH_UP` seconds (or one interval, if longer) keeps the schedule, so the
    next ones catch up: the long-run rate is the limit, never above it, and a catch-up burst spans at most
    that lateness. Later than that (idle, or paused), the schedule restarts from now: no credit at the
    start, after idling or after a pause.
    """

    def __init__(self, per_minute: float, clock: Clock):
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self.tolerance = max(self.interval, CATCH_UP)
        self.clock = clock
        self.slot = -math.inf  # when the next grant is due
        self.paused_until = -math.inf
        self._turn: asyncio.Lock | None = None

    def pause(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` from now (a longer pause already in force wins)."""
        self.paused_until = max(self.paused_until, self.clock.monotonic() + seconds)

    async def acquire(self) -> None:
        """Wait for the pause, then for this caller's slot (callers are served in order)."""
        if self._turn is None:
            self._turn = asyncio.Lock()  # created on the loop that uses it
        async with self._turn:
            while (delay := max(self.paused_until, self.slot) - self.clock.monotonic()) > 0:
                await self.clock.sleep(delay)
            if self.interval:
                now = self.clock.monotonic()
                # Late by at most the tolerance (a busy loop woke late): keep the schedule, so the next
                # grants catch up. Later than that (idle, paused): restart from now, with no credit.
                late = now - self.slot
                self.slot = self.slot + self.interval if late <= self.tolerance else now + self.interval


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter: ``base * 2**attempt``, scaled by a random factor in [0.5, 1)."""
    return min(cap, base * (2**attempt) * (0.5 + random.random() / 2))


def retry_delay(headers: Mapping[str, str], attempt: int, base: float, cap: float, now: float) -> float:
    """Seconds to wait before retrying a 429/5xx: ``Retry-After`` (seconds or HTTP date), else
    ``X-RateLimit-Reset`` (epoch seconds when > 1e9, else a delta), else jittered backoff; capped.
    ``now`` is the epoch time (the clock's ``time()``)."""
    delay: float | None = None
    retry_after = headers.get("Retry-After")
    if retry_after:
        try:
            delay = float(retry_after)
        except ValueError:
            with contextlib.suppress(TypeError, ValueError, IndexError):
                when = parsedate_to_datetime(retry_after)
                if when.tzinfo is None:
                    when = when.replace(tzinfo=UTC)
                delay = when.timestamp() - now
    if delay is None:
        reset = headers.get("X-RateLimit-Reset")
        if reset:
            with contextlib.suppress(ValueError):
                value = float(reset)
                delay = value - now if value > 1e9 else value
    if delay is None or math.isnan(delay):
        delay = backoff_delay(attempt, base, cap)
    return max(0.0, min(cap, delay))

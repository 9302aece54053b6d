"""Pacing HTTP lookups: a clock (injectable, so tests control time), an even-spacing rate limiter, a
shared pause for rate-limited keys, and the retry timing (``Retry-After``, ``X-RateLimit-Reset``, backoff).

The limiter spaces requests ``60 / rate_limit`` seconds apart, with no initial burst, so the rate over any
window never exceeds the limit. (``aiolimiter``'s leaky bucket would allow a burst of a whole minute's
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


class RateLimiter:
    """At most ``per_minute`` acquisitions per minute, evenly spaced (0 = unlimited); and a pause every
    caller honours (a 429 applies to the whole API key, not to one worker)."""

    def __init__(self, per_minute: float, clock: Clock):
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self.clock = clock
        self.next_at = -math.inf
        self.paused_until = -math.inf

    def pause(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` from now (a longer pause already in force wins)."""
        self.paused_until = max(self.paused_until, self.clock.monotonic() + seconds)

    async def acquire(self) -> None:
        """Wait for the pause, then for this caller's slot."""
        while (delay := self.paused_until - self.clock.monotonic()) > 0:
            await self.clock.sleep(delay)
        if not self.interval:
            return
        now = self.clock.monotonic()
        at = max(self.next_at, now)  # the slot is taken before sleeping: callers queue in order
        self.next_at = at + self.interval
        if at > now:
            await self.clock.sleep(at - now)


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

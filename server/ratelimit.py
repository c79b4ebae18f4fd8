"""Rate limits on ticket issuance: per kiosk device, and per client address for the mobile page.

A token bucket per key: `per_minute` tickets a minute on average, with bursts of
up to `per_minute` at once (a family taking three numbers is not a flood). The
clock is injected, so tests move time instead of sleeping.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime

MAX_KEYS = 10_000  # buckets kept; beyond that, full buckets are forgotten


class RateLimited(Exception):
    """Too many requests from one kiosk or address: 429 with Retry-After."""

    def __init__(self, message: str, message_zh: str, retry_after: int) -> None:
        super().__init__(message)
        self.message, self.message_zh, self.retry_after = message, message_zh, retry_after


class RateLimiter:
    def __init__(self, per_minute: float, now: Callable[[], datetime], what: str) -> None:
        self.capacity = max(1.0, per_minute)
        self.rate = per_minute / 60.0  # tokens per second
        self.now, self.what = now, what
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def hit(self, key: str) -> None:
        """Take one token for `key`, or raise RateLimited with how long to wait."""
        at = self.now().timestamp()
        tokens, then = self._buckets.get(key, (self.capacity, at))
        tokens = min(self.capacity, tokens + max(0.0, at - then) * self.rate)
        if tokens < 1.0:
            wait = math.ceil((1.0 - tokens) / self.rate) if self.rate > 0 else 60
            raise RateLimited(
                f"Too many tickets from this {self.what}: at most {self.capacity:g} a minute. "
                f"Try again in {wait} s.", f"取号过于频繁,请{wait}秒后再试。", wait)
        self._buckets[key] = (tokens - 1.0, at)
        if len(self._buckets) > MAX_KEYS:
            self._forget_full(at)

    def _forget_full(self, at: float) -> None:
        for key, (tokens, then) in list(self._buckets.items()):
            if tokens + (at - then) * self.rate >= self.capacity:
                del self._buckets[key]

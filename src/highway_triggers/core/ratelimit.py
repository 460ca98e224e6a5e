"""Token buckets in memory, one per key (e.g. per tenant); plugins may reuse them.

Each replica keeps its own buckets, so with N replicas a tenant may get up to N times
its rate: the limit protects a replica and the database, it is not a billing meter.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from highway_triggers.core.errors import HTTPError

MAX_BUCKETS = 100_000


class TokenBucket:
    """``capacity`` tokens, refilled at ``rate`` per second; one request takes one."""

    __slots__ = ("capacity", "rate", "tokens", "updated")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.updated = now

    def take(self, now: float, cost: float = 1.0) -> float:
        """Take ``cost`` tokens: 0.0 when allowed, else the seconds until they are there."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        return (cost - self.tokens) / self.rate


class RateLimiter:
    """A :class:`TokenBucket` per key; a key without its own limits gets the defaults."""

    def __init__(
        self, default_rate: float, default_burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if default_rate <= 0 or default_burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")
        self.default_rate = default_rate
        self.default_burst = default_burst
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def delay(self, key: str, rate: float | None = None, burst: int | None = None) -> float:
        """Take a token from ``key``'s bucket: 0.0 when allowed, else seconds to wait.

        Changed limits (a tenant was updated) apply to the existing bucket at once.
        """
        rate = rate or self.default_rate
        capacity = float(burst or self.default_burst)
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._forget_full(now)
            bucket = self._buckets[key] = TokenBucket(rate, capacity, now)
        elif bucket.rate != rate or bucket.capacity != capacity:
            bucket.take(now, 0.0)  # settle the refill at the old rate
            bucket.rate, bucket.capacity = rate, capacity
            bucket.tokens = min(bucket.tokens, capacity)
        return bucket.take(now)

    def check(self, key: str, rate: float | None = None, burst: int | None = None) -> None:
        """Take a token, or raise 429 ``RATE_LIMITED`` with ``Retry-After`` (whole seconds)."""
        wait = self.delay(key, rate, burst)
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise HTTPError(
                429,
                "RATE_LIMITED",
                f"rate limit exceeded for {key!r}; retry in {retry_after} s",
                headers={"Retry-After": str(retry_after)},
            )

    def _forget_full(self, now: float) -> None:
        """Drop the buckets that have refilled: a new one would start full anyway."""
        for key, bucket in list(self._buckets.items()):
            if bucket.tokens + (now - bucket.updated) * bucket.rate >= bucket.capacity:
                del self._buckets[key]

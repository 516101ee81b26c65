"""Per-caller rate limits: a token bucket per caller, sized by the caller's tier.

Each tier is (requests per window, burst) — Basic 1,000/h burst 100, Professional 10,000/h burst
500, Enterprise 100,000/h burst 2,000. The bucket holds at most ``burst`` tokens and refills at
``requests / window`` tokens per second, so a caller can spend a burst at once and then sustains
the tier's hourly rate. The window is configurable (``HYBRIDCLOUD_API_RATE_LIMIT_WINDOW_SECONDS``)
so tests can watch a bucket refill in seconds.

Headers on every limited response:

* ``X-RateLimit-Limit`` — the tier's requests per window;
* ``X-RateLimit-Remaining`` — whole tokens left after this request;
* ``X-RateLimit-Reset`` — Unix time (seconds) when the bucket is full again;
* ``Retry-After`` (429 only) — seconds until one token is available.

Buckets live in this process; several API replicas each enforce the limit (a caller gets at most
replicas times the limit), which keeps the API free of a second store.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from .settings import TIER_LIMITS, Tier


@dataclass
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset: int
    retry_after: int

    def headers(self) -> dict[str, str]:
        headers = {"X-RateLimit-Limit": str(self.limit),
                   "X-RateLimit-Remaining": str(self.remaining),
                   "X-RateLimit-Reset": str(self.reset)}
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, window_seconds: float, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, max_callers: int = 100_000) -> None:
        self.window = window_seconds
        self.clock = clock
        self.wall = wall
        self.max_callers = max_callers
        self._buckets: dict[tuple[str, int, int], _Bucket] = {}

    def hit(self, caller: str, tier: Tier) -> Verdict:
        """Spend one token of ``caller``'s bucket if there is one."""
        limit, burst = TIER_LIMITS[tier]
        return self.spend(caller, limit, burst)

    def spend(self, key: str, limit: int, burst: int) -> Verdict:
        """Spend one token of the bucket ``key`` (``limit`` per window, at most ``burst``)."""
        return self._take(key, limit, burst, spend=True)

    def check(self, key: str, limit: int, burst: int) -> Verdict:
        """Whether the bucket ``key`` has a token, without spending it (used to refuse work
        before doing it, e.g. a TokenReview for an address that keeps failing)."""
        return self._take(key, limit, burst, spend=False)

    def _take(self, key: str, limit: int, burst: int, *, spend: bool) -> Verdict:
        rate = limit / self.window  # tokens per second
        now = self.clock()
        bucket = self._buckets.get((key, limit, burst))
        if bucket is None:
            if len(self._buckets) >= self.max_callers:
                self._evict_full(now)
            bucket = self._buckets[(key, limit, burst)] = _Bucket(float(burst), now)
        bucket.tokens = min(float(burst), bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        allowed = bucket.tokens >= 1.0
        if allowed and spend:
            bucket.tokens -= 1.0
        until_full = (burst - bucket.tokens) / rate
        retry_after = 0 if allowed else max(1, math.ceil((1.0 - bucket.tokens) / rate))
        return Verdict(allowed=allowed, limit=limit, remaining=int(bucket.tokens),
                       reset=math.ceil(self.wall() + until_full), retry_after=retry_after)

    def _evict_full(self, now: float) -> None:
        """Forget buckets that have refilled completely: they hold no information."""
        for key, bucket in list(self._buckets.items()):
            _, limit, burst = key
            if bucket.tokens + (now - bucket.updated) * limit / self.window >= burst:
                del self._buckets[key]
        if len(self._buckets) >= self.max_callers:
            self._buckets.clear()

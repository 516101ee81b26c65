"""Concurrent callers asking the same question share one answer in flight.

The Authenticator caches TokenReview and SubjectAccessReview answers for a few seconds. When an
answer expires under load, every request in progress for that caller missed the cache at once
and sent its own review: 16 identical TokenReviews and 16 SubjectAccessReviews at concurrency 16
in the REST list benchmark's profile, 256 of each in the mixed-load case, every cache period.
Here the first miss sends the review and the others await its answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """At most one ``compute()`` per key at a time; concurrent callers of a key share it."""

    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Future[T]] = {}

    async def run(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        running = self._running.get(key)
        if running is None:
            running = asyncio.ensure_future(compute())
            self._running[key] = running
            running.add_done_callback(lambda done: self._finished(key, done))
        # Shielded: a caller that goes away (client disconnect) does not cancel the answer the
        # others are waiting for. Each caller gets the answer or the exception itself.
        return await asyncio.shield(running)

    def _finished(self, key: Hashable, done: asyncio.Future[T]) -> None:
        if self._running.get(key) is done:
            del self._running[key]
        if not done.cancelled():
            done.exception()  # retrieved: no "never retrieved" warning if every caller left

    def __len__(self) -> int:
        return len(self._running)

"""A controller-runtime style work queue: level-triggered, de-duplicated, rate-limited.

Watch events only *enqueue* a key; workers reconcile keys. A key is never processed by two
workers at once; events arriving while it is processed mark it dirty so it runs once more
afterwards. Failures back off exponentially per key; successes may ask to be requeued later
(polling a provider, periodic resync). Nothing here talks to Kubernetes.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from ..observability.operator_metrics import QueueMetrics

K = TypeVar("K", bound=Hashable)
log = logging.getLogger(__name__)

Reconciler = Callable[[K], Awaitable[float | None]]


class WorkQueue(Generic[K]):
    def __init__(self, reconcile: Reconciler[K], *, workers: int = 16,
                 base_backoff: float = 0.5, max_backoff: float = 300.0,
                 name: str = "default") -> None:
        self._reconcile = reconcile
        self._workers = workers
        self._base = base_backoff
        self._max = max_backoff
        self._due: dict[K, float] = {}  # key → when it should run next (earliest wins)
        self._heap: list[tuple[float, int, K]] = []
        self._tie = itertools.count()
        self._processing: set[K] = set()
        self._dirty: set[K] = set()
        self._failures: dict[K, int] = {}
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.metrics = QueueMetrics(name, workers, self._due.values)  # controller-runtime's

    def add(self, key: K, delay: float = 0.0) -> None:
        """Schedule ``key``; an earlier schedule for the same key wins."""
        if key in self._processing and delay <= 0:
            self._dirty.add(key)  # counted as an add when it is queued again after the pass
            return
        when = time.monotonic() + max(0.0, delay)
        current = self._due.get(key)
        if current is not None and current <= when:
            return
        self._due[key] = when
        heapq.heappush(self._heap, (when, next(self._tie), key))
        self.metrics.added()
        self._wakeup.set()

    def forget(self, key: K) -> None:
        """Drop pending work and backoff state (the object is gone)."""
        self._due.pop(key, None)
        self._failures.pop(key, None)
        self._dirty.discard(key)

    def backoff(self, key: K) -> float:
        failures = self._failures.get(key, 0)
        return float(min(self._max, self._base * (2 ** failures)))

    @property
    def pending(self) -> int:
        return len(self._due)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work(), name=f"reconcile-worker-{i}")
                       for i in range(self._workers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _next(self) -> K:
        while True:
            # Cleared before looking, so an add() racing with the scan is never missed.
            self._wakeup.clear()
            now = time.monotonic()
            while self._heap:
                when, _, key = self._heap[0]
                if self._due.get(key) != when:
                    heapq.heappop(self._heap)  # superseded by an earlier schedule
                    continue
                if when > now:
                    break
                heapq.heappop(self._heap)
                del self._due[key]
                if key in self._processing:
                    self._dirty.add(key)  # run again as soon as the current pass ends
                    continue
                self.metrics.picked(key, when)
                return key
            timeout = self._heap[0][0] - now if self._heap else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)

    async def _work(self) -> None:
        while True:
            key = await self._next()
            self._processing.add(key)
            try:
                requeue = await self._reconcile(key)
            except asyncio.CancelledError:
                raise
            except Exception:
                delay = self.backoff(key)
                self._failures[key] = self._failures.get(key, 0) + 1
                log.exception("reconcile of %s failed; retrying in %.1fs", key, delay)
                requeue = delay
                self.metrics.finished(key, requeue, failed=True)
            else:
                self._failures.pop(key, None)
                self.metrics.finished(key, requeue, failed=False)
            finally:
                self._processing.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self.add(key)
            elif requeue is not None:
                self.add(key, requeue)

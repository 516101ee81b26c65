"""A controller-runtime style work queue: level-triggered, de-duplicated, rate-limited.

Watch events only *enqueue* a key; workers reconcile keys. A key is never processed by two
workers at once; events arriving while it is processed mark it dirty so it runs once more
afterwards. Failures back off exponentially per key; successes may ask to be requeued later
(polling a provider, periodic resync). Nothing here talks to Kubernetes.
"""

from __future__ import annotations

import asyncio
import collections
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
        # Idle workers wait each on its own future and are woken one at a time: one key, one
        # worker. (A single Event woke every idle worker for each key, and each of them made a
        # new task to wait again: with 48 workers that herd was most of the event loop's time
        # in issue 19's delivery-at-scale profile.) One timer wakes a worker for the earliest
        # delayed key.
        self._idle: collections.deque[asyncio.Future[None]] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = 0.0
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
        if delay <= 0:
            self._wake_one()
        else:
            self._arm(when)

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
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _next(self) -> K:
        while True:
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
                if self._heap:  # the rest waits for an idle worker: due now, or at its time
                    if self._heap[0][0] <= now:
                        self._wake_one()
                    else:
                        self._arm(self._heap[0][0])
                return key
            if self._heap:
                self._arm(self._heap[0][0])
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._idle.append(waiter)
            await waiter

    def _wake_one(self) -> None:
        while self._idle:
            waiter = self._idle.popleft()
            if not waiter.done():  # a cancelled worker's future is skipped
                waiter.set_result(None)
                return

    def _arm(self, when: float) -> None:
        """Wake a worker at ``when`` (monotonic), unless a timer fires earlier already."""
        if self._timer is not None:
            if self._timer_when <= when:
                return
            self._timer.cancel()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # added before the loop runs: the workers' first scan finds it
            return
        self._timer_when = when
        self._timer = loop.call_later(max(0.0, when - time.monotonic()), self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._wake_one()  # it takes what is due and arms the timer for what is not yet

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

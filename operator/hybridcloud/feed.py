"""The single in-process feed of domain transitions (cluster.created, application.deployed, …).

Reconcilers publish; sinks subscribe: Kubernetes Events today, webhooks and the SSE stream
later. Publishing never blocks a reconcile and a failing sink never affects the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ObjectRef:
    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str


@dataclass(frozen=True)
class DomainEvent:
    type: str  # "cluster.created", "cluster.failed", …
    subject: ObjectRef
    message: str
    warning: bool = False
    data: dict[str, Any] = field(default_factory=dict)
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def reason(self) -> str:
        """CamelCase reason for a Kubernetes Event: cluster.created → ClusterCreated."""
        return "".join(part.capitalize() for part in self.type.replace("_", ".").split("."))


Sink = Callable[[DomainEvent], Awaitable[None]]


class _Subscription:
    """One sink's queue and its delivery workers (started with the first event)."""

    def __init__(self, sink: Sink, concurrency: int) -> None:
        self.sink = sink
        self.concurrency = concurrency
        self.queue: asyncio.Queue[DomainEvent] = asyncio.Queue()
        self.workers: list[asyncio.Task[None]] = []

    def put(self, event: DomainEvent) -> None:
        self.queue.put_nowait(event)
        if not self.workers:
            self.workers = [asyncio.create_task(self._work()) for _ in range(self.concurrency)]

    async def _work(self) -> None:
        while True:
            event = await self.queue.get()
            try:
                await self.sink(event)
            except Exception:
                log.exception("event sink failed for %s on %s/%s", event.type,
                              event.subject.namespace, event.subject.name)
            finally:
                self.queue.task_done()

    async def close(self, drain_for: float) -> None:
        if self.workers:
            try:
                await asyncio.wait_for(self.queue.join(), drain_for)
            except TimeoutError:
                name = getattr(self.sink, "__name__", type(self.sink).__name__)
                log.warning("shutting down with %d undelivered events for %s",
                            self.queue.qsize(), name)
        for task in self.workers:
            task.cancel()
        await asyncio.gather(*self.workers, return_exceptions=True)
        self.workers = []


class Feed:
    """Each sink has its own queue and a fixed number of delivery workers: a burst of
    transitions (a fleet converging) waits as small queued events, not as thousands of tasks,
    and a slow sink delays only itself."""

    def __init__(self) -> None:
        self._subscriptions: list[_Subscription] = []

    def subscribe(self, sink: Sink, *, concurrency: int = 1) -> None:
        """Deliver every published event to ``sink``, ``concurrency`` at a time (so in order
        when 1)."""
        self._subscriptions.append(_Subscription(sink, concurrency))

    def publish(self, event: DomainEvent) -> None:
        for subscription in self._subscriptions:
            subscription.put(event)

    async def drain(self, give_up_after: float = 10.0) -> None:
        """Deliver what is queued (giving up after ``give_up_after`` seconds: events are
        notifications, and a shutdown must not wait on an unreachable sink), then stop."""
        deadline = asyncio.get_running_loop().time() + give_up_after
        for subscription in self._subscriptions:
            remaining = max(0.0, deadline - asyncio.get_running_loop().time())
            await subscription.close(drain_for=remaining)

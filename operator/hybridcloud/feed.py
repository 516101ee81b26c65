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


class Feed:
    def __init__(self) -> None:
        self._sinks: list[Sink] = []
        self._pending: set[asyncio.Task[None]] = set()

    def subscribe(self, sink: Sink) -> None:
        self._sinks.append(sink)

    def publish(self, event: DomainEvent) -> None:
        for sink in self._sinks:
            task = asyncio.create_task(self._deliver(sink, event))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    @staticmethod
    async def _deliver(sink: Sink, event: DomainEvent) -> None:
        try:
            await sink(event)
        except Exception:
            log.exception("event sink failed for %s on %s/%s", event.type,
                          event.subject.namespace, event.subject.name)

    async def drain(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

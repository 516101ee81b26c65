"""A member's Events, watched (not polled), as log records for the shipper's next poll.

:class:`EventFeed` lists the member's core/v1 Events once, then watches from that list's
resourceVersion (or from the version the cursor ConfigMap saved, after a restart). A watch that
answers 410 Gone (the version was compacted away) starts over with a fresh list; everything it
returns is compared with the marks of what was already shipped, so a relist ships no duplicate.

An Event is one line per occurrence. Events of the ``events.k8s.io`` API count repetitions in
``series.count`` with the time in ``series.lastObservedTime`` (the legacy ``count`` stays
unset); legacy Events count in ``count``/``lastTimestamp``. An occurrence is new when either its
count or its observed time moved past the shipped :class:`EventMark`. Times keep the
microseconds of ``eventTime`` / ``series.lastObservedTime``, so lines sort as they happened.

The feed only collects: :meth:`pending` hands the shipper what arrived, and :meth:`commit`
drops it once the store took it (the shipper then saves the marks and the resourceVersion with
the container cursors, in the same ConfigMap write). At most ``max_pending`` occurrences wait;
the watch pauses until the shipper catches up (bounded memory).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Event

from .cursors import EVENT_PREFIX, CursorBook, EventMark
from .logquery import quote
from .logsearch import format_ns, parse_rfc3339_ns, to_ns
from .logstore import LogStore

log = logging.getLogger(__name__)
_GONE = 410

# (time ns, message, namespace, pod, level, key) → a store record
RecordFactory = Callable[[int, str, str, str, str, str], dict[str, Any]]


@dataclass(frozen=True)
class Change:
    """One step of the feed, in watch order: a new occurrence to ship (``record``), or an
    Event that is gone (``mark`` None); ``version`` is the resourceVersion it came with."""
    key: str
    mark: EventMark | None
    record: dict[str, Any] | None
    version: str | None


def occurrence(event: Event) -> EventMark:
    """The count and time (ns) of ``event``'s newest occurrence."""
    series = event.series
    if series is not None and series.lastObservedTime is not None:
        return EventMark(max(series.count or 1, event.count or 1),
                         to_ns(series.lastObservedTime))
    when: datetime | None = (event.eventTime or event.lastTimestamp or event.firstTimestamp
                             or (event.metadata.creationTimestamp if event.metadata else None))
    return EventMark(event.count or 1, to_ns(when) if when else 0)


def event_text(event: Event) -> str:
    return f"{event.reason or ''}: {event.message or ''}".strip(": ")


class EventFeed:
    def __init__(self, client: AsyncClient, book: CursorBook, store: LogStore,
                 make_record: RecordFactory, scope: str, *, max_pending: int = 10_000,
                 retry: float = 5.0) -> None:
        """``scope``: the LogsQL filter selecting this member's lines in the store."""
        self.client, self.book, self.store, self.make_record = client, book, store, make_record
        self.scope, self.max_pending, self.retry = scope, max_pending, retry
        self._marks: dict[str, EventMark] = book.events()
        self._changes: list[Change] = []
        self._room = asyncio.Event()
        self._room.set()

    def pending(self) -> list[Change]:
        return list(self._changes)

    def commit(self, count: int) -> None:
        """The first ``count`` pending changes reached the store."""
        del self._changes[:count]
        if len(self._changes) < self.max_pending:
            self._room.set()

    async def _reconcile_with_store(self) -> None:
        """The store is one poll ahead of the saved marks after a SIGKILL between the ingest
        and the save: take the newest occurrence it holds for each Event."""
        rows = await self.store.query(f"{self.scope} AND source:=\"event\" | stats by (key) "
                                      "max(event_count) as c, max(_time) as t", format_ns(0))
        for row in rows:
            key, count, at = row.get("key") or "", row.get("c"), row.get("t")
            if not key.startswith(EVENT_PREFIX) or not at:
                continue
            try:
                stored = EventMark(int(float(count or 0)), parse_rfc3339_ns(at))
            except ValueError:
                continue
            known = self._marks.get(key)
            self._marks[key] = stored if known is None else EventMark(
                max(known.count, stored.count), max(known.at, stored.at))

    async def _offer(self, event: Event, version: str | None) -> None:
        meta = event.metadata
        if meta is None or not meta.uid:
            return
        key = f"{EVENT_PREFIX}{meta.uid}"
        mark = occurrence(event)
        seen = self._marks.get(key)
        record = None
        if seen is None or seen.precedes(mark):
            involved = event.involvedObject
            record = self.make_record(
                mark.at, event_text(event), meta.namespace or "",
                (involved.name or "") if involved.kind == "Pod" else "",
                "warning" if event.type == "Warning" else "info", key)
            record["event_count"] = mark.count
            self._marks[key] = mark if seen is None else EventMark(
                max(seen.count, mark.count), max(seen.at, mark.at))
        await self._push(Change(key, self._marks[key], record, version))

    async def _forget(self, key: str, version: str | None) -> None:
        self._marks.pop(key, None)
        await self._push(Change(key, None, None, version))

    async def _push(self, change: Change) -> None:
        await self._room.wait()
        self._changes.append(change)
        if len(self._changes) >= self.max_pending:
            self._room.clear()

    async def _relist(self) -> str | None:
        listing = self.client.list(Event, namespace="*")
        live: set[str] = set()
        async for event in listing:
            if event.metadata and event.metadata.uid:
                live.add(f"{EVENT_PREFIX}{event.metadata.uid}")
            await self._offer(event, None)
        for key in [k for k in self._marks if k not in live]:
            await self._forget(key, None)
        # Set by lightkube once the listing was read (also when it had no items).
        version: str | None = getattr(listing, "resourceVersion", None)
        await self._push(Change("", None, None, version))
        return version

    async def _watch(self, version: str) -> None:
        async for kind, event in self.client.watch(Event, namespace="*",
                                                   resource_version=version):
            now = event.metadata.resourceVersion if event.metadata else None
            if kind == "DELETED":
                if event.metadata and event.metadata.uid:
                    await self._forget(f"{EVENT_PREFIX}{event.metadata.uid}", now)
            else:
                await self._offer(event, now)

    async def run(self) -> None:
        """Until cancelled: list, then watch; a 410 or a broken watch lists again."""
        version, reconciled = self.book.events_version, False
        while True:
            try:
                if not reconciled:  # the store may be down when the shipper starts
                    await self._reconcile_with_store()
                    reconciled = True
                if version is None:
                    version = await self._relist()
                if version is not None:
                    await self._watch(version)
            except asyncio.CancelledError:
                raise
            except ApiError as exc:
                if exc.status.code == _GONE:
                    log.debug("event watch version %s expired; listing again", version)
                    version = None
                    continue
                log.warning("watching events failed: HTTP %s", exc.status.code)
            except Exception as exc:
                log.warning("watching events failed: %s", type(exc).__name__)
            version = None  # start over from a list: the marks drop what was shipped
            await asyncio.sleep(self.retry)


def store_scope(tenant: str, cluster: str) -> str:
    return f"tenant:={quote(tenant)} AND cluster:={quote(cluster)}"

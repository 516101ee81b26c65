"""The event stream's fan-out in the API process: ONE feed for every client.

The API does not run the operator; it derives the same events (same deterministic ids) from its
watch-backed caches of the clusters and applications: each change of an object's
``status.transitions`` yields the transitions not seen yet, a DELETED watch event the
``*.deleted`` event. Every event goes into a bounded in-memory history (for ``Last-Event-ID``
resume) and to each connected client's bounded queue; a client too slow to keep up is
disconnected (it resumes with ``Last-Event-ID``) instead of holding memory or the feed.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .transitions import Event, deleted_event, events_of


@dataclass(eq=False)
class Listener:
    """One connected client: what it may see and its queue (None = disconnected as slow)."""

    accepts: Callable[[Event], bool]
    queue: asyncio.Queue[Event | None] = field(default_factory=lambda: asyncio.Queue(1000))


class EventHub:
    def __init__(self, history: int = 10_000) -> None:
        self.history: deque[Event] = deque(maxlen=history)
        self.listeners: set[Listener] = set()
        self._seen: dict[str, int] = {}  # uid -> highest seq emitted
        self._listed: set[str] = set()  # kinds whose first list is done

    def changed(self, kind: str, change: str, body: dict[str, Any]) -> None:
        """A watch-cache listener (``kind`` bound with functools.partial)."""
        if change == "LISTED":
            self._listed.add(kind)
            return
        meta = body["metadata"]
        if change == "DELETED":
            # Transitions only the last body shows (a watch that dropped and resumed) happened
            # before the deletion: they go out first.
            self._news(kind, body)
            if self._seen.pop(meta["uid"], None) is not None or kind in self._listed:
                now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                self._emit(deleted_event(kind, meta["namespace"], meta["uid"], meta["name"],
                                         now=now, detail=(body.get("spec") or {}).get("provider")))
            return
        self._news(kind, body)

    def _news(self, kind: str, body: dict[str, Any]) -> None:
        """Emit ``body``'s recorded transitions not emitted yet."""
        uid = body["metadata"]["uid"]
        events = events_of(kind, body)
        seen = self._seen.get(uid, 0)
        if events:
            self._seen[uid] = max(seen, events[-1].seq)
        if kind not in self._listed:
            return  # the initial list: what happened before the API started is not news
        for event in events:
            if event.seq > seen:
                self._emit(event)

    def _emit(self, event: Event) -> None:
        self.history.append(event)
        for listener in list(self.listeners):
            if not listener.accepts(event):
                continue
            try:
                listener.queue.put_nowait(event)
            except asyncio.QueueFull:
                self.listeners.discard(listener)
                listener.queue = asyncio.Queue(1)
                listener.queue.put_nowait(None)

    def connect(self, accepts: Callable[[Event], bool], last_event_id: str | None, *,
                replay: bool = False) -> tuple[Listener, list[Event]]:
        """Register a client; returns it and the history after ``last_event_id`` it missed
        (empty when the id is unknown or no longer in the history). Without an id, ``replay``
        hands it the whole bounded history it may see, oldest first."""
        listener = Listener(accepts)
        self.listeners.add(listener)
        missed: list[Event] = []
        if replay and not last_event_id:
            missed = [e for e in self.history if accepts(e)]
        if last_event_id:
            ids = [e.id for e in self.history]
            if last_event_id in ids:
                start = len(ids) - ids[::-1].index(last_event_id)
                missed = [e for e in list(self.history)[start:] if accepts(e)]
        return listener, missed

    def disconnect(self, listener: Listener) -> None:
        self.listeners.discard(listener)

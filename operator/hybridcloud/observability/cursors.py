"""The shipper's cursors, one ConfigMap per member in the platform namespace.

``logship-<cluster uid>`` holds JSON ``{key: [timestamp ns, [line hashes at it]]}`` for
containers, ``{"event/<uid>": [count, occurrence ns]}`` for Events (the newest occurrence
shipped) and, under its own data key, the resourceVersion the Event watch resumes from. It is
written once per poll when something moved, with server-side apply, so a restarted shipper
resumes where the last save left it.

The ConfigMap is owned (``ownerReferences``) by the platform's copy of the member credential,
Secret ``member-<cluster uid>`` in the same namespace, which the operator deletes when the
cluster goes away; the garbage collector then removes the cursors too. A HybridCluster itself
cannot own it (owners never reach across namespaces), and deleting the ConfigMap ourselves
would need ``delete`` on every ConfigMap of the platform namespace. A save racing the
cluster's deletion re-creates the ConfigMap with an owner that no longer exists, which the
garbage collector deletes as well.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.models.meta_v1 import ObjectMeta, OwnerReference
from lightkube.resources.core_v1 import ConfigMap

FIELD_MANAGER = "hybridcloud-logship"
DATA_KEY = "cursors"
EVENTS_VERSION_KEY = "eventsResourceVersion"
EVENT_PREFIX = "event/"


@dataclass(frozen=True)
class LineCursor:
    at: int
    hashes: list[str]


@dataclass(frozen=True)
class EventMark:
    """The newest occurrence of an Event already shipped: its count (``series.count`` or the
    legacy ``count``) and when it was observed (ns)."""
    count: int
    at: int

    def precedes(self, other: EventMark) -> bool:
        return other.count > self.count or other.at > self.at


def owner_secret(name: str, uid: str) -> OwnerReference:
    return OwnerReference(apiVersion="v1", kind="Secret", name=name, uid=uid)


class CursorBook:
    def __init__(self, client: AsyncClient, namespace: str, cluster_uid: str,
                 labels: dict[str, str] | None = None,
                 owner: OwnerReference | None = None) -> None:
        self.client, self.namespace = client, namespace
        self.name = f"logship-{cluster_uid}"
        self.labels = labels or {}
        self.owner = owner
        self.events_version: str | None = None
        self._cursors: dict[str, LineCursor] = {}
        self._events: dict[str, EventMark] = {}
        self._dirty = False

    async def load(self) -> None:
        try:
            found = await self.client.get(ConfigMap, self.name, namespace=self.namespace)
        except ApiError as exc:
            if exc.status.code == 404:
                return
            raise
        data: dict[str, Any] = json.loads((found.data or {}).get(DATA_KEY) or "{}")
        for key, value in data.items():
            if key.startswith(EVENT_PREFIX):
                # Before series were tracked an Event's entry was [count, []].
                at = value[1] if isinstance(value[1], int) else 0
                self._events[key] = EventMark(int(value[0]), at)
            else:
                self._cursors[key] = LineCursor(int(value[0]), [str(h) for h in value[1]])
        self.events_version = (found.data or {}).get(EVENTS_VERSION_KEY) or None

    def get(self, key: str) -> LineCursor | None:
        return self._cursors.get(key)

    def set(self, key: str, cursor: LineCursor | None) -> None:
        if cursor is not None and self._cursors.get(key) != cursor:
            self._cursors[key] = cursor
            self._dirty = True

    def event(self, key: str) -> EventMark | None:
        return self._events.get(key)

    def events(self) -> dict[str, EventMark]:
        return dict(self._events)

    def set_event(self, key: str, mark: EventMark | None) -> None:
        """Record ``mark`` as shipped (None: the Event is gone, forget it)."""
        if mark is None:
            self._dirty |= self._events.pop(key, None) is not None
        elif self._events.get(key) != mark:
            self._events[key] = mark
            self._dirty = True

    def set_events_version(self, version: str | None) -> None:
        if version != self.events_version:
            self.events_version = version
            self._dirty = True

    def prune(self, live: Collection[str]) -> None:
        """Forget containers that no longer exist on the member."""
        for key in [k for k in self._cursors if k not in live]:
            del self._cursors[key]
            self._dirty = True

    def __len__(self) -> int:
        return len(self._cursors) + len(self._events)

    async def save(self) -> None:
        if not self._dirty:
            return
        entries: dict[str, list[Any]] = {k: [c.at, c.hashes] for k, c in self._cursors.items()}
        entries.update({k: [m.count, m.at] for k, m in self._events.items()})
        data = {DATA_KEY: json.dumps(dict(sorted(entries.items())), separators=(",", ":"))}
        if self.events_version:
            data[EVENTS_VERSION_KEY] = self.events_version
        await self.client.apply(ConfigMap(
            metadata=ObjectMeta(name=self.name, namespace=self.namespace, labels=self.labels,
                                ownerReferences=[self.owner] if self.owner else None),
            data=data), field_manager=FIELD_MANAGER, force=True)
        self._dirty = False

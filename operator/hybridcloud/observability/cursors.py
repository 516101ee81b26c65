"""The shipper's cursors, one ConfigMap per member in the platform namespace.

``logship-<cluster uid>`` holds JSON ``{key: [timestamp ns, [line hashes at it]]}`` (for Events
the first element is the count already shipped). It is written once per poll when something
moved, with server-side apply, so a restarted shipper resumes where the last save left it.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap

FIELD_MANAGER = "hybridcloud-logship"
DATA_KEY = "cursors"


@dataclass(frozen=True)
class LineCursor:
    at: int
    hashes: list[str]


class CursorBook:
    def __init__(self, client: AsyncClient, namespace: str, cluster_uid: str,
                 labels: dict[str, str] | None = None) -> None:
        self.client, self.namespace = client, namespace
        self.name = f"logship-{cluster_uid}"
        self.labels = labels or {}
        self._cursors: dict[str, LineCursor] = {}
        self._dirty = False

    async def load(self) -> None:
        try:
            found = await self.client.get(ConfigMap, self.name, namespace=self.namespace)
        except ApiError as exc:
            if exc.status.code == 404:
                return
            raise
        data: dict[str, Any] = json.loads((found.data or {}).get(DATA_KEY) or "{}")
        self._cursors = {key: LineCursor(int(value[0]), [str(h) for h in value[1]])
                         for key, value in data.items()}

    def get(self, key: str) -> LineCursor | None:
        return self._cursors.get(key)

    def set(self, key: str, cursor: LineCursor | None) -> None:
        if cursor is not None and self._cursors.get(key) != cursor:
            self._cursors[key] = cursor
            self._dirty = True

    def prune(self, live: Collection[str], *, events: bool) -> None:
        """Forget containers (or Events) that no longer exist on the member."""
        for key in [k for k in self._cursors if k.startswith("event/") == events]:
            if key not in live:
                del self._cursors[key]
                self._dirty = True

    def __len__(self) -> int:
        return len(self._cursors)

    async def save(self) -> None:
        if not self._dirty:
            return
        text = json.dumps({k: [c.at, c.hashes] for k, c in sorted(self._cursors.items())},
                          separators=(",", ":"))
        await self.client.apply(ConfigMap(
            metadata=ObjectMeta(name=self.name, namespace=self.namespace, labels=self.labels),
            data={DATA_KEY: text}), field_manager=FIELD_MANAGER, force=True)
        self._dirty = False

"""The namespaces of one member cluster that deliveries write into: which exist, and creating
the missing ones.

Which namespaces exist is read from one watch of the member's namespaces (names only) once it
has synced; before that, and when no watch is given, each namespace not seen yet is asked for
once with a GET. A namespace deleted later is forgotten when a write into it answers 404, and
created again by the next pass. A namespace found missing tells the pass something more:
nothing can exist in it yet, so the objects it would hold need no GET before they are applied.
So a new application in a new namespace costs its member only the writes (issue 19: the GET
per namespace was one of the three requests per new application and member that the
server-side-apply floor does not send).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Collection, Iterable, Mapping
from typing import Any, TypeVar

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Namespace

from ..kube.cache import WatchCache
from ..kube.wire import APPLY_PATCH, KubeWire, object_path
from . import objects as o

# Requests one pass has in flight to a member at once (reads, then each wave of applies): as
# many as the in-process server-side-apply floor uses per cluster (bench/ssa_floor.py).
PARALLEL_REQUESTS = 16
_T = TypeVar("_T")


async def bounded(calls: Iterable[Awaitable[_T]], limit: int = PARALLEL_REQUESTS) -> list[_T]:
    """Await ``calls`` with at most ``limit`` of them running at once; answers in order."""
    pending = list(calls)
    if len(pending) <= 1:  # no task for one call (the namespace wave, a pass's one GET)
        return [await call for call in pending]
    if len(pending) <= limit:
        return list(await asyncio.gather(*pending))
    gate = asyncio.Semaphore(limit)

    async def one(call: Awaitable[_T]) -> _T:
        async with gate:
            return await call

    return list(await asyncio.gather(*(one(call) for call in pending)))


class MemberNamespaces:
    def __init__(self, wire: KubeWire, client: AsyncClient | None = None) -> None:
        """``client``: the member's lightkube client, for the watch of its namespaces (without
        one, every namespace not seen yet is asked for with a GET)."""
        self.wire = wire
        self._seen: set[str] = set()  # seen to exist (or created by us)
        self._watch = None if client is None else WatchCache(
            client, Namespace, namespace=None, keep=_identity)
        self._watching = False

    async def absent(self, names: Iterable[str | None]) -> set[str]:
        """Which of ``names`` do not exist (read-only: from the watch, or one GET per namespace
        not seen yet while the watch has not synced)."""
        unknown = sorted({n for n in names if n} - self._seen)
        there = await bounded(self._exists(name) for name in unknown)
        self._seen.update(n for n, found in zip(unknown, there, strict=True) if found)
        return {n for n, found in zip(unknown, there, strict=True) if not found}

    async def ensure(self, names: Iterable[str | None], absent: Collection[str] = ()) -> None:
        """Create the namespaces of ``names`` that are missing; ``absent`` were found missing
        by this pass already and are not asked for again."""
        for name in sorted({n for n in names if n} - self._seen):
            if name in absent or not await self._exists(name):
                await self.wire.request("PATCH", object_path("v1", "namespaces", None, name), {
                    "apiVersion": "v1", "kind": "Namespace", "metadata": {
                        "name": name, "labels": {o.MANAGED_BY: o.MANAGED_BY_VALUE}}},
                    content_type=APPLY_PATCH, force=True)
            self._seen.add(name)

    def missing(self, exc: ApiError, namespace: str | None) -> None:
        """A write answered 404: the namespace may have been deleted since we saw it."""
        if exc.status.code == 404 and namespace:
            self._seen.discard(namespace)

    async def stop(self) -> None:
        if self._watch is not None:
            await self._watch.stop()

    async def _exists(self, name: str) -> bool:
        watch = self._watched()
        if watch is not None:
            return watch.get("", name) is not None
        try:
            await self.wire.request("GET", object_path("v1", "namespaces", None, name))
        except ApiError as exc:
            if exc.status.code != 404:
                raise
            return False
        return True

    def _watched(self) -> WatchCache | None:
        """The namespace watch once it has synced (started on first use)."""
        if self._watch is None:
            return None
        if not self._watching:
            self._watch.start()
            self._watching = True
        return self._watch if self._watch.synced else None


def _identity(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What the namespace watch keeps of a namespace: only what says it exists."""
    meta = obj.get("metadata") or {}
    return {"metadata": {key: meta[key] for key in ("name", "uid", "creationTimestamp")
                         if key in meta}}

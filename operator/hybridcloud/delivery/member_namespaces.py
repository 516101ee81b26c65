"""The namespaces of one member cluster that deliveries write into: which exist, and creating
the missing ones.

A namespace seen to exist is asked for once, not before every write; one deleted later is
forgotten when a write into it answers 404, and created again by the next pass. A namespace
found missing tells the pass something more: nothing can exist in it yet, so the objects it
would hold need no GET before they are applied (a new application in a new namespace costs
its member only the writes, issue 19).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Collection, Iterable
from typing import TypeVar

from lightkube.core.exceptions import ApiError

from ..kube.wire import APPLY_PATCH, KubeWire, object_path
from . import objects as o

# Requests one pass has in flight to a member at once (reads, then each wave of applies): as
# many as the in-process server-side-apply floor uses per cluster (bench/ssa_floor.py).
PARALLEL_REQUESTS = 16
_T = TypeVar("_T")


async def bounded(calls: Iterable[Awaitable[_T]], limit: int = PARALLEL_REQUESTS) -> list[_T]:
    """Await ``calls`` with at most ``limit`` of them running at once; answers in order."""
    gate = asyncio.Semaphore(limit)

    async def one(call: Awaitable[_T]) -> _T:
        async with gate:
            return await call

    return list(await asyncio.gather(*(one(call) for call in calls)))


class MemberNamespaces:
    def __init__(self, wire: KubeWire) -> None:
        self.wire = wire
        self._seen: set[str] = set()  # seen to exist (or created by us)

    async def absent(self, names: Iterable[str | None]) -> set[str]:
        """Which of ``names`` do not exist (read-only: one GET per namespace not seen yet)."""
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

    async def _exists(self, name: str) -> bool:
        try:
            await self.wire.request("GET", object_path("v1", "namespaces", None, name))
        except ApiError as exc:
            if exc.status.code != 404:
                raise
            return False
        return True

"""The operator's view of tenant limits: TenantPolicies and namespace labels, watch-backed.

Both are mirrored by list+watch caches (:class:`hybridcloud.kube.cache.WatchCache`), so a
reconcile pass reads its namespace's rules from memory, never with a request. The controllers
start only after the first LIST of both landed: a pass never judges a namespace by the defaults
merely because the policies had not been read yet. When a policy changes, ``on_change`` callbacks
re-enqueue the work they affect, so loosening or tightening a policy takes effect at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from lightkube import AsyncClient
from lightkube.resources.core_v1 import Namespace

from ..models import TenantRules
from ..reconcile import tenancy
from .cache import WatchCache, start_all
from .resources import TenantPolicyResource

log = logging.getLogger(__name__)
_SYNC_TIMEOUT = 60.0


class TenantBook:
    def __init__(self, client: AsyncClient, defaults: TenantRules) -> None:
        self.defaults = defaults
        self.policies = WatchCache(client, TenantPolicyResource, namespace=None)
        self.namespaces = WatchCache(client, Namespace, namespace=None)
        self._listeners: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None

    def on_change(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)

    async def start(self) -> None:
        await start_all([self.policies, self.namespaces], _SYNC_TIMEOUT)
        if not (self.policies.synced and self.namespaces.synced):
            raise RuntimeError("cannot list TenantPolicies and Namespaces: tenant limits unknown")
        self._task = asyncio.create_task(self._notify(), name="tenant-policy-changes")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.policies.stop()
        await self.namespaces.stop()

    def rules_for(self, namespace: str) -> tenancy.Governing:
        body = self.namespaces.get("", namespace) or {}
        labels = (body.get("metadata") or {}).get("labels") or {}
        return tenancy.governing(namespace, labels, self.policies, self.defaults)

    async def _notify(self) -> None:
        # Only policy changes re-enqueue work: namespaces come and go all the time, and a
        # relabelled namespace is picked up by the next pass (resync or stalled retry).
        while True:
            seen = self.policies.generation
            if await self.policies.wait_until(
                    lambda seen=seen: self.policies.generation != seen, 300.0):  # type: ignore[misc]
                for callback in self._listeners:
                    try:
                        callback()
                    except Exception:  # a listener's bug must not stop the notifications
                        log.exception("tenant policy change listener failed")

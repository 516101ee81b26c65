"""Reading and writing one member's inventories (their shape lives in :mod:`.inventory`).

An inventory is read from the member's ConfigMap watch (:mod:`.member_cache`; inventories carry
the platform's label) and from the apiserver only when the watch cannot tell. When the watch has
synced and shows none, nothing is asked: the GET was one of the three requests per new
application and member that the server-side-apply floor does not send (issue 19's delivery at
scale). The first write then *creates* the inventory, so one the watch could not show (it lost
our label) is never overwritten: its objects are added to the new list, and none is forgotten.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from cachetools import LRUCache
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import ConfigMap

from ..kube.wire import KubeWire, object_path
from . import objects as o
from .inventory import INVENTORY_NAMESPACE, inventory_body, inventory_key, parse_inventory
from .member_cache import AppliedObjects
from .member_namespaces import MemberNamespaces
from .member_types import AppIdentity

_PARSED_KEPT = 4096  # applications' inventories on this member
# Reads the member's copy of an object (None when it has none).
Getter = Callable[[Any, o.ObjectKey], Awaitable[dict[str, Any] | None]]
# Server-side applies an object to the member (MemberCluster._apply) and returns the answer.
Applier = Callable[[Any, o.ObjectKey, dict[str, Any]], Awaitable[dict[str, Any]]]


class MemberInventories:
    def __init__(self, wire: KubeWire, applied: AppliedObjects, namespaces: MemberNamespaces,
                 get: Getter, apply: Applier) -> None:
        self.wire = wire
        self.applied = applied
        self.namespaces = namespaces
        self._get = get
        self._apply = apply
        # The watch's copy of each inventory and what it lists, parsed once per copy: every
        # pass reads the inventory, and it changes only when the objects it lists do.
        self._parsed: LRUCache[str, tuple[dict[str, Any], dict[str, Any]]] = LRUCache(
            _PARSED_KEPT)

    async def read(self, app: AppIdentity, *, removing: bool = False
                   ) -> tuple[dict[str, Any], bool]:
        """The application's inventory (``parse_inventory``'s shape), and whether the watch
        shows there is none (then the next :meth:`write` should ``create``). ``removing``: the
        app leaves the member, and what it lists is deleted: an inventory the watch cannot
        show (it lost our label) is still asked for, so its objects are not left behind."""
        key = inventory_key(app.uid)
        if self.applied.absent(ConfigMap, key):
            if removing:
                return parse_inventory(await self._get(ConfigMap, key)), False
            return {}, True
        watched = self.applied.lookup(ConfigMap, key)
        if watched is None:
            return parse_inventory(await self._get(ConfigMap, key)), False
        parsed = self._parsed.get(app.uid)
        if parsed is None or parsed[0] is not watched:  # the watch's copy changed: parse it
            parsed = (watched, parse_inventory(watched))
            self._parsed[app.uid] = parsed
        return dict(parsed[1]), False

    async def write(self, app: AppIdentity, keys: set[o.ObjectKey], fingerprint: str | None,
                    *, create: bool = False) -> None:
        """Apply the inventory listing ``keys``; ``create`` when :meth:`read` found none."""
        await self.namespaces.ensure([INVENTORY_NAMESPACE])
        key = inventory_key(app.uid)
        try:
            if create:
                written = await self._create(app, key, keys, fingerprint)
            else:
                written = await self._apply(ConfigMap, key, inventory_body(
                    app.uid, app.display, keys, fingerprint))
        except ApiError as exc:
            self.namespaces.missing(exc, INVENTORY_NAMESPACE)
            raise
        self.applied.remember(ConfigMap, written)

    async def _create(self, app: AppIdentity, key: o.ObjectKey, keys: set[o.ObjectKey],
                      fingerprint: str | None) -> dict[str, Any]:
        body = inventory_body(app.uid, app.display, keys, fingerprint)
        try:
            return await self.wire.request(
                "POST", object_path(key.api_version, "configmaps", key.namespace), body)
        except ApiError as exc:
            if exc.status.code != 409:
                raise
        there = parse_inventory(await self._get(ConfigMap, key))
        return await self._apply(ConfigMap, key, inventory_body(
            app.uid, app.display, keys | set(there.get("keys", [])), fingerprint))

"""What the platform applied on one member, mirrored by watches instead of read per pass.

Before this cache, every delivery pass (each resync of each application) sent a GET per object
for drift, one for the inventory and one more per workload for health: with a thousand
applications that is steady polling of every member while nothing changes. Here each member
has one list+watch per kind the platform delivers (:class:`~hybridcloud.kube.cache.WatchCache`),
label-selected by ``app.kubernetes.io/managed-by=hybridcloud`` and shared by every application
on that member. Inventory ConfigMaps carry the same label, so the ConfigMap watch holds them too.

Reads answer from the watch when it holds the object. An object the watch does not hold is
*not* taken as missing: it may exist without our label (a foreign object we must never adopt),
or the watch may not have synced yet; the caller then asks the apiserver, as before. So at rest
(every object present and ours) a pass sends no request to the member.

Our own writes are remembered until the watch has caught up with them, so a pass right after
an apply never compares against the version before it (which would look like drift).

A change made by someone else (an edit, a delete) arrives as a watch event; ``on_change`` gets
the owning application's uid so the controller can run that application's pass at once —
self-heal and health follow the member without waiting for the resync. The watch also reports
our own applies back (MODIFIED); that echo is not a change: writes go through
:meth:`AppliedObjects.write`, which holds the object's events while the write is in flight
(the echo may arrive before the answer) and passes on only those newer than what we wrote.
Taking the echo for an edit ran a second full pass per application and member after every
push (issue 19, commit to fleet).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from lightkube import AsyncClient
from lightkube.core.resource import NamespacedResource

from ..kube.cache import WatchCache, revision
from ..kube.objects import slim
from . import objects as o

OWNED_SELECTOR = f"{o.MANAGED_BY}={o.MANAGED_BY_VALUE}"
_Kind = tuple[str, str]  # (apiVersion, kind): generic resource classes may be rebuilt per pass
_Slot = tuple[str | None, str]  # (namespace or None, name)


class AppliedObjects:
    """Watch-backed copies of the objects the platform manages on one member cluster."""

    def __init__(self, client: AsyncClient,
                 on_change: Callable[[str], None] | None = None) -> None:
        self.client = client
        self.on_change = on_change
        self._caches: dict[_Kind, WatchCache] = {}
        self._written: dict[tuple[_Kind, _Slot], dict[str, Any]] = {}
        # Objects being written by us → the MODIFIED events their watch delivered meanwhile.
        self._in_flight: dict[tuple[_Kind, _Slot], list[dict[str, Any]]] = {}

    def lookup(self, resource: Any, key: o.ObjectKey) -> dict[str, Any] | None:
        """The newest copy we hold of ``key``, or None when the member must be asked."""
        kind = (key.api_version, key.kind)
        cache = self._cache(resource, kind)
        slot: _Slot = (key.namespace, key.name)
        watched = cache.get(key.namespace or "", key.name) if cache.synced else None
        written = self._written.get((kind, slot))
        if written is not None and watched is not None and \
                revision(_version(watched)) >= revision(_version(written)):
            del self._written[(kind, slot)]  # the watch caught up with our write
            written = None
        if written is not None:
            return written
        return watched

    def absent(self, resource: Any, key: o.ObjectKey) -> bool:
        """True when no object ``key`` carrying our label exists: the watch has synced and
        holds no copy, and we wrote none it has not seen yet. (One without our label may.)"""
        kind = (key.api_version, key.kind)
        cache = self._cache(resource, kind)
        return cache.synced and cache.get(key.namespace or "", key.name) is None and \
            (kind, (key.namespace, key.name)) not in self._written

    def remember(self, resource: Any, obj: dict[str, Any]) -> None:
        """``obj`` as the apiserver answered our write: newer than the watch until it catches
        up. Only objects the watch would hold (ours) are remembered."""
        meta = obj.get("metadata") or {}
        if (meta.get("labels") or {}).get(o.MANAGED_BY) != o.MANAGED_BY_VALUE:
            return
        kind = (str(obj["apiVersion"]), str(obj["kind"]))
        self._cache(resource, kind)
        self._written[(kind, (meta.get("namespace"), meta["name"]))] = slim(obj)

    async def write(self, resource: Any, key: o.ObjectKey,
                    request: Awaitable[dict[str, Any]]) -> dict[str, Any]:
        """Await ``request`` (our write of ``key``) and remember its answer. Watch events of
        ``key`` arriving meanwhile are held; afterwards only those newer than our write (someone
        else's edit racing it) are reported to ``on_change``, the echo of our own is not."""
        slot = ((key.api_version, key.kind), (key.namespace, key.name))
        held = self._in_flight.setdefault(slot, [])
        try:
            obj = await request
        except BaseException:
            self._release(slot, held, None)
            raise
        self.remember(resource, obj)
        self._release(slot, held, revision(_version(obj)))
        return obj

    def _release(self, slot: tuple[_Kind, _Slot], held: list[dict[str, Any]],
                 written: int | None) -> None:
        if self._in_flight.get(slot) is held:
            del self._in_flight[slot]
        for obj in held:  # at most one report: the controller's queue folds them anyway
            if written is None or revision(_version(obj)) > written:
                self._report(obj)
                return

    def forget(self, key: o.ObjectKey) -> None:
        """``key`` was deleted: drop what we wrote (the watch sees the delete itself)."""
        self._written.pop(((key.api_version, key.kind), (key.namespace, key.name)), None)

    @property
    def watches(self) -> int:
        return len(self._caches)

    async def stop(self) -> None:
        for cache in self._caches.values():
            await cache.stop()
        self._caches.clear()
        self._written.clear()

    # -- plumbing --------------------------------------------------------------------------

    def _cache(self, resource: Any, kind: _Kind) -> WatchCache:
        cache = self._caches.get(kind)
        if cache is None:
            scope = "*" if issubclass(resource, NamespacedResource) else None
            cache = WatchCache(self.client, resource, namespace=scope,
                               label_selector=OWNED_SELECTOR)
            cache.listeners.append(self._changed)
            self._caches[kind] = cache
            cache.start()
        return cache

    def _changed(self, event: str, obj: dict[str, Any]) -> None:
        # ADDED comes from our own creates and from (re)lists: nothing for a pass to do. An
        # edit or a delete by anyone may be drift (or a workload's health moving).
        if event not in ("MODIFIED", "DELETED"):
            return
        meta = obj.get("metadata") or {}
        key = ((str(obj.get("apiVersion")), str(obj.get("kind"))),
               (meta.get("namespace"), str(meta.get("name"))))
        if event == "DELETED":
            self.forget(o.ObjectKey(*key[0], *key[1]))
        elif key in self._in_flight:
            self._in_flight[key].append(obj)  # echo or edit: told apart once the write answers
            return
        elif (written := self._written.get(key)) is not None and \
                revision(_version(obj)) <= revision(_version(written)):
            return  # the echo of our own write
        self._report(obj)

    def _report(self, obj: dict[str, Any]) -> None:
        uid = ((obj.get("metadata") or {}).get("labels") or {}).get(o.APP_LABEL)
        if uid and self.on_change is not None:
            self.on_change(str(uid))


def _version(obj: dict[str, Any]) -> str | None:
    value = (obj.get("metadata") or {}).get("resourceVersion")
    return str(value) if value is not None else None

"""A watch-backed, in-memory cache of one Kubernetes resource type (list + watch).

The REST API serves every read from here instead of sending a LIST per request:

* **Initial sync** — one LIST gives the objects and the collection's ``resourceVersion``.
* **Watch** — a watch from that version (with bookmarks, so the version keeps moving while
  nothing changes) applies ADDED / MODIFIED / DELETED events. When the stream ends or the
  connection drops, the watch **resumes from the last version seen**, so no event is lost and
  nothing is re-read.
* **410 Gone** — the version fell out of the apiserver's window: the cache **relists** and
  replaces its contents (objects deleted meanwhile disappear).
* **Readiness** — ``synced`` is true once the first LIST landed and while the watch is
  connected; the API's ``/readyz`` reports it.
* **Read-your-writes** — ``wait_for_version(rv)`` lets a writer wait until the watch has caught
  up with the ``resourceVersion`` its write returned (resourceVersions are etcd revisions in
  practice, so they are compared as integers, like ``kube.objects.newer``).

Objects are kept as plain dicts exactly as the apiserver serialises them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx2
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.core.resource import api_info

from .objects import slim

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, name)
# Objects per page of a LIST: a relist of a fleet reads pages, never one response holding every
# object (the peak a process keeps after a restart). A continue token that expires between
# pages answers 410 like an expired watch, and the relist starts over.
LIST_PAGE = 500


@dataclass
class _OrderedView:
    """One namespace's objects in list order, as of ``generation`` (contents) and
    ``membership`` (which objects exist)."""

    generation: int
    membership: int
    keys: list[Key]
    objects: list[dict[str, Any]]


def revision(value: str | None) -> int:
    try:
        return int(value or -1)
    except ValueError:
        return -1


class WatchCache:
    """List+watch mirror of ``resource`` in ``namespace`` ("*" = all; None for cluster-scoped
    resources, stored under namespace ""), optionally label-filtered."""

    def __init__(self, client: AsyncClient, resource: Any, *, namespace: str | None = "*",
                 label_selector: str | None = None, server_timeout: int = 300,
                 backoff: float = 1.0,
                 keep: Callable[[Mapping[str, Any]], dict[str, Any]] = slim) -> None:
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        # What is kept of each object (and given to listeners): a consumer that reads a few
        # fields keeps only those (they must include metadata namespace, name, uid and
        # creationTimestamp, which the cache itself reads).
        self.keep = keep
        self.server_timeout = server_timeout
        self.backoff = backoff
        self.resource_version = ""
        self.synced = False
        self.relists = 0
        self._objects: dict[Key, dict[str, Any]] = {}
        self._by_uid: dict[str, Key] = {}
        # Sorted views per namespace, rebuilt only after a change: a list request then costs
        # a slice, not a sort of the whole fleet. The order (creationTimestamp, name) only
        # changes when objects come or go (``_membership``); after mere modifications (a
        # status write per reconcile) the view is refreshed in the kept order, without sorting.
        self._generation = 0
        self._membership = 0
        self._ordered: dict[str | None, _OrderedView] = {}
        self.sorts = 0  # full sorts of a view since start (tests count them)
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._first_sync = asyncio.Event()
        # Called with ("ADDED" | "MODIFIED" | "DELETED", object) after each change, and with
        # ("LISTED", {}) after each (re)list (webhooks and the event stream follow changes).
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []

    # -- reading ---------------------------------------------------------------------------

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._objects.get((namespace, name))

    def by_uid(self, uid: str) -> dict[str, Any] | None:
        key = self._by_uid.get(uid)
        return self._objects.get(key) if key else None

    def items(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """Objects (in ``namespace`` when given), oldest first, then by name: a stable order.

        The list is shared until the next change: callers must not modify it."""
        view = self._ordered.get(namespace)
        if view is not None and view.generation == self._generation:
            return view.objects
        if view is not None and view.membership == self._membership:
            # Only modifications since the view was built: same keys, same order.
            view.objects = [self._objects[key] for key in view.keys]
            view.generation = self._generation
            return view.objects
        keys = [key for key in self._objects if namespace is None or key[0] == namespace]
        keys.sort(key=lambda key: (self._objects[key]["metadata"].get("creationTimestamp")
                                   or "", key[1]))
        self.sorts += 1
        if len(self._ordered) > 1000:  # bound the memo under namespace churn
            self._ordered.clear()
        view = _OrderedView(self._generation, self._membership, keys,
                            [self._objects[key] for key in keys])
        self._ordered[namespace] = view
        return view.objects

    @property
    def generation(self) -> int:
        """Grows with every change of the contents: lets a reader notice changes cheaply."""
        return self._generation

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(list(self._objects.values()))

    def __len__(self) -> int:
        return len(self._objects)

    # -- waiting ---------------------------------------------------------------------------

    async def wait_until(self, predicate: Callable[[], bool], within: float) -> bool:
        """Wait up to ``within`` seconds for ``predicate()`` to hold; False on timeout."""
        async def wait() -> None:
            async with self._changed:
                await self._changed.wait_for(predicate)
        try:
            await asyncio.wait_for(wait(), within)
        except TimeoutError:
            return predicate()
        return True

    async def wait_for_version(self, resource_version: str | None, within: float) -> bool:
        wanted = revision(resource_version)
        return await self.wait_until(lambda: revision(self.resource_version) >= wanted, within)

    async def wait_synced(self, within: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_sync.wait(), within)
        return self._first_sync.is_set()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"watch-cache-{self._plural}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.synced = False

    @property
    def _plural(self) -> str:
        return str(api_info(self.resource).plural)

    async def _run(self) -> None:
        need_list = True
        while True:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                await self._watch()
            except asyncio.CancelledError:
                raise
            except ApiError as exc:
                self.synced = False
                if exc.status.code == 410:  # our version is too old: start over from a LIST
                    log.info("watch of %s expired (410 Gone); relisting", self._plural)
                    need_list = True
                    continue
                log.warning("watch of %s failed: %s", self._plural, exc.status.message)
                await asyncio.sleep(self.backoff)
            except Exception as exc:  # connection trouble: resume from the last version seen
                self.synced = False
                log.warning("watch of %s interrupted (%s); resuming from %s", self._plural,
                            type(exc).__name__, self.resource_version)
                await asyncio.sleep(self.backoff)

    async def _relist(self) -> None:
        listing = self.client.list(self.resource, namespace=self.namespace,
                                   labels=self._labels(), chunk_size=LIST_PAGE)
        objects = [self.keep(obj.to_dict()) async for obj in listing]
        fresh: dict[Key, dict[str, Any]] = {}
        for obj in objects:
            fresh[(obj["metadata"].get("namespace", ""), obj["metadata"]["name"])] = obj
        async with self._changed:
            self._generation += 1
            self._membership += 1
            self._objects = fresh
            self._by_uid = {obj["metadata"]["uid"]: key for key, obj in fresh.items()}
            self.resource_version = listing.resourceVersion
            self.relists += 1
            self.synced = True
            self._first_sync.set()
            self._changed.notify_all()
        self._notify([("ADDED", obj) for obj in fresh.values()] + [("LISTED", {})])

    def _labels(self) -> dict[str, Any] | None:
        if not self.label_selector:
            return None
        key, _, value = self.label_selector.partition("=")
        return {key: value} if value else {key: None}

    async def _watch(self) -> None:
        """One watch request from ``resource_version``; returns when the server ends it."""
        # lightkube's transport (request building + auth) through private attributes: its own
        # watch decodes text lines, which breaks at U+2028; the minor version is pinned for this
        # in pyproject.toml.
        generic = self.client._client
        params: dict[str, Any] = {"resourceVersion": self.resource_version,
                                  "allowWatchBookmarks": "true",
                                  "timeoutSeconds": self.server_timeout}
        if self.label_selector:
            params["labelSelector"] = self.label_selector
        request = generic.prepare_request("list", res=self.resource, namespace=self.namespace,
                                          watch=True, params=params)
        http = generic._client.build_request("GET", request.url, params=request.params,
                                             timeout=generic._watch_timeout)
        response = await generic.send(http, stream=True)  # type: ignore[no-untyped-call]
        try:
            if response.status_code != 200:
                await response.aread()
                generic.raise_for_status(response)  # type: ignore[no-untyped-call]
            self.synced = True
            # Split on b"\n" only: text line iterators also break at U+2028 & co., which JSON
            # strings from the apiserver may contain raw.
            pending = b""
            async for chunk in response.aiter_bytes():
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        await self._apply(json.loads(line))
        finally:
            await response.aclose()

    async def _apply(self, event: dict[str, Any]) -> None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            code = obj.get("code")
            if code == 410:
                raise _gone(obj)
            raise RuntimeError(f"watch error {code}: {obj.get('message')}")
        meta = obj.get("metadata") or {}
        async with self._changed:
            if kind in ("ADDED", "MODIFIED"):
                key = (meta.get("namespace", ""), meta["name"])
                if key not in self._objects:
                    self._membership += 1
                self._objects[key] = self.keep(obj)
                self._by_uid[meta["uid"]] = key
                self._generation += 1
            elif kind == "DELETED":
                self._generation += 1
                self._membership += 1
                self._objects.pop((meta.get("namespace", ""), meta["name"]), None)
                self._by_uid.pop(meta.get("uid", ""), None)
            self.resource_version = meta.get("resourceVersion") or self.resource_version
            self._changed.notify_all()
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            self._notify([(str(kind), self.keep(obj))])

    def _notify(self, changes: list[tuple[str, dict[str, Any]]]) -> None:
        for listener in self.listeners:
            for kind, obj in changes:
                try:
                    listener(kind, obj)
                except Exception:
                    log.exception("listener of %s failed", self._plural)


def _gone(status: dict[str, Any]) -> ApiError:
    request = httpx2.Request("GET", "http://watch/")
    response = httpx2.Response(410, json=status, request=request)
    return ApiError(request=request, response=response)


async def start_all(caches: list[WatchCache], within: float) -> None:
    """Start caches and give them ``within`` seconds for the first sync (readiness waits on)."""
    for cache in caches:
        cache.start()
    deadline = time.monotonic() + within
    for cache in caches:
        await cache.wait_synced(max(0.0, deadline - time.monotonic()))

"""Small, write-minimising helpers for custom resources handled as plain dicts."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Mapping
from typing import Any

from lightkube.core.exceptions import ApiError
from lightkube.core.resource import api_info

from .wire import JSON_PATCH, MERGE_PATCH, KubeWire, object_path

FIELD_MANAGER = "hybridcloud-operator"


def _revision(body: Mapping[str, Any] | None) -> int:
    try:
        return int((body or {}).get("metadata", {}).get("resourceVersion", -1))
    except (TypeError, ValueError):
        return -1


def newer(candidate: Mapping[str, Any], current: Mapping[str, Any] | None, *,
          strictly: bool = False) -> bool:
    """Whether ``candidate`` is at least as new as (or, ``strictly``, newer than) ``current``.

    resourceVersions are opaque by contract but are etcd revisions in practice; comparing them
    lets our own write responses and the (later) watch event land in either order.
    """
    if current is None:
        return True
    if strictly:
        return _revision(candidate) > _revision(current)
    return _revision(candidate) >= _revision(current)


def slim(body: Mapping[str, Any]) -> dict[str, Any]:
    """A copy fit for a long-lived cache: managedFields (often most of an object's bytes) and
    kopf's raw-event wrappers dropped. Nested values are shared, not copied."""
    metadata = {k: v for k, v in body.get("metadata", {}).items() if k != "managedFields"}
    return {**body, "metadata": metadata}


_INTERNED_UP_TO = 256  # longer strings (messages of failures) are rare and mostly unique


def compact(value: Any) -> Any:
    """A deep copy of a decoded JSON value whose strings are interned: for caches holding one
    object per cluster. ``json.loads`` allocates every key and value anew for each object, so
    the keys and the values most objects share (condition types, reasons and messages, the
    phase, the provider, timestamps of the same second) cost their bytes once per object; here
    they cost them once. Interned strings are freed with their last user (CPython), so this
    keeps nothing alive. Lists stay lists: cached bodies are compared with fresh ones."""
    if isinstance(value, dict):
        return {sys.intern(k) if type(k) is str else k: compact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [compact(item) for item in value]
    if type(value) is str and len(value) <= _INTERNED_UP_TO:
        return sys.intern(value)
    return value


def cached_copy(body: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`slim` and :func:`compact`: the copy a controller keeps of each object it owns.
    Shares nothing with ``body`` (kopf's event, a write's response)."""
    copied: dict[str, Any] = compact(slim(body))
    return copied


def _path(resource: Any, body: Mapping[str, Any], subresource: str | None = None) -> str:
    info = api_info(resource)
    meta = body["metadata"]
    return object_path(info.resource.api_version, info.plural, meta["namespace"], meta["name"],
                       subresource)


async def patch_status(wire: KubeWire, resource: Any, body: Mapping[str, Any],
                       status: Mapping[str, Any]) -> dict[str, Any]:
    return await wire.request("PATCH", _path(resource, body, "status"),
                              {"status": dict(status)}, content_type=MERGE_PATCH)


async def patch_status_ops(wire: KubeWire, resource: Any, body: Mapping[str, Any],
                           ops: list[dict[str, Any]]) -> dict[str, Any]:
    """A JSON patch of the status subresource: touches only the paths in ``ops`` (whose
    ``test`` ops make it safe against concurrent writers of the same list)."""
    return await wire.request("PATCH", _path(resource, body, "status"), ops,
                              content_type=JSON_PATCH)


async def add_finalizer(wire: KubeWire, resource: Any, body: Mapping[str, Any],
                        finalizer: str) -> dict[str, Any]:
    present = body["metadata"].get("finalizers")
    ops: list[dict[str, Any]] = (
        [{"op": "add", "path": "/metadata/finalizers/-", "value": finalizer}] if present
        else [{"op": "add", "path": "/metadata/finalizers", "value": [finalizer]}])
    return await wire.request("PATCH", _path(resource, body), ops, content_type=JSON_PATCH)


async def remove_finalizer(wire: KubeWire, resource: Any, body: Mapping[str, Any],
                           finalizer: str) -> None:
    finalizers = list(body["metadata"].get("finalizers") or [])
    if finalizer not in finalizers:
        return
    index = finalizers.index(finalizer)
    # The test op makes the removal safe against concurrent edits of the list.
    ops = [{"op": "test", "path": f"/metadata/finalizers/{index}", "value": finalizer},
           {"op": "remove", "path": f"/metadata/finalizers/{index}"}]
    await wire.request("PATCH", _path(resource, body), ops, content_type=JSON_PATCH)


def owner_reference(body: Mapping[str, Any]) -> dict[str, Any]:
    return {"apiVersion": body["apiVersion"], "kind": body["kind"],
            "name": body["metadata"]["name"], "uid": body["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": False}


def status_patch(current: Mapping[str, Any] | None,
                 status: Mapping[str, Any]) -> dict[str, Any] | None:
    """The merge patch that makes ``current`` status equal ``status`` (top-level keys that
    disappear are set to null), or None when nothing changed and no write is needed."""
    current = current or {}
    if current == status:
        return None
    return {**{k: None for k in current if k not in status}, **status}


async def replace_status(wire: KubeWire, resource: Any, body: Mapping[str, Any],
                         status: Mapping[str, Any]) -> dict[str, Any] | None:
    """Write ``status`` over the object's status; the updated object, or None when the stored
    status already was ``status`` (no request sent)."""
    patch = status_patch(body.get("status"), status)
    if patch is None:
        return None
    return await patch_status(wire, resource, body, patch)


async def ignore_missing(call: Awaitable[Any]) -> None:
    """Await ``call`` (a delete, typically); an object that is already gone is not an error."""
    try:
        await call
    except ApiError as exc:
        if exc.status.code != 404:
            raise

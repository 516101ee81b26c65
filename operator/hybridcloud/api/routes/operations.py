"""/v1/operations/{operation_id}: progress of a write, read from the object (see operations.py).

An operation is visible to whoever may ``get`` its object in the object's namespace; to anyone
else it does not exist (404, so IDs reveal nothing across tenants).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from ...models import HybridCluster, MultiClusterApplication
from ..deps import AuthDep, CachesDep, CallerDep
from ..errors import APIError
from ..operations import Operation, describe, parse
from ._common import errors

router = APIRouter(prefix="/v1/operations", tags=["operations"])


@router.get("/{operation_id}", operation_id="getOperation", response_model=Operation,
            responses=errors(404))
async def get_operation(
    operation_id: Annotated[str, Path(max_length=80, description="op-<uid>-<generation|delete>")],
    caller: CallerDep, auth: AuthDep, caches: CachesDep,
) -> Operation:
    unknown = APIError("NOT_FOUND", f"operation {operation_id!r} not found",
                       {"operation_id": operation_id})
    parsed = parse(operation_id)
    if parsed is None:
        raise unknown
    uid, generation = parsed
    for cache, kind, plural in ((caches.clusters, "cluster", HybridCluster.PLURAL),
                                (caches.applications, "application",
                                 MultiClusterApplication.PLURAL)):
        obj = cache.by_uid(uid)
        if obj is None:
            continue
        meta = obj["metadata"]
        if not await auth.allowed(caller, "get", plural, meta.get("namespace"),
                                  name=meta["name"]):
            raise unknown
        if generation is not None and generation > int(meta.get("generation") or 1):
            raise unknown  # a generation that never existed
        return describe(operation_id, obj, kind, generation)
    if generation is None:  # a delete whose object is gone: finished
        return describe(operation_id, None, "unknown", None)
    raise unknown

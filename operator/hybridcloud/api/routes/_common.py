"""Shared pieces of the routers: documented error responses, paging, lookups, consistency."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Path
from lightkube.core.exceptions import ApiError
from pydantic import BaseModel

from ...kube.cache import WatchCache
from ...models.common import DNS_SUBDOMAIN
from ..errors import APIError, from_kube
from ..kubecall import kube_call
from ..operations import operation_id
from ..views import Accepted, accepted

ClusterId = Annotated[str, Path(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN,
                                description="Cluster ID (the HybridCluster's name).")]
"""Every ``{cluster_id}`` path parameter: a valid object name, or a 400 naming ``cluster_id``
before the request goes any further."""


class ErrorInfo(BaseModel):
    code: str
    message: str
    details: dict[str, Any]
    request_id: str


class ErrorBody(BaseModel):
    error: ErrorInfo


_DESCRIPTIONS = {
    400: "INVALID_REQUEST: malformed body or parameter; details.field names it.",
    401: "UNAUTHORIZED: missing, invalid or expired bearer token.",
    403: "FORBIDDEN: Kubernetes RBAC does not allow this in the tenant namespace.",
    404: "CLUSTER_NOT_FOUND / APPLICATION_NOT_FOUND / NOT_FOUND.",
    409: "CONFLICT: name already exists, stale If-Match, or state does not allow it.",
    413: "PAYLOAD_TOO_LARGE: the body exceeds HYBRIDCLOUD_API_MAX_BODY_BYTES.",
    429: "RATE_LIMITED: retry after Retry-After seconds.",
    500: "INTERNAL_ERROR.",
    503: "SERVICE_UNAVAILABLE: the Kubernetes API (or member cluster) is unreachable.",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses for the error codes an operation can return (always 400/401/413/429/
    5xx: the body limit applies to every request)."""
    chosen = sorted({400, 401, 413, 429, 500, 503, *codes})
    return {code: {"model": ErrorBody, "description": _DESCRIPTIONS[code]} for code in chosen}


T = TypeVar("T")


def page_of(items: list[T], page: int, per_page: int) -> list[T]:
    start = (page - 1) * per_page
    return items[start:start + per_page]


def cluster_or_404(cache: WatchCache, namespace: str, cluster_id: str) -> dict[str, Any]:
    obj = cache.get(namespace, cluster_id)
    if obj is None:
        available = [o["metadata"]["name"] for o in cache.items(namespace)]
        raise APIError("CLUSTER_NOT_FOUND", f"Cluster with ID '{cluster_id}' not found",
                       {"cluster_id": cluster_id, "available_clusters": available})
    return obj


async def caught_up(cache: WatchCache, written: dict[str, Any], within: float) -> None:
    """Read-your-writes: let the watch cache reach the version a write returned, so the next
    read from this API sees it. On timeout the caller answers from the write's response."""
    await cache.wait_for_version(written["metadata"].get("resourceVersion"), within)


async def create_object(kube: Any, cache: WatchCache, resource: Any, manifest: dict[str, Any],
                        renames: dict[str, str], within: float) -> Accepted:
    """The create flow every POST shares: create the custom resource (Kubernetes errors in the
    contract's shape, spec paths renamed to the REST fields), wait until this replica's cache
    has it (read-your-writes), answer 201 "creating" with its operation."""
    namespace = manifest["metadata"]["namespace"]
    try:
        created = await kube_call(kube.create(resource.from_dict(manifest), namespace=namespace))
    except ApiError as exc:
        raise from_kube(exc, renames=renames) from exc
    obj: dict[str, Any] = created.to_dict()
    await caught_up(cache, obj, within)
    return accepted(obj, "creating", operation_id(obj))

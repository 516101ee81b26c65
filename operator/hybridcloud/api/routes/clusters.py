"""/v1/clusters: HybridCluster objects in the tenant namespace.

The cluster ID is the HybridCluster's name. Lists are ordered oldest first (then by name), so
pages are stable while clusters are added; ``provider``, ``region`` and ``status`` filter before
paging and ``total`` counts the filtered set. Reads come from the watch cache; writes go to the
Kubernetes API and wait for the cache to catch up (read-your-writes). PATCH uses optimistic
concurrency: the ``If-Match`` header (the ``ETag`` of GET, a resourceVersion) makes a stale
update a 409 CONFLICT; without it the API still never overwrites a change it has not seen.

The PATCH body is merged into the version the caller names. When that is not the version in
this replica's watch cache (the ETag came from a faster replica, or straight from Kubernetes),
the live object is read first: merging onto the older cached spec would silently revert the
changes between the two versions. If the live object has moved on too, the ETag is stale: 409.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from lightkube.core.exceptions import ApiError
from lightkube.types import PatchType

from ... import API_VERSION
from ...kube.resources import HybridClusterResource
from ...models import HybridCluster, Provider
from ..deps import (
    AuthDep,
    CachesDep,
    CallerDep,
    ClusterReadsDep,
    KubeDep,
    SettingsDep,
    TenantDep,
    kube_call,
)
from ..errors import APIError, from_kube
from ..limits import check_cluster
from ..operations import operation_id
from ..schemas import (
    CLUSTER_RENAMES,
    ClusterCreate,
    ClusterPatch,
    cluster_spec,
    patched_cluster_spec,
)
from ..views import (
    Accepted,
    ClusterDetails,
    ClusterList,
    accepted,
    cluster_status,
)
from ._common import ClusterId, caught_up, cluster_or_404, create_object, errors
from .metrics import current_metrics

router = APIRouter(prefix="/v1/clusters", tags=["clusters"])
PLURAL = HybridCluster.PLURAL


@router.get("", operation_id="listClusters", response_model=ClusterList, responses=errors(403))
async def list_clusters(
    caller: CallerDep, namespace: TenantDep, reads: ClusterReadsDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 10,
    provider: Annotated[Provider | None, Query(description="Only this provider.")] = None,
    region: Annotated[str | None, Query(max_length=64, description="Only this region.")] = None,
    status: Annotated[str | None, Query(max_length=16, description="Only this status, e.g. "
                                        "active.")] = None,
) -> Response:
    await reads.auth.require(caller, "list", PLURAL, namespace)
    # The body is the ClusterList (response_model documents it) assembled from summaries the
    # model validated when each cluster version was first listed (listing.py): returned as
    # bytes, FastAPI does not validate and serialise the same page again.
    body = reads.caches.cluster_pages.page(namespace, page, per_page, status=status, region=region,
                                     provider=provider.value if provider else None)
    return Response(body, media_type="application/json")


@router.post("", operation_id="createCluster", status_code=201, response_model=Accepted,
             responses=errors(403, 409))
async def create_cluster(body: ClusterCreate, caller: CallerDep, auth: AuthDep,
                         caches: CachesDep, namespace: TenantDep, kube: KubeDep,
                         settings: SettingsDep) -> Accepted:
    await auth.require(caller, "create", PLURAL, namespace)
    spec = cluster_spec(body)
    metadata: dict[str, Any] = {"name": body.name, "namespace": namespace}
    if body.labels:
        metadata["labels"] = body.labels
    manifest = {"apiVersion": API_VERSION, "kind": HybridCluster.KIND, "metadata": metadata,
                "spec": spec}
    check_cluster(caches, settings.tenant_defaults, namespace, body.name, spec)
    return await create_object(kube, caches.clusters, HybridClusterResource, manifest,
                               CLUSTER_RENAMES, settings.consistency_timeout)


@router.get("/{cluster_id}", operation_id="getCluster", response_model=ClusterDetails,
            responses=errors(403, 404))
async def get_cluster(cluster_id: ClusterId, caller: CallerDep, namespace: TenantDep,
                      reads: ClusterReadsDep) -> Response:
    await reads.auth.require(caller, "get", PLURAL, namespace)
    obj = cluster_or_404(reads.caches.clusters, namespace, cluster_id)
    metrics = await current_metrics(reads.scoper, reads.settings, namespace,
                                    cluster_id)  # issue 14
    # The ClusterDetails body (response_model documents it), rendered once per cluster
    # version (listing.py) instead of built, validated and serialised on every request.
    return Response(reads.caches.cluster_pages.details(obj, metrics),
                    media_type="application/json",
                    headers={"ETag": f'"{obj["metadata"]["resourceVersion"]}"'})


def _if_match(value: str | None) -> str | None:
    if value is None:
        return None
    version = value.strip().removeprefix("W/").strip('"')
    if not version.isdigit():
        raise APIError("INVALID_REQUEST", "If-Match must be an ETag from GET",
                       {"field": "If-Match"})
    return version


async def _live(kube: Any, namespace: str, cluster_id: str,
                not_found: APIError) -> dict[str, Any]:
    """The cluster as the apiserver has it now (bypassing this replica's cache)."""
    try:
        fresh = await kube_call(kube.get(HybridClusterResource, cluster_id, namespace=namespace))
    except ApiError as exc:
        raise from_kube(exc, not_found=not_found) from exc
    obj: dict[str, Any] = fresh.to_dict()
    return obj


@router.patch("/{cluster_id}", operation_id="updateCluster", response_model=Accepted,
              responses=errors(403, 404, 409))
async def update_cluster(
    cluster_id: ClusterId, body: ClusterPatch, response: Response, caller: CallerDep,
    auth: AuthDep, caches: CachesDep, namespace: TenantDep, kube: KubeDep, settings: SettingsDep,
    if_match: Annotated[str | None, Header(description="ETag (resourceVersion) from GET; a "
                                           "stale one is a 409.", max_length=64)] = None,
) -> Accepted:
    await auth.require(caller, "patch", PLURAL, namespace)
    wanted = _if_match(if_match)
    current = cluster_or_404(caches.clusters, namespace, cluster_id)
    if body.name is not None and body.name != cluster_id:
        raise APIError("INVALID_REQUEST", "name: the name is immutable", {"field": "name"})
    not_found = APIError("CLUSTER_NOT_FOUND", f"Cluster with ID '{cluster_id}' not found",
                         {"cluster_id": cluster_id, "available_clusters": []})
    if wanted is not None and wanted != current["metadata"]["resourceVersion"]:
        current = await _live(kube, namespace, cluster_id, not_found)
        if wanted != current["metadata"]["resourceVersion"]:
            raise APIError("CONFLICT", "the object was changed meanwhile; re-read it and retry",
                           {"reason": "stale"})
    for attempt in range(2):
        patch: dict[str, Any] = {
            "metadata": {"resourceVersion": current["metadata"]["resourceVersion"]},
            "spec": patched_cluster_spec(current["spec"], body)}
        check_cluster(caches, settings.tenant_defaults, namespace, cluster_id, patch["spec"],
                      current)
        if body.labels is not None:
            old = current["metadata"].get("labels") or {}
            patch["metadata"]["labels"] = {**{k: None for k in old}, **body.labels}
        try:
            updated = await kube_call(kube.patch(HybridClusterResource, cluster_id, patch,
                                                 namespace=namespace,
                                                 patch_type=PatchType.MERGE))
            break
        except ApiError as exc:
            if exc.status.code == 409 and wanted is None and attempt == 0:
                # Our cache was behind; redo the merge on the live object (never blind).
                current = await _live(kube, namespace, cluster_id, not_found)
                continue
            raise from_kube(exc, renames=CLUSTER_RENAMES, not_found=not_found) from exc
    obj = updated.to_dict()
    await caught_up(caches.clusters, obj, settings.consistency_timeout)
    response.headers["ETag"] = f'"{obj["metadata"]["resourceVersion"]}"'
    changed = obj["metadata"].get("generation") != current["metadata"].get("generation")
    return accepted(obj, "updating" if changed else cluster_status(obj), operation_id(obj))


@router.delete("/{cluster_id}", operation_id="deleteCluster", status_code=202,
               response_model=Accepted, responses=errors(403, 404))
async def delete_cluster(cluster_id: ClusterId, caller: CallerDep, auth: AuthDep,
                         caches: CachesDep, namespace: TenantDep, kube: KubeDep,
                         settings: SettingsDep) -> Accepted:
    await auth.require(caller, "delete", PLURAL, namespace)
    current = cluster_or_404(caches.clusters, namespace, cluster_id)
    try:
        await kube_call(kube.delete(HybridClusterResource, cluster_id, namespace=namespace))
    except ApiError as exc:
        raise from_kube(exc, not_found=APIError(
            "CLUSTER_NOT_FOUND", f"Cluster with ID '{cluster_id}' not found",
            {"cluster_id": cluster_id, "available_clusters": []})) from exc

    def deletion_seen() -> bool:
        seen = caches.clusters.get(namespace, cluster_id)
        return seen is None or bool(seen["metadata"].get("deletionTimestamp"))

    await caches.clusters.wait_until(deletion_seen, settings.consistency_timeout)
    return accepted(current, "deleting", operation_id(current, delete=True))

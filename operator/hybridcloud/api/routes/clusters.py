"""/v1/clusters: HybridCluster objects in the caller's namespace."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from ...kube.resources import HybridClusterResource
from ..deps import AuthDep, CallerDep
from ..views import ClusterList, cluster_summary

router = APIRouter(prefix="/v1/clusters", tags=["clusters"])


@router.get("", operation_id="listClusters", response_model=ClusterList)
async def list_clusters(
    request: Request, caller: CallerDep, auth: AuthDep,
    namespace: Annotated[str | None, Query(description="Tenant namespace; defaults to the "
                                           "caller's own.")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 10,
) -> ClusterList:
    target = namespace or caller.home_namespace
    await auth.require(caller, "list", HybridClusterResource._api_info.plural, target)
    objects = [obj.to_dict() async for obj in request.app.state.kube.list(
        HybridClusterResource, namespace=target)]
    objects.sort(key=lambda o: (o["metadata"].get("creationTimestamp", ""), o["metadata"]["name"]))
    start = (page - 1) * per_page
    return ClusterList(clusters=[cluster_summary(o) for o in objects[start:start + per_page]],
                       total=len(objects), page=page, per_page=per_page)

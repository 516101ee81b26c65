"""Applications: every deploy becomes a MultiClusterApplication in the tenant namespace.

* ``POST /v1/clusters/{cluster_id}/applications`` — a MultiClusterApplication with one placement
  entry (that cluster); the body's ``namespace`` is the target namespace on the member.
* ``GET /v1/clusters/{cluster_id}/applications`` — applications placed on that cluster
  (explicitly, or by a placement policy as the status reports), with that cluster's delivery
  state from ``status.deployments[]``.
* ``POST /v1/multi-cluster/applications`` — explicit ``clusters`` and/or a ``placement_policy``.

The application ID is the MultiClusterApplication's name, unique per tenant namespace: deploying a
second application with the same name (to any cluster) is a 409 CONFLICT.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from ... import API_VERSION
from ...kube.resources import MultiClusterApplicationResource
from ...models import HybridCluster, MultiClusterApplication
from ..deps import (
    AuthDep,
    Authenticator,
    CachesDep,
    Caller,
    CallerDep,
    KubeDep,
    SettingsDep,
    TenantDep,
)
from ..errors import APIError
from ..schemas import APPLICATION_RENAMES, ApplicationDeploy, MultiClusterDeploy, application_spec
from ..views import Accepted, ApplicationList, application_summary, placed_on
from ._common import ClusterId, cluster_or_404, create_object, errors, page_of

router = APIRouter(tags=["applications"])
PLURAL = MultiClusterApplication.PLURAL
SECRET_FIELD = "source.secret_name"  # noqa: S105  (a field name, not a secret)


async def _may_use_secret(auth: Authenticator, caller: Caller, namespace: str,
                          body: ApplicationDeploy) -> None:
    """The operator reads ``source.secret_name`` with its own rights and sends the token to the
    repository's host, so the caller must be allowed to read that Secret itself: without this a
    caller who may only create applications could send any Secret of the namespace anywhere."""
    name = body.source.secret_name
    if name is None:
        return
    if not await auth.allowed(caller, "get", "secrets", namespace, name=name, group=""):
        raise APIError("FORBIDDEN", f"{SECRET_FIELD}: {caller.username} may not get Secret "
                       f"{name!r} in namespace {namespace!r}, so it cannot be used as the "
                       "application's credentials",
                       {"field": SECRET_FIELD, "verb": "get", "resource": "secrets",
                        "namespace": namespace})


def _manifest(namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": MultiClusterApplication.KIND,
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


@router.post("/v1/clusters/{cluster_id}/applications", operation_id="deployApplication",
             status_code=201, response_model=Accepted, responses=errors(403, 404, 409))
async def deploy_application(cluster_id: ClusterId, body: ApplicationDeploy, caller: CallerDep,
                             auth: AuthDep, caches: CachesDep, namespace: TenantDep,
                             kube: KubeDep, settings: SettingsDep) -> Accepted:
    await auth.require(caller, "create", PLURAL, namespace)
    await auth.require(caller, "get", HybridCluster.PLURAL, namespace)
    cluster_or_404(caches.clusters, namespace, cluster_id)
    spec = application_spec(body, [{"cluster": cluster_id}],
                            allow_local_sources=settings.allow_local_sources)
    await _may_use_secret(auth, caller, namespace, body)
    return await create_object(kube, caches.applications, MultiClusterApplicationResource,
                               _manifest(namespace, body.name, spec), APPLICATION_RENAMES,
                               settings.consistency_timeout)


@router.get("/v1/clusters/{cluster_id}/applications", operation_id="listApplications",
            response_model=ApplicationList, responses=errors(403, 404))
async def list_applications(
    cluster_id: ClusterId, caller: CallerDep, auth: AuthDep, caches: CachesDep,
    namespace: TenantDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 10,
    status: Annotated[str | None, Query(max_length=16, description="Only this status, e.g. "
                                        "healthy.")] = None,
) -> ApplicationList:
    await auth.require(caller, "list", PLURAL, namespace)
    await auth.require(caller, "get", HybridCluster.PLURAL, namespace)
    cluster_or_404(caches.clusters, namespace, cluster_id)
    apps = [application_summary(a, cluster_id) for a in caches.applications.items(namespace)
            if placed_on(a, cluster_id)]
    if status is not None:
        apps = [a for a in apps if a.status == status.lower()]
    return ApplicationList(applications=page_of(apps, page, per_page), total=len(apps),
                           page=page, per_page=per_page)


@router.post("/v1/multi-cluster/applications", operation_id="deployMultiClusterApplication",
             status_code=201, response_model=Accepted, responses=errors(403, 404, 409))
async def deploy_multi_cluster(body: MultiClusterDeploy, caller: CallerDep, auth: AuthDep,
                               caches: CachesDep, namespace: TenantDep, kube: KubeDep,
                               settings: SettingsDep) -> Accepted:
    await auth.require(caller, "create", PLURAL, namespace)
    if body.clusters:
        await auth.require(caller, "get", HybridCluster.PLURAL, namespace)
    for entry in body.clusters:
        cluster_or_404(caches.clusters, namespace, entry.cluster_id)
    if not body.clusters and body.placement_policy is None:
        raise APIError("INVALID_REQUEST", "clusters: list clusters or give a placement_policy",
                       {"field": "clusters"})
    placement = [{"cluster": c.cluster_id, "components": c.components, "values": c.values}
                 for c in body.clusters]
    spec = application_spec(body, placement, body.placement_policy,
                            allow_local_sources=settings.allow_local_sources)
    # The body is valid before we ask whether the caller may read the Secret it names.
    await _may_use_secret(auth, caller, namespace, body)
    return await create_object(kube, caches.applications, MultiClusterApplicationResource,
                               _manifest(namespace, body.name, spec), APPLICATION_RENAMES,
                               settings.consistency_timeout)

"""/v1/clusters/{cluster_id}/workloads: live objects on the member cluster itself.

Read and written on the member through the platform's copy of its credential (see
``member.py``; never the tenant's ``<cluster>-kubeconfig``). The scale path is the contract's
``…/{workload_type}/{namespace}/{name}/scale``; its namespace segment is named
``workload_namespace`` here only because ``namespace`` is the tenant query parameter.
Access is Kubernetes RBAC on the management cluster, on the virtual subresource
``hybridclusters/workloads`` of the cluster in the tenant namespace: ``get`` to list,
``update`` to scale (a role granting ``hybridclusters`` alone does not reach into members).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment, ReplicaSet, StatefulSet
from lightkube.resources.core_v1 import Pod, Service
from lightkube.types import PatchType
from pydantic import BaseModel

from ...models import ClusterPhase, HybridCluster
from ...models.common import DNS_LABEL, DNS_SUBDOMAIN
from ...reconcile.placement import serving
from ..deps import AuthDep, Caches, CachesDep, CallerDep, MembersDep, TenantDep
from ..errors import APIError, from_kube
from ..member import MemberClients, member_call
from ..schemas import ScaleRequest
from ._common import ClusterId, cluster_or_404, errors

router = APIRouter(prefix="/v1/clusters/{cluster_id}/workloads", tags=["workloads"])
Name = Annotated[str, Path(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)]


class WorkloadType(StrEnum):
    DEPLOYMENTS = "deployments"
    STATEFULSETS = "statefulsets"
    REPLICASETS = "replicasets"


_KINDS: dict[WorkloadType, Any] = {WorkloadType.DEPLOYMENTS: Deployment,
                                   WorkloadType.STATEFULSETS: StatefulSet,
                                   WorkloadType.REPLICASETS: ReplicaSet}


class Replicas(BaseModel):
    desired: int
    ready: int
    available: int


class DeploymentOut(BaseModel):
    name: str
    namespace: str
    replicas: Replicas
    image: str | None
    status: str


class PortOut(BaseModel):
    port: int
    target_port: int | str | None
    protocol: str


class ServiceOut(BaseModel):
    name: str
    namespace: str
    type: str
    cluster_ip: str | None
    ports: list[PortOut]


class PodOut(BaseModel):
    name: str
    namespace: str
    status: str
    ready: bool
    node: str | None
    ip: str | None


class Workloads(BaseModel):
    deployments: list[DeploymentOut]
    services: list[ServiceOut]
    pods: list[PodOut]


class WorkloadsResponse(BaseModel):
    workloads: Workloads


class ScaleResult(BaseModel):
    name: str
    namespace: str
    workload_type: str
    replicas: Replicas
    status: str


def _replicas(obj: Any) -> Replicas:
    spec, status = obj.spec, obj.status
    return Replicas(desired=spec.replicas if spec.replicas is not None else 1,
                    ready=(status.readyReplicas or 0) if status else 0,
                    available=(getattr(status, "availableReplicas", None) or 0) if status else 0)


def _workload_status(obj: Any) -> str:
    replicas = _replicas(obj)
    conditions = (obj.status.conditions or []) if obj.status else []
    if any(c.type == "Progressing" and c.status == "False" for c in conditions):
        return "failed"
    if replicas.ready >= replicas.desired and replicas.available >= replicas.desired:
        return "ready"
    return "progressing"


def _deployment(obj: Any) -> DeploymentOut:
    containers = obj.spec.template.spec.containers if obj.spec.template.spec else []
    return DeploymentOut(name=obj.metadata.name, namespace=obj.metadata.namespace,
                         replicas=_replicas(obj), image=containers[0].image if containers else None,
                         status=_workload_status(obj))


def _service(obj: Any) -> ServiceOut:
    spec = obj.spec
    return ServiceOut(
        name=obj.metadata.name, namespace=obj.metadata.namespace, type=spec.type or "ClusterIP",
        cluster_ip=spec.clusterIP,
        ports=[PortOut(port=p.port, target_port=p.targetPort, protocol=p.protocol or "TCP")
               for p in spec.ports or []])


def _pod(obj: Any) -> PodOut:
    status = obj.status
    conditions = (status.conditions or []) if status else []
    return PodOut(name=obj.metadata.name, namespace=obj.metadata.namespace,
                  status=(status.phase if status and status.phase else "Unknown"),
                  ready=any(c.type == "Ready" and c.status == "True" for c in conditions),
                  node=obj.spec.nodeName if obj.spec else None,
                  ip=status.podIP if status else None)


async def _member(members: MemberClients, caches: Caches, namespace: str,
                  cluster_id: str) -> Any:
    cluster = cluster_or_404(caches.clusters, namespace, cluster_id)
    phase = (cluster.get("status") or {}).get("phase") or ClusterPhase.PENDING
    if not serving(phase):
        raise APIError("CONFLICT", f"cluster {cluster_id!r} is {phase.lower()};"
                       " workloads are available once it is active",
                       {"cluster_id": cluster_id, "status": phase.lower()})
    return await members.client(namespace, cluster_id, cluster["metadata"]["uid"])


@router.get("", operation_id="getWorkloads", response_model=WorkloadsResponse,
            responses=errors(403, 404, 409))
async def get_workloads(
    cluster_id: ClusterId, caller: CallerDep, auth: AuthDep, caches: CachesDep,
    namespace: TenantDep, members: MembersDep,
    workload_namespace: Annotated[str | None, Query(
        max_length=63, pattern=DNS_LABEL,
        description="Only this namespace of the member cluster.")] = None,
) -> WorkloadsResponse:
    await auth.require(caller, "get", HybridCluster.PLURAL, namespace, name=cluster_id,
                       subresource="workloads")
    member = await _member(members, caches, namespace, cluster_id)
    within = members.timeout
    where = workload_namespace or "*"

    async def listed(kind: Any) -> list[Any]:
        async def collect() -> list[Any]:
            return [obj async for obj in member.list(kind, namespace=where)]
        items: list[Any] = await member_call(collect(), cluster_id, within)
        items.sort(key=lambda o: (o.metadata.namespace, o.metadata.name))
        return items

    return WorkloadsResponse(workloads=Workloads(
        deployments=[_deployment(d) for d in await listed(Deployment)],
        services=[_service(s) for s in await listed(Service)],
        pods=[_pod(p) for p in await listed(Pod)]))


@router.patch("/{workload_type}/{workload_namespace}/{name}/scale", operation_id="scaleWorkload",
              response_model=ScaleResult, responses=errors(403, 404, 409))
async def scale_workload(
    cluster_id: ClusterId, workload_type: WorkloadType,
    workload_namespace: Annotated[str, Path(min_length=1, max_length=63, pattern=DNS_LABEL,
                                            description="Namespace on the member cluster.")],
    name: Name, body: ScaleRequest, caller: CallerDep, auth: AuthDep, caches: CachesDep,
    namespace: TenantDep, members: MembersDep,
) -> ScaleResult:
    await auth.require(caller, "update", HybridCluster.PLURAL, namespace, name=cluster_id,
                       subresource="workloads")
    member = await _member(members, caches, namespace, cluster_id)
    within = members.timeout
    kind = _KINDS[workload_type]
    try:
        await member_call(member.patch(kind.Scale, name, {"spec": {"replicas": body.replicas}},
                                       namespace=workload_namespace,
                                       patch_type=PatchType.MERGE), cluster_id, within)
        obj = await member_call(member.get(kind, name, namespace=workload_namespace), cluster_id,
                                within)
    except ApiError as exc:
        raise from_kube(exc, not_found=APIError(
            "WORKLOAD_NOT_FOUND", f"{workload_type} {workload_namespace}/{name} not found on "
            f"cluster {cluster_id!r}", {"cluster_id": cluster_id, "workload_type": workload_type,
                                        "namespace": workload_namespace, "name": name})) from exc
    return ScaleResult(name=name, namespace=workload_namespace, workload_type=workload_type,
                       replicas=_replicas(obj), status=_workload_status(obj))

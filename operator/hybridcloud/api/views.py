"""Custom resources → the contract's REST shapes (snake_case, lower-case status words).

IDs are the objects' names (stable, what ``kubectl get`` shows). Fields beyond the contract's
(``namespace``, ``labels``…) are additions; none of the contract's are left out.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ..models import ClusterPhase, DeploymentState
from .errors import snake


class NodeSummary(BaseModel):
    total: int = 0
    ready: int = 0
    master: int = 0
    worker: int = 0


class ClusterSummary(BaseModel):
    id: str = Field(description="Cluster ID (the HybridCluster name).")
    name: str
    namespace: str = Field(description="Tenant namespace holding the cluster.")
    provider: str
    region: str | None
    status: str = Field(description="pending, creating, active, updating, deleting or failed.")
    version: str
    nodes: NodeSummary
    created_at: str | None
    updated_at: str | None


class ClusterList(BaseModel):
    clusters: list[ClusterSummary]
    total: int
    page: int
    per_page: int


class AutoScalingOut(BaseModel):
    enabled: bool
    min_size: int | None = None
    max_size: int | None = None
    target_cpu: int | None = None


class TaintOut(BaseModel):
    key: str
    value: str | None = None
    effect: str


class NodePoolOut(BaseModel):
    name: str
    size: int
    role: str
    instance_type: str | None = None
    disk_size: int | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    taints: list[TaintOut] = Field(default_factory=list)
    auto_scaling: AutoScalingOut | None = None


class NetworkingOut(BaseModel):
    cluster_cidr: str | None = None
    service_cidr: str | None = None
    cni: str | None = None


class ClusterConfiguration(BaseModel):
    node_pools: list[NodePoolOut]
    networking: NetworkingOut
    addons: list[str]


class NetworkIO(BaseModel):
    ingress: str | None = None
    egress: str | None = None


class ClusterMetrics(BaseModel):
    """Usage figures; null until the observability backend is connected."""

    cpu_usage: str | None = None
    memory_usage: str | None = None
    disk_usage: str | None = None
    network_io: NetworkIO = Field(default_factory=NetworkIO)


class ClusterDetails(ClusterSummary):
    labels: dict[str, str]
    configuration: ClusterConfiguration
    metrics: ClusterMetrics


class Accepted(BaseModel):
    """A write was accepted; follow ``operation_id`` for progress."""

    id: str
    name: str
    namespace: str
    status: str = Field(description="creating, updating or deleting.")
    operation_id: str
    created_at: str | None


class Resources(BaseModel):
    deployments: int = 0
    services: int = 0
    pods: int = 0


class ApplicationSummary(BaseModel):
    id: str = Field(description="Application ID (the MultiClusterApplication name).")
    name: str
    namespace: str = Field(description="Target namespace on the member cluster.")
    status: str = Field(description="healthy, progressing, degraded, failed or pending.")
    sync_status: str = Field(description="pending, progressing, synced, out_of_sync, failed.")
    health_status: str = Field(description="healthy, progressing, degraded, missing, unknown.")
    created_at: str | None
    last_sync: str | None
    revision: str | None = None
    resources: Resources


class ApplicationList(BaseModel):
    applications: list[ApplicationSummary]
    total: int
    page: int
    per_page: int


def _updated_at(obj: dict[str, Any]) -> str | None:
    conditions = (obj.get("status") or {}).get("conditions") or []
    stamps = [c["lastTransitionTime"] for c in conditions if c.get("lastTransitionTime")]
    created: str | None = obj["metadata"].get("creationTimestamp")
    return max(stamps) if stamps else created


def cluster_status(obj: dict[str, Any]) -> str:
    if obj["metadata"].get("deletionTimestamp"):
        return "deleting"
    return str((obj.get("status") or {}).get("phase") or ClusterPhase.PENDING).lower()


def cluster_summary(obj: dict[str, Any]) -> ClusterSummary:
    spec, status, meta = obj["spec"], obj.get("status") or {}, obj["metadata"]
    return ClusterSummary(
        id=meta["name"], name=meta["name"], namespace=meta.get("namespace", ""),
        provider=spec["provider"], region=spec.get("region"), status=cluster_status(obj),
        # Without spec.version, the operator records the provider's default in status.
        version=status.get("version") or spec.get("version") or "",
        nodes=NodeSummary(**(status.get("nodes") or {})),
        created_at=meta.get("creationTimestamp"), updated_at=_updated_at(obj),
    )


def _node_pool(group: dict[str, Any]) -> NodePoolOut:
    scaling = group.get("autoScaling")
    return NodePoolOut(
        name=group["name"], size=group["size"], role=group.get("role", "worker"),
        instance_type=group.get("instanceType"), disk_size=group.get("diskSize"),
        labels=group.get("labels") or {},
        taints=[TaintOut(**t) for t in group.get("taints") or []],
        auto_scaling=AutoScalingOut(
            enabled=scaling.get("enabled", False), min_size=scaling.get("minSize"),
            max_size=scaling.get("maxSize"), target_cpu=scaling.get("targetCPU"))
        if scaling else None)


def cluster_details(obj: dict[str, Any]) -> ClusterDetails:
    spec = obj["spec"]
    networking = spec.get("networking") or {}
    return ClusterDetails(
        **cluster_summary(obj).model_dump(),
        labels=obj["metadata"].get("labels") or {},
        configuration=ClusterConfiguration(
            node_pools=[_node_pool(g) for g in spec.get("nodeGroups") or []],
            networking=NetworkingOut(cluster_cidr=networking.get("clusterCIDR"),
                                     service_cidr=networking.get("serviceCIDR"),
                                     cni=networking.get("cni")),
            addons=list(spec.get("addons") or [])),
        metrics=ClusterMetrics())


def deployment_for(app: dict[str, Any], cluster: str) -> dict[str, Any]:
    for entry in (app.get("status") or {}).get("deployments") or []:
        if entry.get("cluster") == cluster:
            return dict(entry)
    return {}


def placed_on(app: dict[str, Any], cluster: str) -> bool:
    """Explicitly placed there, or placed there by the policy (status says so)."""
    spec, status = app["spec"], app.get("status") or {}
    explicit = {p.get("cluster") for p in spec.get("placement") or []}
    chosen = set(status.get("placedClusters") or []) | {
        d.get("cluster") for d in status.get("deployments") or []}
    return cluster in explicit or cluster in chosen


def application_summary(app: dict[str, Any], cluster: str) -> ApplicationSummary:
    meta, spec = app["metadata"], app["spec"]
    deployment = deployment_for(app, cluster)
    sync = snake(deployment.get("status") or DeploymentState.PENDING)
    health = (deployment.get("health") or "Unknown").lower()
    if meta.get("deletionTimestamp"):
        status = "deleting"
    elif sync == "failed":
        status = "failed"
    elif health in ("degraded", "missing"):
        status = "degraded"
    elif sync == "synced" and health == "healthy":
        status = "healthy"
    elif sync == "pending":
        status = "pending"
    else:
        status = "progressing"
    counts = deployment.get("resources") or {}
    return ApplicationSummary(
        id=meta["name"], name=meta["name"],
        namespace=spec.get("targetNamespace") or meta.get("namespace", ""),
        status=status, sync_status=sync, health_status=health,
        created_at=meta.get("creationTimestamp"), last_sync=deployment.get("lastSync"),
        revision=deployment.get("revision"),
        resources=Resources(**{k: counts.get(k, 0) for k in ("deployments", "services", "pods")}))


def accepted(obj: dict[str, Any], status: str, operation_id: str) -> Accepted:
    meta = obj["metadata"]
    return Accepted(id=meta["name"], name=meta["name"], namespace=meta.get("namespace", ""),
                    status=status, operation_id=operation_id,
                    created_at=meta.get("creationTimestamp"))

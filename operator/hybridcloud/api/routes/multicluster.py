"""/v1/multi-cluster/status: the tenant's fleet at a glance, from the watch caches.

* clusters — healthy: Active; offline: Failed, or a member the health prober finds unreachable
  or without Ready nodes (``Ready=False``, ``MemberUnreachable`` / ``NodesNotReady``);
  degraded: Active/Updating but Ready is not True;
  provisioning (an addition): Pending, Creating or Deleting.
* applications — healthy: Deployed; degraded: Degraded; failed: Failed; progressing (an
  addition): everything still on its way.
* connectivity — ``federation`` is healthy when every active cluster is Ready and degraded
  otherwise; ``inter_cluster_network`` and ``service_mesh`` are ``not_configured`` (the platform
  installs neither yet) rather than an invented "healthy".
* performance — this API's own average response time and throughput over the last minute;
  ``cross_cluster_latency`` is null until the observability backend provides it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from ...conditions import READY, is_true
from ...models import ApplicationPhase, ClusterPhase, HybridCluster, MultiClusterApplication
from ...reconcile.health import unhealthy_since
from ...reconcile.placement import serving
from ..deps import AuthDep, CachesDep, CallerDep, StatsDep, TenantDep
from ._common import errors

router = APIRouter(prefix="/v1/multi-cluster", tags=["multi-cluster"])


class ClusterCounts(BaseModel):
    total: int
    healthy: int
    degraded: int
    offline: int
    provisioning: int


class ApplicationCounts(BaseModel):
    total: int
    healthy: int
    degraded: int
    failed: int
    progressing: int


class Connectivity(BaseModel):
    inter_cluster_network: str
    service_mesh: str
    federation: str


class Performance(BaseModel):
    avg_response_time: str | None
    cross_cluster_latency: str | None
    throughput: str | None


class MultiClusterStatus(BaseModel):
    clusters: ClusterCounts
    applications: ApplicationCounts
    connectivity: Connectivity
    performance: Performance


def _ready(obj: dict[str, Any]) -> bool:
    return is_true((obj.get("status") or {}).get("conditions"), READY)


def cluster_counts(clusters: list[dict[str, Any]]) -> ClusterCounts:
    counts = {"healthy": 0, "degraded": 0, "offline": 0, "provisioning": 0}
    for obj in clusters:
        phase = (obj.get("status") or {}).get("phase") or ClusterPhase.PENDING
        if phase == ClusterPhase.FAILED or unhealthy_since(obj.get("status")) is not None:
            counts["offline"] += 1
        elif serving(phase, bool(obj["metadata"].get("deletionTimestamp"))):
            counts["healthy" if _ready(obj) and phase == ClusterPhase.ACTIVE
                   else "degraded"] += 1
        else:
            counts["provisioning"] += 1
    return ClusterCounts(total=len(clusters), **counts)


def application_counts(apps: list[dict[str, Any]]) -> ApplicationCounts:
    counts = {"healthy": 0, "degraded": 0, "failed": 0, "progressing": 0}
    bucket: dict[str, str] = {ApplicationPhase.DEPLOYED: "healthy",
                              ApplicationPhase.DEGRADED: "degraded",
                              ApplicationPhase.FAILED: "failed"}
    for obj in apps:
        counts[bucket.get((obj.get("status") or {}).get("phase") or "", "progressing")] += 1
    return ApplicationCounts(total=len(apps), **counts)


@router.get("/status", operation_id="getMultiClusterStatus", response_model=MultiClusterStatus,
            responses=errors(403))
async def multi_cluster_status(caller: CallerDep, auth: AuthDep, caches: CachesDep,
                               namespace: TenantDep, stats: StatsDep) -> MultiClusterStatus:
    await auth.require(caller, "list", HybridCluster.PLURAL, namespace)
    await auth.require(caller, "list", MultiClusterApplication.PLURAL, namespace)
    clusters = caches.clusters.items(namespace)
    active = [c for c in clusters if (c.get("status") or {}).get("phase") == ClusterPhase.ACTIVE]
    federation = "unknown" if not active else \
        "healthy" if all(_ready(c) for c in active) else "degraded"
    average, throughput = stats.summary()
    return MultiClusterStatus(
        clusters=cluster_counts(clusters),
        applications=application_counts(caches.applications.items(namespace)),
        connectivity=Connectivity(inter_cluster_network="not_configured",
                                  service_mesh="not_configured", federation=federation),
        performance=Performance(
            avg_response_time=f"{average * 1000:.0f}ms" if average is not None else None,
            cross_cluster_latency=None,
            throughput=f"{throughput:.2f} req/s" if throughput is not None else None))

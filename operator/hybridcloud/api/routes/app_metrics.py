"""``GET /v1/clusters/{cluster_id}/applications/{app_name}/metrics``: one application's current
request rate, error rate, response-time percentiles and container CPU/memory on one cluster.

The application's objects on the member are the Deployments, StatefulSets, DaemonSets and Pods
carrying the delivery engine's label ``platform.example.com/application: <app uid>``; they are
listed with the platform's own member credential (never the tenant's kubeconfig Secret) and turn
into pod selectors (``observability.app_queries``), which the scoper confines to the cluster and
the caller's tenant like every catalogue expression. HTTP figures use the conventional names
``http_requests_total{code}`` and ``http_request_duration_seconds_bucket``; where the app's pods
expose none, the value is ``null`` and ``unavailable`` says why.

Access: ``get`` on the application and on the cluster in the tenant namespace. Unknown cluster
404 ``CLUSTER_NOT_FOUND``; an application not in the tenant or not placed on the cluster 404
``APPLICATION_NOT_FOUND``; Prometheus unset or down, or the member unreachable, 503.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path
from lightkube.resources.apps_v1 import DaemonSet, Deployment, StatefulSet
from lightkube.resources.core_v1 import Pod
from pydantic import BaseModel, Field

from ...delivery.objects import APP_LABEL
from ...models import ClusterPhase, HybridCluster, MultiClusterApplication
from ...models.common import DNS_SUBDOMAIN
from ...observability.app_queries import Workload, application_queries, pod_selectors
from ...observability.prometheus import BackendUnavailableError, QueryRejectedError
from ...reconcile.placement import serving
from ..deps import (
    AuthDep,
    CachesDep,
    CallerDep,
    MembersDep,
    ScoperDep,
    SettingsDep,
    TenantDep,
)
from ..errors import APIError
from ..member import member_call
from ..views import placed_on
from ._common import ClusterId, cluster_or_404, errors
from .metrics import cluster_scope, scoper, unavailable

router = APIRouter(tags=["metrics"])
AppName = Annotated[str, Path(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)]
_KINDS = {"Deployment": Deployment, "StatefulSet": StatefulSet, "DaemonSet": DaemonSet,
          "Pod": Pod}
# Bounds the query text a hostile or huge application could make the API send.
_MAX_WORKLOADS = 200
_NO_WORKLOADS = "the application has no workloads on this cluster"
_NO_HTTP = "the application's pods expose no http_requests_total series"
_NO_HISTOGRAM = "the application's pods expose no http_request_duration_seconds histogram"
_NO_CONTAINERS = "no container metrics of the application's pods were scraped yet"


class ResponseTime(BaseModel):
    p50: str | None
    p95: str | None
    p99: str | None


class ResourceUsage(BaseModel):
    cpu: str | None = Field(description="CPU cores in millicores, e.g. 230m.")
    memory: str | None = Field(description="Working set, e.g. 456Mi.")


class ApplicationMetricValues(BaseModel):
    request_rate: str | None
    error_rate: str | None
    response_time: ResponseTime | None
    resource_usage: ResourceUsage


class ApplicationMetricsResponse(BaseModel):
    application: str
    metrics: ApplicationMetricValues
    unavailable: dict[str, str] = Field(
        default_factory=dict, description="Why a metric is null (metric name → reason).")


def _binary(value: float) -> str:
    for unit, size in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if value >= size:
            return f"{value / size:.0f}{unit}"
    return f"{value:.0f}"


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f}ms" if seconds < 10 else f"{seconds:.1f}s"


def _number(value: float | None, fmt: str) -> str | None:
    # NaN (a histogram with no observations) is "no value", not a number to report.
    return None if value is None or value != value else fmt.format(value)


async def _workloads(members: Any, cluster: dict[str, Any], app_uid: str,
                     cluster_id: str) -> list[Workload]:
    member = await members.client(cluster["metadata"]["namespace"], cluster_id,
                                  cluster["metadata"]["uid"])

    async def listed(kind: str) -> list[Workload]:
        async def collect() -> list[Workload]:
            return [Workload(obj.metadata.namespace, kind, obj.metadata.name)
                    async for obj in member.list(_KINDS[kind], namespace="*",
                                                 labels={APP_LABEL: app_uid})]
        found: list[Workload] = await member_call(collect(), cluster_id, members.timeout)
        return found

    found = await asyncio.gather(*(listed(kind) for kind in _KINDS))
    return sorted(w for group in found for w in group)[:_MAX_WORKLOADS]


@router.get("/v1/clusters/{cluster_id}/applications/{app_name}/metrics",
            operation_id="getApplicationMetrics", response_model=ApplicationMetricsResponse,
            responses=errors(403, 404, 409))
async def application_metrics(
    cluster_id: ClusterId, app_name: AppName, caller: CallerDep, auth: AuthDep,
    caches: CachesDep, namespace: TenantDep, members: MembersDep, settings: SettingsDep,
    prometheus: ScoperDep,
) -> ApplicationMetricsResponse:
    await auth.require(caller, "get", MultiClusterApplication.PLURAL, namespace)
    await auth.require(caller, "get", HybridCluster.PLURAL, namespace)
    cluster = cluster_or_404(caches.clusters, namespace, cluster_id)
    app = caches.applications.get(namespace, app_name)
    if app is None or not placed_on(app, cluster_id):
        raise APIError("APPLICATION_NOT_FOUND", f"no application {app_name!r} on cluster "
                       f"{cluster_id!r}", {"application": app_name, "cluster_id": cluster_id})
    backend = scoper(prometheus)
    phase = (cluster.get("status") or {}).get("phase") or ClusterPhase.PENDING
    if not serving(phase):  # the workloads route's rule: no member to read before it is active
        raise APIError("CONFLICT", f"cluster {cluster_id!r} is {phase.lower()}; application "
                       "metrics are available once it is active",
                       {"cluster_id": cluster_id, "status": phase.lower()})
    workloads = await _workloads(members, cluster, app["metadata"]["uid"], cluster_id)
    queries = application_queries(pod_selectors(workloads))
    scope = cluster_scope(settings, namespace, cluster_id)

    async def latest(expression: str) -> float | None:
        result = await backend.prometheus.query(await backend.scope(expression, scope))
        return float(result[0]["value"][1]) if result else None

    try:
        values = dict(zip(queries, await asyncio.gather(*(latest(q) for q in queries.values())),
                          strict=True))
    except BackendUnavailableError as exc:
        raise unavailable("the metrics backend is unavailable") from exc
    except QueryRejectedError as exc:
        raise unavailable(f"the metrics backend refused the query: {exc.message}") from exc
    return _response(app_name, values, has_workloads=bool(queries))


def _response(app_name: str, values: dict[str, float | None], *,
              has_workloads: bool) -> ApplicationMetricsResponse:
    cpu, memory = values.get("cpu"), values.get("memory")
    quantiles = {key: value for key in ("p50", "p95", "p99")
                 if (value := values.get(key)) is not None and value == value}
    response_time = ResponseTime(**{key: _duration(quantiles[key]) if key in quantiles else None
                                    for key in ("p50", "p95", "p99")}) if quantiles else None
    metrics = ApplicationMetricValues(
        request_rate=_number(values.get("request_rate"), "{:.1f} req/s"),
        error_rate=_number(values.get("error_rate"), "{:.2f}%"),
        response_time=response_time,
        resource_usage=ResourceUsage(
            cpu=None if cpu is None else f"{cpu * 1000:.0f}m",
            memory=None if memory is None else _binary(memory)))
    reasons: dict[str, str] = {}
    if not has_workloads:
        reasons = dict.fromkeys(("request_rate", "error_rate", "response_time",
                                 "resource_usage"), _NO_WORKLOADS)
    else:
        if metrics.request_rate is None:
            reasons["request_rate"] = reasons["error_rate"] = _NO_HTTP
        if response_time is None:
            reasons["response_time"] = _NO_HISTOGRAM
        if cpu is None or memory is None:
            reasons["resource_usage"] = _NO_CONTAINERS
    return ApplicationMetricsResponse(application=app_name, metrics=metrics,
                                      unavailable=reasons)

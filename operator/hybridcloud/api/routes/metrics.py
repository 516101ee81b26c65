"""Cluster metrics from the Prometheus-compatible backend: ``GET /v1/metrics/catalog`` and
``GET /v1/clusters/{cluster_id}/metrics`` (the contract's Metrics API).

Every catalogue expression is confined to the requested cluster *and* the caller's tenant
(``observability.scoping``) before it reaches Prometheus. Parameters are checked here so a bad
one is a 400 naming it: ``start``/``end`` RFC3339 (default: the last hour), ``step`` a Prometheus
duration or seconds (default: one minute, widened to stay within the point limit), ``metrics``
comma-separated catalogue names. A backend that is unset, down or slow is 503.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel

from ...models import HybridCluster
from ...observability.catalog import CATALOG, DEFAULT_METRICS
from ...observability.prometheus import BackendUnavailableError, QueryRejectedError
from ...observability.scoping import Scoper
from ..deps import CallerDep, MetricsBackendsDep, TenantDep
from ..errors import APIError
from ..settings import Settings
from ..views import ClusterMetrics, NetworkIO
from ._common import ClusterId, cluster_or_404, errors

router = APIRouter(tags=["metrics"])

_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?"
                       r"(?:(\d+)ms)?$")
_UNIT_SECONDS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)
_DEFAULT_RANGE = timedelta(hours=1)
_DEFAULT_STEP = 60.0


class CatalogItem(BaseModel):
    name: str
    unit: str
    description: str
    expression: str


class Catalog(BaseModel):
    metrics: list[CatalogItem]


class Series(BaseModel):
    metric: str
    values: list[tuple[str, str]]


class ClusterMetricsResponse(BaseModel):
    metrics: dict[str, Series]


def invalid(field: str, message: str, **details: Any) -> APIError:
    return APIError("INVALID_REQUEST", f"{field}: {message}", {"field": field, **details})


def unavailable(what: str) -> APIError:
    return APIError("SERVICE_UNAVAILABLE", f"{what}; retry later", {"backend": "prometheus"},
                    headers={"Retry-After": "10"})


def scoper(found: Scoper | None) -> Scoper:
    """The app's scoper, or 503 when no Prometheus is configured."""
    if found is None:
        raise unavailable("metrics are not available on this server (no Prometheus configured)")
    return found


def parse_duration(text: str, field: str) -> float:
    """A Prometheus duration (``1h30m``, ``15s``) or a number of seconds."""
    try:
        seconds = float(text)
    except ValueError:
        found = _DURATION.match(text)
        if not text or not found:
            raise invalid(field, f"{text!r} is not a duration such as 15s, 5m or 1h") from None
        seconds = sum(int(part) * unit for part, unit in zip(found.groups(), _UNIT_SECONDS,
                                                             strict=True) if part)
    if not seconds > 0 or seconds != seconds or seconds == float("inf"):
        raise invalid(field, "must be a positive duration")
    return seconds


def parse_time(text: str, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise invalid(field, f"{text!r} is not an RFC3339 time such as "
                      "2025-08-17T10:00:00Z") from None
    if parsed.tzinfo is None:
        raise invalid(field, "needs a time zone (e.g. Z)")
    return parsed


def time_range(start: str | None, end: str | None, step: str | None,
               max_points: int) -> tuple[float, float, float]:
    until = parse_time(end, "end") if end else datetime.now(UTC)
    since = parse_time(start, "start") if start else until - _DEFAULT_RANGE
    if until < since:
        raise invalid("end", "must not be before start")
    span = (until - since).total_seconds()
    if step is None:
        seconds = max(_DEFAULT_STEP, span / max(max_points - 1, 1))
    else:
        seconds = parse_duration(step, "step")
        if span / seconds + 1 > max_points:
            raise invalid("step", f"{int(span / seconds) + 1} points per series exceed the "
                          f"limit of {max_points}; widen step or shorten the range",
                          max_points=max_points)
    return since.timestamp(), until.timestamp(), seconds


def chosen_metrics(names: str | None) -> list[str]:
    if names is None:
        return list(DEFAULT_METRICS)
    chosen = list(dict.fromkeys(n.strip() for n in names.split(",") if n.strip()))
    unknown = [n for n in chosen if n not in CATALOG]
    if not chosen or unknown:
        raise invalid("metrics", f"unknown metric {unknown[0]!r}" if unknown
                      else "name at least one metric", available=sorted(CATALOG))
    return chosen


def rfc3339(timestamp: float) -> str:
    whole = int(timestamp)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    millis = round((timestamp - whole) * 1000)
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


def cluster_scope(settings: Settings, namespace: str, cluster_id: str) -> dict[str, str]:
    return {settings.metrics_tenant_label: namespace, settings.metrics_cluster_label: cluster_id}


@router.get("/v1/metrics/catalog", operation_id="getMetricsCatalog", response_model=Catalog,
            responses=errors())
async def metrics_catalog(caller: CallerDep) -> Catalog:
    return Catalog(metrics=[CatalogItem(name=e.name, unit=e.unit, description=e.description,
                                        expression=e.expression) for e in CATALOG.values()])


@router.get("/v1/clusters/{cluster_id}/metrics", operation_id="getClusterMetrics",
            response_model=ClusterMetricsResponse, responses=errors(403, 404))
async def cluster_metrics(
    cluster_id: ClusterId, caller: CallerDep, namespace: TenantDep, backends: MetricsBackendsDep,
    start: Annotated[str | None, Query(max_length=64, description="RFC3339; default: "
                                       "an hour before end.")] = None,
    end: Annotated[str | None, Query(max_length=64, description="RFC3339; default: now.")
                   ] = None,
    step: Annotated[str | None, Query(max_length=32, description="Resolution, e.g. 15s, 5m.")
                    ] = None,
    metrics: Annotated[str | None, Query(max_length=1024, description="Comma-separated "
                                         "names from GET /v1/metrics/catalog.")] = None,
) -> Response:
    settings = backends.settings
    await backends.auth.require(caller, "get", HybridCluster.PLURAL, namespace)
    cluster_or_404(backends.caches.clusters, namespace, cluster_id)
    since, until, seconds = time_range(start, end, step, settings.metrics_max_points)
    names = chosen_metrics(metrics)
    backend = scoper(backends.scoper)
    scope = cluster_scope(settings, namespace, cluster_id)

    async def one(name: str) -> dict[str, Any]:
        expression = await backend.scope(CATALOG[name].expression, scope)
        result = await backend.prometheus.query_range(expression, since, until, seconds)
        values = result[0]["values"] if result else []
        return {"metric": name, "values": [[rfc3339(float(t)), str(v)] for t, v in values]}

    async def answer() -> bytes:
        series = await asyncio.gather(*(one(name) for name in names))
        # Built here rather than validated again through the response model: a 1 h range at
        # 15 s is hundreds of points per metric (the shape is the model's, see the tests).
        return json.dumps({"metrics": {item["metric"]: item for item in series}},
                          separators=(",", ":")).encode()

    # Access was checked above; the key holds the tenant and cluster, so no other caller's
    # answer can be reused here.
    key = (namespace, cluster_id, tuple(names), since, until, seconds)
    try:
        body = await backends.answers.get(key, answer)
    except BackendUnavailableError as exc:
        raise unavailable("the metrics backend is unavailable") from exc
    except QueryRejectedError as exc:
        # The catalogue's own expressions are valid; a rejection is the backend's limit.
        raise invalid("metrics", f"the backend refused the query: {exc.message}") from exc
    return Response(body, media_type="application/json")


def _binary_size(value: float) -> str:
    for unit, size in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if value >= size:
            return f"{value / size:.0f}{unit}"
    return f"{value:.0f}"


async def current_metrics(backend: Scoper | None, settings: Settings, namespace: str,
                          cluster_id: str) -> ClusterMetrics:
    """The cluster details' ``metrics`` block: the catalogue's latest values, or nulls when no
    Prometheus is configured or it cannot answer (the details themselves never fail for it)."""
    if backend is None:
        return ClusterMetrics()
    scope = cluster_scope(settings, namespace, cluster_id)

    async def latest(name: str) -> float | None:
        expression = await backend.scope(CATALOG[name].expression, scope)
        result = await backend.prometheus.query(expression)
        return float(result[0]["value"][1]) if result else None

    try:
        cpu, memory, egress = await asyncio.gather(
            latest("cpu_usage"), latest("memory_usage"), latest("network_egress"))
    except (BackendUnavailableError, QueryRejectedError):
        return ClusterMetrics()
    return ClusterMetrics(
        cpu_usage=None if cpu is None else f"{cpu:.1f}%",
        memory_usage=None if memory is None else _binary_size(memory),
        network_io=NetworkIO(egress=None if egress is None else
                             f"{egress / 1e6:.2f} MB/s"))

"""FastAPI application factory: caches, middleware, error handlers, probes, metrics, routers.

* ``/healthz`` — the process is alive; ``/readyz`` — every watch cache completed its first LIST
  and its watch is connected (503 otherwise, e.g. while the apiserver is unreachable);
  ``/openapi.json`` — the contract as served, with stable operation IDs and every error
  response documented (the standard error body, never 422); ``/docs`` and ``/redoc`` only with
  ``HYBRIDCLOUD_API_DOCS_ENABLED``.
* ``/metrics`` — Prometheus text. With ``HYBRIDCLOUD_API_METRICS_PORT`` it is served on that port
  only (``metrics_app``, for a scraper the NetworkPolicy admits); otherwise on the main port to
  authenticated callers whom RBAC allows ``get`` on the non-resource URL ``/metrics`` (cache
  sizes and request counts per route are reconnaissance for anyone else).
* Request bodies are bounded before authentication and parsing (``bodylimit.py``).
* Every response carries ``X-Request-ID`` (the caller's, if well-formed, else a new one);
  rate-limited endpoints add ``X-RateLimit-*`` headers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse
from lightkube import AsyncClient, KubeConfig
from lightkube.core.resource import api_info
from lightkube.resources.core_v1 import Secret
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.routing import Route

from ..events.stream import EventHub
from ..events.transitions import APPLICATION_KIND, CLUSTER_KIND
from ..kube.cache import WatchCache, start_all
from ..kube.counted import counted
from ..kube.resources import (
    HybridClusterResource,
    MultiClusterApplicationResource,
    SecurityPolicyResource,
    SecurityScanResource,
    VulnerabilityReportResource,
    WebhookSubscriptionResource,
)
from ..kube.tenants import TenantBook
from ..kube.wire import KubeWire
from ..models import TenantRules
from ..observability.logstore import LogStore
from . import errors
from .bodylimit import BodyLimit
from .deps import Authenticator, Caches, CallerDep
from .hook_replay import RecentPayloads
from .member import MemberClients
from .oauth import CLIENT_LABEL
from .observability import start_observability
from .overload import Admission
from .ratelimit import RateLimiter
from .request_context import RequestContext
from .routes import alert_rules as alert_rules_routes  # metrics and alerting (issue 14)
from .routes import alerts as alerts_routes
from .routes import app_metrics as app_metrics_routes  # application metrics (issue 14)
from .routes import (
    applications,
    clusters,
    events,
    logs,
    multicluster,
    oauth,
    operations,
    scans,
    security,
    webhooks,
    workloads,
)
from .routes import git_hooks as git_hooks_routes  # Git push webhooks (issue 19)
from .routes import metrics as metrics_routes
from .routes import metrics_discovery as metrics_discovery_routes
from .settings import Settings
from .stats import RequestStats

_UNLIMITED = ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/redoc")

REQUESTS = Counter("hybridcloud_api_requests_total", "REST requests by route and status code.",
                   ["method", "route", "code"])
LATENCY = Histogram("hybridcloud_api_request_duration_seconds", "REST request latency.",
                    ["method", "route"])
CACHE_OBJECTS = Gauge("hybridcloud_api_cache_objects", "Objects in the watch cache.",
                      ["resource"])
CACHE_SYNCED = Gauge("hybridcloud_api_cache_synced", "1 when the watch cache is synced.",
                     ["resource"])


def _kube_client(settings: Settings) -> AsyncClient:
    if settings.kubeconfig:
        return counted(AsyncClient(config=KubeConfig.from_file(settings.kubeconfig),
                                   field_manager="hybridcloud-api"))
    return counted(AsyncClient(field_manager="hybridcloud-api"))


def _caches(kube: AsyncClient, settings: Settings) -> Caches:
    return Caches(
        clusters=WatchCache(kube, HybridClusterResource),
        applications=WatchCache(kube, MultiClusterApplicationResource),
        oauth_clients=WatchCache(kube, Secret, namespace=settings.oauth_namespace,
                                 label_selector=f"{CLIENT_LABEL}=true"),
        tenants=TenantBook(kube, settings.tenant_defaults or TenantRules()),
        webhooks=WatchCache(kube, WebhookSubscriptionResource))


def render_metrics(app: Starlette) -> PlainTextResponse:
    """The Prometheus text of ``app`` (the API), with the cache gauges brought up to date."""
    caches: Caches | None = getattr(app.state, "caches", None)
    for cache in caches.all() if caches else ():
        name = api_info(cache.resource).plural
        CACHE_OBJECTS.labels(name).set(len(cache))
        CACHE_SYNCED.labels(name).set(1 if cache.synced else 0)
    return PlainTextResponse(generate_latest().decode(), media_type=CONTENT_TYPE_LATEST)


def server_config(app: Any, host: str, port: int, **options: Any) -> uvicorn.Config:
    """How the API (or ``metrics_app``) is served, by ``__main__`` and the tests alike.

    uvicorn's proxy-header handling is off: it would believe X-Forwarded-For from 127.0.0.1 by
    default (a sidecar on the pod's loopback turns that into "from anyone"); the API decides
    itself from ``HYBRIDCLOUD_API_TRUSTED_PROXIES`` (``proxies.py``)."""
    return uvicorn.Config(app, host=host, port=port, proxy_headers=False, access_log=False,
                          **options)


def metrics_app(api: FastAPI) -> Starlette:
    """``/metrics`` of ``api`` alone, for ``HYBRIDCLOUD_API_METRICS_PORT``."""
    async def metrics(_: Request) -> PlainTextResponse:
        return render_metrics(api)
    return Starlette(routes=[Route("/metrics", metrics)])


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version,
                             description=app.description, routes=app.routes)
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                # Validation failures are 400 INVALID_REQUEST with the standard body.
                operation.get("responses", {}).pop("422", None)
                # Unauthenticated on purpose: the token endpoint and signed Git webhooks.
                if operation.get("operationId") not in ("issueToken", "receiveGitPush"):
                    operation["security"] = [{"bearer": []}]
        components = schema.setdefault("components", {})
        for name in ("HTTPValidationError", "ValidationError"):
            components.get("schemas", {}).pop(name, None)
        components.setdefault("securitySchemes", {})["bearer"] = {
            "type": "http", "scheme": "bearer",
            "description": "A Kubernetes token (ServiceAccount, OIDC) or one from /oauth/token."}
        app.openapi_schema = schema
        return schema
    return build


def create_app(settings: Settings | None = None, client: AsyncClient | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        kube = client or _kube_client(settings)
        app.state.kube = kube
        app.state.authenticator = Authenticator(kube, settings)
        app.state.caches = caches = _caches(kube, settings)
        app.state.event_hub = hub = EventHub(settings.events_history)  # GET /v1/events
        caches.clusters.listeners.append(partial(hub.changed, CLUSTER_KIND))
        caches.applications.listeners.append(partial(hub.changed, APPLICATION_KIND))
        app.state.members = MemberClients(kube, settings.member_timeout,
                                           settings.member_credentials_namespace)
        # Security API (issue 16): SecurityPolicies, read like the other kinds from a watch.
        app.state.security_policies = WatchCache(kube, SecurityPolicyResource)
        # Scans and their vulnerability reports (issue 16, routes/scans.py).
        app.state.security_scans = WatchCache(kube, SecurityScanResource)
        app.state.vulnerability_reports = WatchCache(kube, VulnerabilityReportResource)
        app.state.logs = (LogStore(settings.logs_url, settings.logs_timeout)
                          if settings.logs_url else None)  # logs (issue 15)
        # POST /v1/hooks/git's push record writes (issue 19): same apiserver and credential
        # as `kube`, over aiohttp; connects on the first push.
        app.state.git_hook_wire = KubeWire(kube.config, field_manager="hybridcloud-api",
                                           connections=git_hooks_routes.RECORD_CONNECTIONS)
        await start_all([*caches.all(), app.state.security_policies,
                         app.state.security_scans, app.state.vulnerability_reports],
                        settings.cache_sync_timeout)
        observability = start_observability(app, settings)  # metrics and alerting (issue 14)
        try:
            yield
        finally:
            await observability.aclose()
            await app.state.security_policies.stop()
            await app.state.security_scans.stop()
            await app.state.vulnerability_reports.stop()
            if app.state.logs is not None:
                await app.state.logs.close()
            for cache in caches.all():
                await cache.stop()
            await app.state.members.close()
            await app.state.git_hook_wire.close()
            if client is None:
                await kube.close()

    app = FastAPI(
        title="hybridcloud API",
        version="1.0.0",
        description="Hybrid-cloud cluster and application management. Every resource is a "
        "Kubernetes custom resource; authentication and authorization are Kubernetes'.",
        lifespan=lifespan,
        docs_url="/docs" if settings.docs_enabled else None,
        redoc_url="/redoc" if settings.docs_enabled else None,
    )
    app.state.settings = settings
    app.state.limiter = RateLimiter(settings.rate_limit_window_seconds)
    app.state.stats = RequestStats()
    app.state.git_hook_payloads = RecentPayloads()
    errors.install(app)
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    # Added before the request-context middleware, so it runs inside it and before everything
    # else: routing, authentication, parsing.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes,
                       max_json_depth=settings.max_json_depth)
    # Between the two (issue 19, apiperf): a request refused for overload costs no body read,
    # and its refusal carries the request id and is counted like any other answer.
    app.add_middleware(Admission, max_concurrent=settings.max_concurrent_requests,
                       wait_seconds=settings.admission_wait_seconds, unlimited=_UNLIMITED)

    # Outermost of the two: the body limit's refusals carry the request id it sets.
    app.add_middleware(RequestContext, requests=REQUESTS, latency=LATENCY,
                       stats=app.state.stats, unrecorded=_UNLIMITED)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        caches: Caches = request.app.state.caches
        waiting = [api_info(c.resource).plural for c in caches.all() if not c.synced]
        if waiting:
            return JSONResponse({"status": "not ready", "unsynced": waiting}, status_code=503)
        return JSONResponse({"status": "ok"})

    if not settings.metrics_port:
        @app.get("/metrics", include_in_schema=False)
        async def metrics(request: Request, caller: CallerDep) -> PlainTextResponse:
            if not await request.app.state.authenticator.allowed_path(caller, "get", "/metrics"):
                raise errors.APIError("FORBIDDEN", f"{caller.username} may not get /metrics",
                                      {"verb": "get", "path": "/metrics"})
            return render_metrics(request.app)

    for module in (clusters, applications, workloads, multicluster, operations, oauth, security,
                   scans, webhooks, events, logs, metrics_routes, metrics_discovery_routes,
                   alert_rules_routes, alerts_routes, app_metrics_routes,
                   git_hooks_routes):
        app.include_router(module.router)
    return app

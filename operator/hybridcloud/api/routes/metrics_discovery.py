"""What Prometheus scrapes: an HTTP service-discovery endpoint and a scrape proxy per cluster.

``GET /internal/metrics/targets`` answers Prometheus's ``http_sd_configs`` with one target per
Active cluster of every tenant, labelled with the cluster ID and tenant namespace (the labels
every tenant query is confined to). The target is this API itself: ``GET
/internal/metrics/scrape/{namespace}/{cluster}`` reads the member API server's ``/metrics`` with
the platform's own copy of the member credential (the tenant's kubeconfig Secret is never used,
and no credential is handed to Prometheus). New clusters are scraped without editing files.

Both paths are for the platform's Prometheus only: its bearer token must be allowed ``get`` on
the non-resource URL ``/internal/metrics/*`` by Kubernetes RBAC (a tenant cannot read another
tenant's member metrics through them).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx2
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from lightkube.core.exceptions import ApiError

from ...kube.member_credentials import MemberCredentialError
from ...models.common import DNS_SUBDOMAIN
from ..deps import AuthDep, CachesDep, CallerDep, ScrapeClientsDep, SettingsDep, kube_call
from ..errors import APIError
from ..views import cluster_status

router = APIRouter(prefix="/internal/metrics", include_in_schema=False)
SCRAPE_PATH = "/internal/metrics/scrape"
_NAMESPACE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


async def _require_scraper(request: Request, caller: Any, auth: Any) -> None:
    path = request.url.path
    if not await auth.allowed_path(caller, "get", path):
        raise APIError("FORBIDDEN", f"{caller.username} may not get {path}",
                       {"verb": "get", "path": path})


@router.get("/targets")
async def targets(request: Request, caller: CallerDep, auth: AuthDep,
                  caches: CachesDep, settings: SettingsDep) -> JSONResponse:
    await _require_scraper(request, caller, auth)
    address = settings.metrics_scrape_address or request.url.netloc
    groups = []
    for obj in caches.clusters.items(None):
        if cluster_status(obj) != "active":
            continue
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        groups.append({"targets": [address], "labels": {
            "__scheme__": request.url.scheme,
            "__metrics_path__": f"{SCRAPE_PATH}/{namespace}/{name}",
            settings.metrics_cluster_label: name,
            settings.metrics_tenant_label: namespace,
            "provider": str(obj["spec"].get("provider", "")),
        }})
    return JSONResponse(groups)


@router.get("/scrape/{namespace}/{cluster}")
async def scrape(namespace: str, cluster: str, request: Request, caller: CallerDep,
                 auth: AuthDep, caches: CachesDep, settings: SettingsDep,
                 members: ScrapeClientsDep) -> PlainTextResponse:
    await _require_scraper(request, caller, auth)
    if not re.match(_NAMESPACE, namespace) or not re.match(DNS_SUBDOMAIN, cluster):
        raise APIError("INVALID_REQUEST", "not a cluster", {"field": "cluster"})
    obj = caches.clusters.get(namespace, cluster)
    if obj is None or cluster_status(obj) != "active":
        raise APIError("CLUSTER_NOT_FOUND", f"no Active cluster {namespace}/{cluster}",
                       {"cluster_id": cluster, "available_clusters": []})
    try:
        client = await kube_call(members.get(namespace, cluster, obj["metadata"]["uid"]))
        response = await asyncio.wait_for(client.get("/metrics"), settings.member_timeout)
    except (MemberCredentialError, ApiError, httpx2.HTTPError, TimeoutError) as exc:
        raise APIError("SERVICE_UNAVAILABLE", f"cluster {cluster!r} cannot be scraped now",
                       {"cluster_id": cluster}, headers={"Retry-After": "10"}) from exc
    if response.status_code != 200:
        raise APIError("SERVICE_UNAVAILABLE", f"cluster {cluster!r} answered "
                       f"{response.status_code} for /metrics", {"cluster_id": cluster})
    return PlainTextResponse(response.text,
                             media_type=response.headers.get("content-type", "text/plain"))

"""What Prometheus scrapes: an HTTP service-discovery endpoint and a scrape proxy per cluster.

``GET /internal/metrics/targets`` answers Prometheus's ``http_sd_configs`` with one target per
Active cluster of every tenant, labelled with the cluster ID and tenant namespace (the labels
every tenant query is confined to). The target is this API itself: ``GET
/internal/metrics/scrape/{namespace}/{cluster}`` reads the member API server's ``/metrics`` with
the platform's own copy of the member credential (the tenant's kubeconfig Secret is never used,
and no credential is handed to Prometheus). New clusters are scraped without editing files.

Each cluster also gets one target per node, ``…/scrape/{namespace}/{cluster}/nodes/{node}``
(label ``node``): the node's container resource metrics, read through the member API server's
node proxy with the same platform credential (kubelet ``/metrics/resource``), or on ``local``
members from kwok's simulated kubelet directly, over TLS verified against the member's own CA
(see ``observability.node_metrics`` for why that is safe). Nodes are listed when
Prometheus asks for targets, so nodes added or removed are followed without configuration.

Pods annotated for scraping (``prometheus.io/scrape``, see ``observability.pod_targets``) get
one target each, ``…/scrape/{namespace}/{cluster}/pods/{pod namespace}/{pod}`` (labels
``namespace`` and ``pod``, which the application metrics select on): the pod's own metrics read
through the member API server's pod proxy with the same platform credential. The cluster and
tenant labels are the platform's target labels, so whatever a pod exports lands under its own
cluster (Prometheus renames a scraped label that collides with a target label).

All these paths are for the platform's Prometheus only: its bearer token must be allowed ``get`` on
the non-resource URL ``/internal/metrics/*`` by Kubernetes RBAC (a tenant cannot read another
tenant's member metrics through them).
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import httpx2
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from lightkube.core.exceptions import ApiError

from ...kube.member_credentials import MemberClients, MemberCredentialError
from ...models.common import DNS_SUBDOMAIN
from ...observability.node_metrics import (
    SIMULATED_PROVIDERS,
    UnreadableNodeError,
    kubelet_proxy_path,
    simulated_kubelet_url,
    valid_node_name,
)
from ...observability.pod_targets import PodTarget, pod_proxy_path, pod_target, pod_targets
from ..deps import (
    AuthDep,
    CachesDep,
    CallerDep,
    KubeletClientsDep,
    ScrapeClientsDep,
    SettingsDep,
    kube_call,
)
from ..errors import APIError
from ..settings import Settings
from ..views import cluster_status

ScrapeClients = MemberClients[httpx2.AsyncClient]  # what the deps aliases give the routes

log = logging.getLogger(__name__)
router = APIRouter(prefix="/internal/metrics", include_in_schema=False)
SCRAPE_PATH = "/internal/metrics/scrape"
_NAMESPACE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


async def _require_scraper(request: Request, caller: Any, auth: Any) -> None:
    path = request.url.path
    if not await auth.allowed_path(caller, "get", path):
        raise APIError("FORBIDDEN", f"{caller.username} may not get {path}",
                       {"verb": "get", "path": path})


async def _node_names(members: ScrapeClients, settings: Settings,
                      obj: dict[str, Any]) -> list[str]:
    """The member's node names, or none when it cannot be listed now (its API target still
    stands; the next discovery round tries again)."""
    meta = obj["metadata"]
    try:
        client = await members.get(meta["namespace"], meta["name"], meta["uid"])
        response = await asyncio.wait_for(client.get("/api/v1/nodes"), settings.member_timeout)
        response.raise_for_status()
        items = response.json().get("items") or []
    except (MemberCredentialError, ApiError, httpx2.HTTPError, TimeoutError, ValueError) as exc:
        log.info("nodes of %s/%s not listed for discovery: %s", meta["namespace"],
                 meta["name"], type(exc).__name__)
        return []
    names = [str((item.get("metadata") or {}).get("name")) for item in items]
    return sorted(name for name in names if valid_node_name(name))


async def _scraped_pods(members: ScrapeClients, settings: Settings,
                        obj: dict[str, Any]) -> list[PodTarget]:
    """The member's pods annotated for scraping, or none when they cannot be listed now."""
    meta = obj["metadata"]
    if not _pods_scraped(settings, obj):
        return []
    try:
        client = await members.get(meta["namespace"], meta["name"], meta["uid"])
        response = await asyncio.wait_for(
            client.get("/api/v1/pods", params={"fieldSelector": "status.phase=Running"}),
            settings.member_timeout)
        response.raise_for_status()
        items = response.json().get("items") or []
    except (MemberCredentialError, ApiError, httpx2.HTTPError, TimeoutError, ValueError) as exc:
        log.info("pods of %s/%s not listed for discovery: %s", meta["namespace"],
                 meta["name"], type(exc).__name__)
        return []
    return pod_targets([item for item in items if isinstance(item, dict)])


def _pods_scraped(settings: Settings, obj: dict[str, Any]) -> bool:
    """A `local` member's pods only when the platform allows it: those members share this host,
    so a Pod's reported address (which a tenant with rights on its member can set) is not
    confined to the member's own network."""
    return settings.metrics_scrape_local_pods or \
        str(obj["spec"].get("provider", "")) not in SIMULATED_PROVIDERS


@router.get("/targets")
async def targets(request: Request, caller: CallerDep, auth: AuthDep, caches: CachesDep,
                  settings: SettingsDep, members: ScrapeClientsDep) -> JSONResponse:
    await _require_scraper(request, caller, auth)
    address = settings.metrics_scrape_address or request.url.netloc
    active = [obj for obj in caches.clusters.items(None) if cluster_status(obj) == "active"]
    nodes, pods = await asyncio.gather(
        asyncio.gather(*(_node_names(members, settings, obj) for obj in active)),
        asyncio.gather(*(_scraped_pods(members, settings, obj) for obj in active)))
    groups = []
    for obj, node_names, scraped in zip(active, nodes, pods, strict=True):
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        labels = {"__scheme__": request.url.scheme,
                  settings.metrics_cluster_label: name,
                  settings.metrics_tenant_label: namespace,
                  "provider": str(obj["spec"].get("provider", ""))}
        path = f"{SCRAPE_PATH}/{namespace}/{name}"
        groups.append({"targets": [address], "labels": {**labels, "__metrics_path__": path}})
        groups.extend({"targets": [address], "labels": {
            **labels, "__metrics_path__": f"{path}/nodes/{node}", "node": node}}
            for node in node_names)
        groups.extend({"targets": [address], "labels": {
            **labels, "__metrics_path__": f"{path}/pods/{pod.namespace}/{pod.name}",
            "namespace": pod.namespace, "pod": pod.name}} for pod in scraped)
    return JSONResponse(groups)


def _active_cluster(caches: Any, namespace: str, cluster: str) -> dict[str, Any]:
    if not re.match(_NAMESPACE, namespace) or not re.match(DNS_SUBDOMAIN, cluster):
        raise APIError("INVALID_REQUEST", "not a cluster", {"field": "cluster"})
    obj: dict[str, Any] | None = caches.clusters.get(namespace, cluster)
    if obj is None or cluster_status(obj) != "active":
        raise APIError("CLUSTER_NOT_FOUND", f"no Active cluster {namespace}/{cluster}",
                       {"cluster_id": cluster, "available_clusters": []})
    return obj


def _unscrapable(cluster: str, why: str) -> APIError:
    return APIError("SERVICE_UNAVAILABLE", f"cluster {cluster!r} {why}", {"cluster_id": cluster},
                    headers={"Retry-After": "10"})


async def _read_member(members: ScrapeClients, kubelets: ScrapeClients, settings: Settings,
                       obj: dict[str, Any], path: str,
                       simulated_node: str | None = None) -> PlainTextResponse:
    """``path`` of the member API server as Prometheus text, or 503. With ``simulated_node``,
    ``path`` is only used to read that Node, and the metrics come from its kwok kubelet."""
    meta = obj["metadata"]
    namespace, cluster = meta["namespace"], meta["name"]
    try:
        client = await kube_call(members.get(namespace, cluster, meta["uid"]))
        response = await asyncio.wait_for(client.get(path), settings.member_timeout)
        if simulated_node is not None and response.status_code == 200:
            url = simulated_kubelet_url(response.json())
            direct = await kubelets.get(namespace, cluster, meta["uid"])
            response = await asyncio.wait_for(direct.get(url), settings.member_timeout)
    except (MemberCredentialError, ApiError, httpx2.HTTPError, TimeoutError,
            UnreadableNodeError, ValueError) as exc:
        raise _unscrapable(cluster, "cannot be scraped now") from exc
    if response.status_code != 200:
        raise _unscrapable(cluster, f"answered {response.status_code} for its metrics")
    return PlainTextResponse(response.text,
                             media_type=response.headers.get("content-type", "text/plain"))


@router.get("/scrape/{namespace}/{cluster}")
async def scrape(namespace: str, cluster: str, request: Request, caller: CallerDep,
                 auth: AuthDep, caches: CachesDep, settings: SettingsDep,
                 members: ScrapeClientsDep, kubelets: KubeletClientsDep) -> PlainTextResponse:
    await _require_scraper(request, caller, auth)
    obj = _active_cluster(caches, namespace, cluster)
    return await _read_member(members, kubelets, settings, obj, "/metrics")


@router.get("/scrape/{namespace}/{cluster}/nodes/{node}")
async def scrape_node(namespace: str, cluster: str, node: str, request: Request,
                      caller: CallerDep, auth: AuthDep, caches: CachesDep,
                      settings: SettingsDep, members: ScrapeClientsDep,
                      kubelets: KubeletClientsDep) -> PlainTextResponse:
    await _require_scraper(request, caller, auth)
    obj = _active_cluster(caches, namespace, cluster)
    if not valid_node_name(node):
        raise APIError("INVALID_REQUEST", "not a node name", {"field": "node"})
    if str(obj["spec"].get("provider", "")) in SIMULATED_PROVIDERS:
        return await _read_member(members, kubelets, settings, obj, f"/api/v1/nodes/{node}",
                                  simulated_node=node)
    return await _read_member(members, kubelets, settings, obj, kubelet_proxy_path(node))


@router.get("/scrape/{namespace}/{cluster}/pods/{pod_namespace}/{pod}")
async def scrape_pod(namespace: str, cluster: str, pod_namespace: str, pod: str,
                     request: Request, caller: CallerDep, auth: AuthDep, caches: CachesDep,
                     settings: SettingsDep, members: ScrapeClientsDep,
                     kubelets: KubeletClientsDep) -> PlainTextResponse:
    """The pod's own metrics, read only while the member's Pod is annotated for scraping (the
    annotations are read again now, never taken from the URL)."""
    await _require_scraper(request, caller, auth)
    obj = _active_cluster(caches, namespace, cluster)
    if not re.match(_NAMESPACE, pod_namespace) or not re.match(DNS_SUBDOMAIN, pod):
        raise APIError("INVALID_REQUEST", "not a pod", {"field": "pod"})
    if not _pods_scraped(settings, obj):
        raise APIError("NOT_FOUND", f"pods of cluster {cluster!r} are not scraped",
                       {"cluster_id": cluster})
    meta = obj["metadata"]
    try:
        client = await kube_call(members.get(namespace, cluster, meta["uid"]))
        response = await asyncio.wait_for(
            client.get(f"/api/v1/namespaces/{pod_namespace}/pods/{pod}"), settings.member_timeout)
        body = response.json() if response.status_code == 200 else None
        target = pod_target(body) if isinstance(body, dict) else None
    except (MemberCredentialError, ApiError, httpx2.HTTPError, TimeoutError, ValueError) as exc:
        raise _unscrapable(cluster, "cannot be scraped now") from exc
    if target is None:
        raise APIError("NOT_FOUND", f"no pod {pod_namespace}/{pod} to scrape on cluster "
                       f"{cluster!r}", {"cluster_id": cluster})
    return await _read_member(members, kubelets, settings, obj, pod_proxy_path(target))

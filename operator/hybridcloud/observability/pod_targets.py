"""Which member pods are scraped for their own metrics, and how (pure; no I/O).

Pods opt in with the annotations Prometheus users already put on them: ``prometheus.io/scrape:
"true"``, ``prometheus.io/port`` (required here: the platform never guesses a port),
``prometheus.io/path`` (default ``/metrics``) and ``prometheus.io/scheme`` (``http`` or
``https``). An application's HTTP figures (``http_requests_total``,
``http_request_duration_seconds``) come from these scrapes.

They are read through the member API server's pod proxy
(``/api/v1/namespaces/{ns}/pods/{name}:{port}/proxy{path}``) with the platform's own member
credential, exactly as a node's metrics are: the platform needs no route into the member's pod
network, and the member API server only proxies to the address its Pod reports. Everything here
comes from a member cluster (shared ground a tenant may write), so names, port, path and scheme
are checked before any of them goes into a URL; a pod that fails a check is simply not scraped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SCRAPE_ANNOTATION = "prometheus.io/scrape"
PORT_ANNOTATION = "prometheus.io/port"
PATH_ANNOTATION = "prometheus.io/path"
SCHEME_ANNOTATION = "prometheus.io/scheme"
# Bounds the targets one member can add to each discovery answer (a member is tenant ground).
MAX_POD_TARGETS_PER_CLUSTER = 200
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# A plain path: no query, no fragment, no percent-escapes, no dot segments (nothing that could
# step out of the pod's proxy subresource once the API server cleans the path).
_PATH = re.compile(r"^/[A-Za-z0-9_~/.-]{0,200}$")


@dataclass(frozen=True, order=True)
class PodTarget:
    namespace: str
    name: str
    port: int
    path: str
    scheme: str


def _port(value: object) -> int | None:
    if not isinstance(value, str) or not value.isdigit() or len(value) > 5:
        return None
    port = int(value)
    return port if 0 < port < 65536 else None


def _path(value: object) -> str | None:
    if value is None:
        return "/metrics"
    if not isinstance(value, str) or not _PATH.match(value):
        return None
    return None if any(part in (".", "..") for part in value.split("/")) else value


def pod_target(pod: Mapping[str, Any]) -> PodTarget | None:
    """The scrape target of a Pod object, or None when it is not to be scraped (not annotated,
    not running, or an annotation/name the checks refuse)."""
    meta = pod.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    if annotations.get(SCRAPE_ANNOTATION) != "true":
        return None
    if (pod.get("status") or {}).get("phase") != "Running" or meta.get("deletionTimestamp"):
        return None
    namespace, name = meta.get("namespace"), meta.get("name")
    if not (isinstance(namespace, str) and _NAMESPACE.match(namespace)
            and isinstance(name, str) and _NAME.match(name)):
        return None
    port, path = _port(annotations.get(PORT_ANNOTATION)), _path(annotations.get(PATH_ANNOTATION))
    scheme = annotations.get(SCHEME_ANNOTATION, "http")
    if port is None or path is None or scheme not in ("http", "https"):
        return None
    return PodTarget(namespace, name, port, path, scheme)


def pod_proxy_path(target: PodTarget) -> str:
    """The member API server path that returns the pod's metrics."""
    scheme = "https:" if target.scheme == "https" else ""
    return (f"/api/v1/namespaces/{target.namespace}/pods/{scheme}{target.name}:{target.port}"
            f"/proxy{target.path}")


def pod_targets(pods: list[Mapping[str, Any]]) -> list[PodTarget]:
    """The scrape targets among a member's pods, bounded, in a stable order."""
    found = sorted(t for pod in pods if (t := pod_target(pod)) is not None)
    return found[:MAX_POD_TARGETS_PER_CLUSTER]

"""Probe I/O for member health: ``/readyz`` and node readiness over one connection per member.

A :class:`MemberProbe` is built by :class:`~hybridcloud.kube.member_credentials.MemberClients`
from the platform's copy of the member credential (never the tenant's), so the prober reuses the
credential cache, its rotation and its safety checks. Each probe holds at most one connection
to its member (the HTTP pool is limited to one) and keeps it alive between probes: a fleet of
N members costs N idle connections, not a TLS handshake per probe. ``/readyz`` is asked on every
probe; the node list (the expensive part: a page of full Node objects to parse) only when the
prober asks for it, which it does less often (``health_nodes_interval``), and from the member's
watch cache (``resourceVersion=0``) rather than its etcd.

Errors are reduced to short texts naming the failure class (timeout, refused, HTTP status):
neither the credential nor the member's response body ever reaches a status or a log.
"""

from __future__ import annotations

from typing import Any

import httpx2
from lightkube import KubeConfig
from lightkube.config.client_adapter import user_auth, verify_cluster

from ..reconcile.health import ProbeResult
from .counted import counted_http

_NODES_PAGE = 500
# Idle seconds a member's connection is kept: longer than the gap between two probes (httpx's
# default, 5 s, equals the default interval, so every probe reconnected and, to a real member,
# paid a TLS handshake), shorter than kube-apiserver's own idle timeout (90 s).
KEEPALIVE = 60.0


class MemberProbe:
    def __init__(self, cluster: str, config: KubeConfig, timeout: float = 5.0) -> None:
        """``config`` must come from ``kube.kubeconfig_policy.safe_kube_config``."""
        single = config.get()
        if single is None or single.user is None:
            raise ValueError(f"the credential of cluster {cluster} names no user")
        self.cluster = cluster
        self.requests = 0  # requests sent to the member (the benchmark counts them)
        self._client = counted_http(httpx2.AsyncClient(
            base_url=single.cluster.server.rstrip("/"),
            verify=verify_cluster(single.cluster, single.user, single.abs_file),
            auth=user_auth(single.user), timeout=httpx2.Timeout(timeout),
            limits=httpx2.Limits(max_connections=1, max_keepalive_connections=1,
                                 keepalive_expiry=KEEPALIVE)))

    async def close(self) -> None:
        await self._client.aclose()

    async def probe(self, nodes: bool = True) -> ProbeResult:
        """``/readyz``, then (with ``nodes``) the nodes in pages: reachable when ``/readyz``
        says ok. Without ``nodes`` the result carries no node counts (``nodes_listed`` False)."""
        try:
            self.requests += 1
            ready = await self._client.get("/readyz")
            if ready.status_code != 200:
                return ProbeResult(False, f"/readyz answered HTTP {ready.status_code}")
            if not nodes:
                return ProbeResult(True, None, nodes_listed=False)
            total = ready_count = 0
            params: dict[str, Any] = {"limit": _NODES_PAGE, "resourceVersion": "0"}
            while True:
                self.requests += 1
                page = await self._client.get("/api/v1/nodes", params=params)
                if page.status_code != 200:
                    return ProbeResult(False, f"listing nodes answered HTTP {page.status_code}")
                body = page.json()
                for node in body.get("items") or []:
                    total += 1
                    ready_count += _is_ready(node)
                token = (body.get("metadata") or {}).get("continue")
                if not token:
                    break
                params = {"limit": _NODES_PAGE, "continue": token}
        except httpx2.TimeoutException:
            return ProbeResult(False, "timed out")
        except httpx2.HTTPError as exc:
            return ProbeResult(False, type(exc).__name__)
        except ValueError:
            return ProbeResult(False, "the member answered something that is not JSON")
        return ProbeResult(True, None, total, ready_count)


def _is_ready(node: dict[str, Any]) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

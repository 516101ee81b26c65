"""Probe I/O for member health: ``/readyz`` and node readiness over one connection per member.

A :class:`MemberProbe` is built by :class:`~hybridcloud.kube.member_credentials.MemberClients`
from the platform's copy of the member credential (never the tenant's), so the prober reuses the
credential cache, its rotation and its safety checks. Each probe holds at most one connection
to its member and keeps it alive between probes: a fleet of N members costs N idle connections,
not a TLS handshake per probe. ``/readyz`` is asked on every probe; the node list (the expensive
part: a page of full Node objects to parse) only when the prober asks for it, which it does less
often (``health_nodes_interval``), and from the member's watch cache (``resourceVersion=0``)
rather than its etcd.

The HTTP client is aiohttp, like :mod:`hybridcloud.kube.wire`: profiling the prober at 5,000
members put three quarters of its CPU in httpx/httpcore's per-request machinery, which bounded a
probe round to ~30 s on one core, beyond what the 40 s grace period allows. TLS verification and
the user's credential still come from lightkube's own config helpers (so the prober speaks to
the member exactly as lightkube would); the Authorization header is taken from lightkube's auth
flow once and refreshed through that flow when the member answers 401 (a rotated token).

A member's address is not trusted: redirects are never followed and an answer is read up to a
bound. Errors are reduced to short texts naming the failure class (timeout, refused, TLS, HTTP
status): neither the credential nor the member's response body ever reaches a status or a log.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import httpx2
from lightkube import KubeConfig
from lightkube.config.client_adapter import user_auth, verify_cluster

from ..observability.operator_metrics import rest_request
from ..reconcile.health import ProbeResult
from .wire import auth_headers, proxy_for

_NODES_PAGE = 500
# Idle seconds a member's connection is kept: longer than the gap between two probes (a keep-alive
# equal to the default 5 s interval made every probe reconnect and, to a real member, pay a TLS
# handshake), shorter than kube-apiserver's own idle timeout (90 s).
KEEPALIVE = 60.0
# The most one answer may weigh: a page of 500 Node objects is a few MiB; anything far beyond is
# not a kube-apiserver talking, and must not cost the operator its memory.
MAX_ANSWER_BYTES = 32 * 1024 * 1024


class _UnusableAnswerError(Exception):
    """The member's answer is unusable; the text names why (never quoting the answer)."""


class MemberProbe:
    def __init__(self, cluster: str, config: KubeConfig, timeout: float = 5.0) -> None:
        """``config`` must come from ``kube.kubeconfig_policy.safe_kube_config``."""
        single = config.get()
        if single is None or single.user is None:
            raise ValueError(f"the credential of cluster {cluster} names no user")
        self.cluster = cluster
        self.requests = 0  # requests sent to the member (the benchmark counts them)
        self._base = single.cluster.server.rstrip("/")
        self._ssl = verify_cluster(single.cluster, single.user, single.abs_file)
        self._auth = user_auth(single.user)
        self._headers: dict[str, str] | None = None  # from the auth flow; None: not asked yet
        self._proxy = proxy_for(self._base)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        # Created on first use: a session belongs to the running event loop.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=1, ssl=self._ssl,
                                               keepalive_timeout=KEEPALIVE),
                timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def probe(self, nodes: bool = True) -> ProbeResult:
        """``/readyz``, then (with ``nodes``) the nodes in pages: reachable when ``/readyz``
        says ok. Without ``nodes`` the result carries no node counts (``nodes_listed`` False)."""
        try:
            status, _ = await self._get("/readyz", None)
            if status != 200:
                return ProbeResult(False, f"/readyz answered HTTP {status}")
            if not nodes:
                return ProbeResult(True, None, nodes_listed=False)
            total = ready_count = 0
            params: dict[str, str] = {"limit": str(_NODES_PAGE), "resourceVersion": "0"}
            while True:
                status, payload = await self._get("/api/v1/nodes", params)
                if status != 200:
                    return ProbeResult(False, f"listing nodes answered HTTP {status}")
                body = json.loads(payload)
                if not isinstance(body, dict):
                    raise ValueError("not a list")
                for node in body.get("items") or []:
                    total += 1
                    ready_count += _is_ready(node)
                token = (body.get("metadata") or {}).get("continue")
                if not token:
                    break
                params = {"limit": str(_NODES_PAGE), "continue": str(token)}
        except TimeoutError:  # aiohttp's timeouts are (asyncio's, hence the builtin) TimeoutError
            return ProbeResult(False, "timed out")
        except aiohttp.ClientSSLError:
            return ProbeResult(False, "TLS verification failed")
        except aiohttp.ClientConnectorError:
            return ProbeResult(False, "connection refused or unreachable")
        except aiohttp.ClientError as exc:
            return ProbeResult(False, type(exc).__name__)
        except _UnusableAnswerError as exc:
            return ProbeResult(False, str(exc))
        except (ValueError, AttributeError, TypeError):
            return ProbeResult(False, "the member answered something that is not JSON")
        return ProbeResult(True, None, total, ready_count)

    async def _get(self, path: str, params: dict[str, str] | None) -> tuple[int, bytes]:
        """One GET with the credential; a 401 refreshes it through lightkube's flow once."""
        if self._auth is None:
            return await self._send(path, params, {})
        if self._headers is None:
            flow = self._auth.async_auth_flow(httpx2.Request("GET", self._base + path))
            self._headers = auth_headers(await flow.__anext__())
        status, payload = await self._send(path, params, self._headers)
        if status != 401:
            return status, payload
        flow = self._auth.async_auth_flow(httpx2.Request("GET", self._base + path))
        prepared = await flow.__anext__()
        try:
            prepared = await flow.asend(httpx2.Response(401, request=prepared))
        except StopAsyncIteration:
            self._headers = None  # nothing to refresh: ask the flow afresh next time
            return status, payload
        self._headers = auth_headers(prepared)
        return await self._send(path, params, self._headers)

    async def _send(self, path: str, params: dict[str, str] | None,
                    headers: dict[str, str]) -> tuple[int, bytes]:
        self.requests += 1
        async with self._open().get(self._base + path, params=params, headers=headers,
                                    proxy=self._proxy, allow_redirects=False) as answer:
            rest_request("GET", self._base, answer.status)  # like client-go's request count
            if answer.content_length is not None:
                if answer.content_length > MAX_ANSWER_BYTES:
                    raise _UnusableAnswerError("the member's answer is too large")
                return answer.status, await answer.read()
            chunks, size = [], 0  # chunked: count while reading
            async for chunk in answer.content.iter_chunked(1 << 16):
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    raise _UnusableAnswerError("the member's answer is too large")
                chunks.append(chunk)
            return answer.status, b"".join(chunks)


def _is_ready(node: Any) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


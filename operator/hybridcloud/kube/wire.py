"""A lean JSON client for the operator's frequent writes: status patches, finalizers, Events.

lightkube (on httpx) remains the client for everything else. Profiling the operator converging
a thousand clusters showed more CPU in httpx's connection-pool bookkeeping and anyio's TLS
stream than in everything else the operator does per cluster; aiohttp (already the transport of
kopf's watches in this process) does the same request for a fraction of it. The connection and
credentials come from the same kubeconfig / in-cluster configuration lightkube uses, through
lightkube's own helpers, so both clients always talk to the same apiserver as the same user.

Errors are raised as lightkube's :class:`~lightkube.core.exceptions.ApiError`, so callers
handle one exception type whichever client made the request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import aiohttp
import httpx2
from lightkube import KubeConfig
from lightkube.config.client_adapter import user_auth, verify_cluster
from lightkube.config.kubeconfig import SingleConfig
from lightkube.core.exceptions import ApiError

from ..observability.operator_metrics import rest_request

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"  # server-side apply (JSON is YAML)


class KubeWire:
    def __init__(self, config: SingleConfig | None = None, *, field_manager: str,
                 connections: int = 32, timeout: float = 30.0) -> None:
        config = config or KubeConfig.from_env().get()
        if config is None or config.user is None:
            raise ValueError("no Kubernetes configuration with a user was found")
        self._base = config.cluster.server.rstrip("/")
        self._ssl = verify_cluster(config.cluster, config.user, config.abs_file)
        self._auth = user_auth(config.user)
        self._field_manager = field_manager
        # Proxy settings from the environment, as lightkube's httpx client honours them;
        # resolved once (aiohttp's trust_env re-reads them, and ~/.netrc, on every request).
        self._proxy = proxy_for(self._base)
        self._connections = connections
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        # Created on first use: a session belongs to the running event loop.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections, ssl=self._ssl),
                timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(self, method: str, path: str, body: Any = None, *,
                      content_type: str = JSON, force: bool = False) -> dict[str, Any]:
        """Send one request; returns the decoded JSON answer, raises ApiError on failure.
        ``force``: a server-side apply (``APPLY_PATCH``) that takes over conflicting fields."""
        url = f"{self._base}{path}"
        params = {"fieldManager": self._field_manager} if method in ("POST", "PATCH") else None
        if force and params is not None:
            params["force"] = "true"
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = {"Content-Type": content_type, "Accept": JSON}
        if self._auth is None:
            return await self._send(method, url, params, data, headers)
        # Drive lightkube's httpx auth flow (static token, rotating token file, exec plugin)
        # only for its headers; a 401 lets it refresh the credential once.
        flow = self._auth.async_auth_flow(httpx2.Request(method, url))
        prepared = await flow.__anext__()
        try:
            return await self._send(method, url, params, data,
                                    {**headers, **auth_headers(prepared)})
        except ApiError as exc:
            if exc.status.code != 401:
                raise
            try:
                prepared = await flow.asend(httpx2.Response(401, request=prepared))
            except StopAsyncIteration:
                raise exc from None
            return await self._send(method, url, params, data,
                                    {**headers, **auth_headers(prepared)})

    async def _send(self, method: str, url: str, params: Mapping[str, str] | None,
                    data: bytes | None, headers: Mapping[str, str]) -> dict[str, Any]:
        async with self._open().request(method, url, params=params, data=data,
                                        headers=headers, proxy=self._proxy) as response:
            payload = await response.read()
            rest_request(method, self._base, response.status)
            if response.status >= 400:
                raise _api_error(method, url, response.status, payload)
            answer: dict[str, Any] = json.loads(payload) if payload else {}
            return answer


def proxy_for(url: str) -> str | None:
    """The proxy the environment names for ``url`` (None: connect directly)."""
    parts = urlsplit(url)
    if proxy_bypass(parts.hostname or ""):
        return None
    proxies = getproxies()
    return proxies.get(parts.scheme) or proxies.get("all") or None


def auth_headers(request: httpx2.Request) -> dict[str, str]:
    """The Authorization header a lightkube auth flow put on ``request``, if any."""
    value = request.headers.get("Authorization")
    return {"Authorization": value} if value else {}


def _api_error(method: str, url: str, code: int, payload: bytes) -> ApiError:
    try:
        status = json.loads(payload)
        if not isinstance(status, dict) or status.get("kind") != "Status":
            raise ValueError
    except ValueError:
        status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
                  "message": payload.decode(errors="replace")[:500] or f"HTTP {code}"}
    request = httpx2.Request(method, url)
    return ApiError(request=request,
                    response=httpx2.Response(code, json=status, request=request))


def object_path(api_version: str, plural: str, namespace: str | None, name: str | None = None,
                subresource: str | None = None) -> str:
    """``/apis/<group>/<version>[/namespaces/<ns>]/<plural>[/<name>[/<subresource>]]``."""
    root = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    parts = [root]
    if namespace:
        parts.append(f"/namespaces/{namespace}")
    parts.append(f"/{plural}")
    if name:
        parts.append(f"/{name}")
        if subresource:
            parts.append(f"/{subresource}")
    return "".join(parts)

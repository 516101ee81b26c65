"""A small async client for a Prometheus-compatible query API (Prometheus, Thanos, Mimir,
VictoriaMetrics) and for Prometheus's parser.

Failures are sorted for the API: the backend unreachable, timing out or answering 5xx is
:class:`BackendUnavailableError` (503 to the caller, never a 500); a query Prometheus rejects is
:class:`QueryRejectedError` with Prometheus's message (which carries the position, ``1:7: parse
error: …``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import aiohttp

_POSITION = re.compile(r"\b(\d+):(\d+): parse error")


class BackendUnavailableError(Exception):
    """The metrics or alerting backend cannot answer now."""


@dataclass
class QueryRejectedError(Exception):
    message: str

    @property
    def position(self) -> str | None:
        """``line:column`` of a parse error, when Prometheus reported one."""
        found = _POSITION.search(self.message)
        return f"{found.group(1)}:{found.group(2)}" if found else None


class PrometheusClient:
    """On aiohttp rather than httpx: profiling the metrics benchmark showed about 40% of the
    API's busy time inside httpx/httpcore for each query (their per-request pool bookkeeping,
    and an import attempt of an absent async library on every request); aiohttp's keep-alive
    client costs a fraction of that, which is most of what a metrics request does."""

    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        # Created on first use: a session belongs to the event loop that runs the requests.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, trust_env=False,
                connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=30))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _send(self, method: str, path: str,
                    params: dict[str, str] | None = None) -> tuple[int, bytes]:
        try:
            async with self._http().request(method, f"{self.base_url}{path}",
                                            data=params) as response:
                return response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise BackendUnavailableError(f"Prometheus at {self.base_url} is unreachable") from exc

    async def _call(self, path: str, params: dict[str, str]) -> Any:
        status, content = await self._send("POST", path, params)
        if status >= 500 or status == 429:
            raise BackendUnavailableError(f"Prometheus answered {status}")
        try:
            body = json.loads(content)
        except ValueError as exc:
            raise BackendUnavailableError("Prometheus answered something that is not JSON") from exc
        if not isinstance(body, dict):
            raise BackendUnavailableError("Prometheus answered something that is not an object")
        if body.get("status") != "success":
            if body.get("errorType") in ("bad_data", "execution") or status in (400, 422):
                message = str(body.get("error", "query rejected"))
                raise QueryRejectedError(message.removeprefix('invalid parameter "query": '))
            raise BackendUnavailableError(f"Prometheus error: {body.get('errorType')}")
        return body.get("data")

    async def parse(self, expression: str) -> Any:
        """The AST of ``expression`` (Prometheus's own parser), or :class:`QueryRejectedError`."""
        return await self._call("/api/v1/parse_query", {"query": expression})

    async def query_range(self, expression: str, start: float, end: float,
                          step: float) -> list[dict[str, Any]]:
        data = await self._call("/api/v1/query_range", {
            "query": expression, "start": f"{start:.3f}", "end": f"{end:.3f}",
            "step": f"{step:g}"})
        result: list[dict[str, Any]] = data.get("result") or []
        return result

    async def query(self, expression: str, at: float | None = None) -> list[dict[str, Any]]:
        params = {"query": expression}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = await self._call("/api/v1/query", params)
        result: list[dict[str, Any]] = data.get("result") or []
        return result

    async def reload(self) -> None:
        """Re-read rule files (needs ``--web.enable-lifecycle``)."""
        status, _ = await self._send("POST", "/-/reload")
        if status != 200:
            raise BackendUnavailableError(f"Prometheus reload answered {status}")

    async def alerts(self) -> list[dict[str, Any]]:
        """Alerts of the rule evaluator (pending and firing)."""
        status, content = await self._send("GET", "/api/v1/alerts")
        if status != 200:
            raise BackendUnavailableError(f"Prometheus answered {status}")
        try:
            found: list[dict[str, Any]] = (json.loads(content).get("data") or {}).get(
                "alerts") or []
        except (ValueError, AttributeError) as exc:
            raise BackendUnavailableError("Prometheus answered something unexpected") from exc
        return found

"""A small async client for a Prometheus-compatible query API (Prometheus, Thanos, Mimir,
VictoriaMetrics) and for Prometheus's parser.

Failures are sorted for the API: the backend unreachable, timing out or answering 5xx is
:class:`BackendUnavailableError` (503 to the caller, never a 500); a query Prometheus rejects is
:class:`QueryRejectedError` with Prometheus's message (which carries the position, ``1:7: parse
error: …``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

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
    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout)

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(self, path: str, params: dict[str, str]) -> Any:
        try:
            response = await self._http.post(path, data=params)
        except httpx.HTTPError as exc:
            raise BackendUnavailableError(f"Prometheus at {self.base_url} is unreachable") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise BackendUnavailableError(f"Prometheus answered {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise BackendUnavailableError("Prometheus answered something that is not JSON") from exc
        if body.get("status") != "success":
            if body.get("errorType") in ("bad_data", "execution") or response.status_code in (
                    400, 422):
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
        try:
            response = await self._http.post("/-/reload")
        except httpx.HTTPError as exc:
            raise BackendUnavailableError(f"Prometheus at {self.base_url} is unreachable") from exc
        if response.status_code != 200:
            raise BackendUnavailableError(f"Prometheus reload answered {response.status_code}")

    async def alerts(self) -> list[dict[str, Any]]:
        """Alerts of the rule evaluator (pending and firing)."""
        try:
            response = await self._http.get("/api/v1/alerts")
        except httpx.HTTPError as exc:
            raise BackendUnavailableError(f"Prometheus at {self.base_url} is unreachable") from exc
        if response.status_code != 200:
            raise BackendUnavailableError(f"Prometheus answered {response.status_code}")
        found: list[dict[str, Any]] = (response.json().get("data") or {}).get("alerts") or []
        return found

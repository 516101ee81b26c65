"""Alertmanager API v2 client: the active alerts carrying given label values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from .prometheus import BackendUnavailableError


class AlertmanagerClient:
    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout)

    async def close(self) -> None:
        await self._http.aclose()

    async def alerts(self, equal: Mapping[str, str]) -> list[dict[str, Any]]:
        """Active (not silenced/inhibited filtering left to Alertmanager's defaults) alerts
        whose labels equal ``equal``; the filter values are quoted as Alertmanager's matcher
        syntax expects, and checked again on the answer."""
        filters = [f"{name}={_quoted(value)}" for name, value in equal.items()]
        try:
            response = await self._http.get("/api/v2/alerts",
                                             params=[("filter", f) for f in filters])
        except httpx.HTTPError as exc:
            raise BackendUnavailableError(
                f"Alertmanager at {self.base_url} is unreachable") from exc
        if response.status_code != 200:
            raise BackendUnavailableError(f"Alertmanager answered {response.status_code}")
        found: list[dict[str, Any]] = response.json()
        return [a for a in found
                if all((a.get("labels") or {}).get(k) == v for k, v in equal.items())]


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

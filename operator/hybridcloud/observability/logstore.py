"""A small client of VictoriaLogs: JSON-lines ingest, LogsQL queries, forced flush.

Each record the shipper writes has ``_time`` (RFC 3339, nanoseconds), ``_msg`` (the line) and
the fields in :data:`STREAM_FIELDS` plus ``level``. ``tenant`` is the HybridCluster's namespace
(set by the platform, never read from a log line), ``cluster`` its name, ``namespace`` the
member namespace the line comes from.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

STREAM_FIELDS = ("tenant", "cluster", "namespace", "pod", "container", "source")


class LogStoreUnavailableError(Exception):
    """The store did not answer, or answered with a server error."""


class LogStoreRejectedError(Exception):
    """The store refused a request (4xx): a bug on our side, never the caller's input."""


class LogStore:
    def __init__(self, url: str, timeout: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.url, timeout=timeout, transport=transport)

    async def close(self) -> None:
        await self._http.aclose()

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise LogStoreUnavailableError(f"log store unreachable ({type(exc).__name__})") from exc
        if response.status_code >= 500:
            raise LogStoreUnavailableError(f"log store answered HTTP {response.status_code}")
        if response.status_code >= 400:
            raise LogStoreRejectedError(f"log store refused {path}: HTTP {response.status_code}: "
                                   f"{response.text[:300]}")
        return response

    async def ingest(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Write ``records`` in one request; returns how many were sent."""
        lines = [json.dumps(record, ensure_ascii=False, separators=(",", ":"))
                 for record in records]
        if not lines:
            return 0
        await self._send("POST", "/insert/jsonline", params={
            "_stream_fields": ",".join(STREAM_FIELDS), "_time_field": "_time",
            "_msg_field": "_msg"}, content=("\n".join(lines) + "\n").encode(),
            # Not form-encoded: the store would read the body as form fields and drop it.
            headers={"Content-Type": "application/json"})
        return len(lines)

    async def query(self, logsql: str, start: str | None = None,
                    end: str | None = None) -> list[dict[str, Any]]:
        """The rows of a LogsQL query (``start``/``end``: RFC 3339, inclusive)."""
        form = {"query": logsql}
        if start:
            form["start"] = start
        if end:
            form["end"] = end
        response = await self._send("POST", "/select/logsql/query", data=form)
        return [json.loads(line) for line in response.text.splitlines() if line.strip()]

    async def flush(self) -> None:
        """Make everything ingested so far visible to queries."""
        await self._send("GET", "/internal/force_flush")

"""POST /v1/logs/query: the fleet's container logs and Events from the log store (VictoriaLogs).

The caller's query (the contract's language, ``observability.logquery``) is parsed and rendered
as LogsQL by the server, which always adds the tenant scope: a tenant sees only lines shipped
from its own clusters. Access is Kubernetes RBAC on the virtual subresource
``hybridclusters/logs`` in the tenant namespace (verb ``get``). Without a configured store
(``HYBRIDCLOUD_API_LOGS_URL``) and when the store is down the answer is 503.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ...models import HybridCluster
from ...observability.logquery import MAX_QUERY_LENGTH, QuerySyntaxError, parse
from ...observability.logsearch import (
    Cursor,
    InvalidCursorError,
    format_ns,
    parse_rfc3339_ns,
    search,
    to_ns,
)
from ...observability.logstore import LogStore, LogStoreRejectedError, LogStoreUnavailableError
from ..deps import AuthDep, CallerDep, LogStoreDep, SettingsDep, TenantDep
from ..errors import APIError
from ._common import errors

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/logs", tags=["logs"])
DEFAULT_RANGE = timedelta(hours=1)


class Sort(StrEnum):
    DESC = "timestamp:desc"
    ASC = "timestamp:asc"


class LogQuery(BaseModel):
    query: Annotated[str, Field(min_length=1, max_length=MAX_QUERY_LENGTH, description=(
        "field:value terms (level, namespace, pod, container, cluster, source, message), "
        "AND/OR/NOT, parentheses, \"quoted phrases\", * wildcards; bare words match the "
        "message."))]
    start_time: datetime | None = Field(default=None, description="Inclusive; default: an "
                                        "hour before end_time.")
    end_time: datetime | None = Field(default=None, description="Inclusive; default: now.")
    limit: int = Field(default=100, ge=1, description="Lines per page (see the server's "
                       "maximum).")
    sort: Sort = Sort.DESC
    cursor: str | None = Field(default=None, max_length=512,
                               description="next_cursor of the previous page.")


class LogEntry(BaseModel):
    timestamp: str
    level: str
    message: str
    namespace: str
    pod: str
    container: str
    source: str
    cluster: str


class LogQueryResult(BaseModel):
    logs: list[LogEntry]
    total: int
    took: str
    next_cursor: str | None = None


def _store(store: LogStore | None) -> LogStore:
    if store is None:
        raise APIError("SERVICE_UNAVAILABLE", "log queries are not available on this server "
                       "(no log store is configured)")
    return store


def _window(body: LogQuery) -> tuple[int, int]:
    end = body.end_time or datetime.now(UTC)
    start = body.start_time or end - DEFAULT_RANGE
    if start > end:
        raise APIError("INVALID_REQUEST", "end_time: must not be before start_time",
                       {"field": "end_time"})
    return to_ns(start), to_ns(end)


def _entry(row: dict[str, Any]) -> LogEntry:
    # One spelling whatever the store returns: whole seconds bare, else nine digits.
    return LogEntry(timestamp=format_ns(parse_rfc3339_ns(row["_time"])),
                    level=row.get("level", "info"),
                    message=row.get("_msg", ""), namespace=row.get("namespace", ""),
                    pod=row.get("pod", ""), container=row.get("container", ""),
                    source=row.get("source", ""), cluster=row.get("cluster", ""))


@router.post("/query", operation_id="queryLogs", response_model=LogQueryResult,
             responses=errors(403, 503))
async def query_logs(body: LogQuery, caller: CallerDep, auth: AuthDep, namespace: TenantDep,
                     settings: SettingsDep, store: LogStoreDep) -> LogQueryResult:
    started = time.monotonic()
    await auth.require(caller, "get", HybridCluster.PLURAL, namespace, subresource="logs")
    maximum = settings.logs_max_limit
    if body.limit > maximum:
        raise APIError("INVALID_REQUEST", f"limit: must be at most {maximum}",
                       {"field": "limit", "maximum": maximum})
    try:
        node = parse(body.query)
    except QuerySyntaxError as exc:
        raise APIError("INVALID_REQUEST", f"query: {exc}",
                       {"field": "query", "position": exc.position}) from None
    start, end = _window(body)
    try:
        cursor = Cursor.decode(body.cursor) if body.cursor else None
        page = await search(_store(store), namespace, node, body.query, start, end,
                            body.limit, body.sort is Sort.DESC, cursor)
    except InvalidCursorError as exc:
        raise APIError("INVALID_REQUEST", f"cursor: {exc}", {"field": "cursor"}) from None
    except LogStoreUnavailableError as exc:
        raise APIError("SERVICE_UNAVAILABLE", "the log store is unavailable; retry later",
                       headers={"Retry-After": "5"}) from exc
    except LogStoreRejectedError:
        log.exception("the log store refused a generated query (range %s..%s)",
                      format_ns(start), format_ns(end))
        raise
    took = round((time.monotonic() - started) * 1000)
    return LogQueryResult(logs=[_entry(row) for row in page.rows], total=page.total,
                          took=f"{took}ms", next_cursor=page.next_cursor)

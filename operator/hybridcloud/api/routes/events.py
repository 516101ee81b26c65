"""GET /v1/events: the namespace's cluster and application events as Server-Sent Events.

Authorized like the REST reads (``list`` on the kind, per tenant namespace); application events
only reach callers who may list applications. ``clusters`` and ``events`` filter (comma-separated
or repeated). A reconnecting client sends ``Last-Event-ID`` and first receives what it missed
that is still in the bounded history; a client without one asks for that whole history with
``replay=true``. Events come from the one shared hub (``events/stream.py``);
no client opens a watch of its own. A comment line is sent every ``heartbeat`` seconds so
proxies keep the connection open and clients notice a dead one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from ...events.transitions import CLUSTER_KIND, Event
from ...models import HybridCluster, MultiClusterApplication
from ...models.webhook import EventType
from ..deps import AuthDep, CallerDep, EventHubDep, SettingsDep, TenantDep
from ..errors import APIError
from ._common import errors

router = APIRouter(prefix="/v1/events", tags=["events"])


def _names(values: list[str] | None) -> set[str]:
    return {part.strip() for value in values or [] for part in value.split(",") if part.strip()}


def frame(event: Event) -> bytes:
    return (f"id: {event.id}\nevent: {event.type}\n"
            f"data: {json.dumps(event.body(), separators=(',', ':'))}\n\n").encode()


@router.get("", operation_id="streamEvents", responses=errors(403),
            response_class=StreamingResponse)
async def stream_events(
    caller: CallerDep, auth: AuthDep, namespace: TenantDep, settings: SettingsDep,
    hub: EventHubDep,
    clusters: Annotated[list[str] | None, Query(
        max_length=100, description="Only events about these clusters (IDs).")] = None,
    events: Annotated[list[str] | None, Query(
        max_length=20, description="Only these event types, e.g. cluster.ready.")] = None,
    replay: Annotated[bool, Query(
        description="Without Last-Event-ID: first send every event still in the server's "
                    "bounded history, oldest first.")] = False,
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
) -> StreamingResponse:
    await auth.require(caller, "list", HybridCluster.PLURAL, namespace)
    with_apps = await auth.allowed(caller, "list", MultiClusterApplication.PLURAL, namespace)
    wanted_types = _names(events)
    unknown = sorted(wanted_types - {str(e) for e in EventType})
    if unknown:
        raise APIError("INVALID_REQUEST", f"events: unknown event type {unknown[0]!r}",
                       {"field": "events"})
    wanted_clusters = _names(clusters)

    def accepts(event: Event) -> bool:
        if event.namespace != namespace or (event.kind != CLUSTER_KIND and not with_apps):
            return False
        if wanted_types and event.type not in wanted_types:
            return False
        if wanted_clusters:
            touched = {event.data.get("cluster_id"), *(event.data.get("clusters") or [])}
            return bool(touched & wanted_clusters)
        return True

    heartbeat = settings.events_heartbeat_seconds
    listener, missed = hub.connect(accepts, last_event_id, replay=replay)

    async def body() -> AsyncIterator[bytes]:
        try:
            yield b": connected\n\n"
            for old in missed:
                yield frame(old)
            while True:
                try:
                    item = await asyncio.wait_for(listener.queue.get(), heartbeat)
                except TimeoutError:
                    yield b": heartbeat\n\n"
                    continue
                if item is None:  # too slow: resume with Last-Event-ID
                    return
                yield frame(item)
        finally:
            hub.disconnect(listener)

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

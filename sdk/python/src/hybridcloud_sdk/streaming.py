"""``GET /v1/events`` as a stream of typed events: a Server-Sent-Events reader over httpx
streaming, shared by the sync and async clients.

Comment lines (the server's ``: heartbeat``) are skipped. A connection the server or the network
drops is reopened with ``Last-Event-ID`` set to the last event seen, so the server first replays
what was missed (as far as its bounded history reaches). Only the first connection's failure is
raised at once: an API that never answered is an error, a stream that broke is resumed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel

from ._core import AsyncTransport, SyncTransport
from .errors import APIConnectionError, error_from_response

EVENTS_PATH = "/v1/events"


class StreamEvent(BaseModel):
    """One platform event (the same body webhooks receive)."""

    id: str
    event: str
    timestamp: str
    data: dict[str, Any]


class SSEParser:
    """Turns the lines of an ``text/event-stream`` body into events (the WHATWG rules the API
    uses: ``field: value`` lines, a blank line ends a frame, ``:`` starts a comment)."""

    def __init__(self) -> None:
        self._id: str | None = None
        self._type: str | None = None
        self._data: list[str] = []

    def feed(self, line: str) -> StreamEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            self._id = value
        elif name == "event":
            self._type = value
        elif name == "data":
            self._data.append(value)
        return None

    def _dispatch(self) -> StreamEvent | None:
        frame_id, frame_type, data = self._id, self._type, "\n".join(self._data)
        self._id, self._type, self._data = None, None, []
        if not data:
            return None
        body = json.loads(data)
        # The frame's id/event lines win: they are what Last-Event-ID must echo.
        if frame_id:
            body["id"] = frame_id
        if frame_type:
            body["event"] = frame_type
        return StreamEvent.model_validate(body)


@dataclass(frozen=True)
class Subscription:
    """What to ask for and how to behave when the connection drops."""

    clusters: list[str] | None = None
    events: list[str] | None = None
    last_event_id: str | None = None
    # Without last_event_id: first receive the server's whole bounded history. (After a
    # reconnection the Last-Event-ID header wins: the server resumes after it.)
    replay: bool = False
    # Stop (instead of waiting forever) when no line arrived for this many seconds.
    idle_timeout: float | None = None
    max_reconnects: int = 5
    backoff: float = 0.5

    def params(self) -> dict[str, str]:
        chosen = {"clusters": self.clusters, "events": self.events}
        params = {key: ",".join(values) for key, values in chosen.items() if values}
        if self.replay:
            params["replay"] = "true"
        return params

    def headers(self, token: str | None, last_event_id: str | None) -> dict[str, str]:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        return headers

    def timeout(self, base: httpx.Timeout) -> httpx.Timeout:
        # Without an idle limit, the client's timeout must outlast the server's heartbeat
        # interval; a silence longer than that means a dead connection (then resumed).
        read = self.idle_timeout if self.idle_timeout is not None else base.read
        return httpx.Timeout(base.connect, read=read, write=base.write, pool=base.pool)

    def pause(self, failures: int) -> float:
        return float(min(30.0, self.backoff * 2 ** max(0, failures - 1)))


class _Resume:
    """Bookkeeping shared by both readers: the last id, and whether to give up."""

    def __init__(self, subscription: Subscription) -> None:
        self.subscription = subscription
        self.last_event_id = subscription.last_event_id
        self.connected = False
        self.failures = 0

    def seen(self, event: StreamEvent) -> None:
        self.last_event_id, self.failures = event.id, 0

    def broken(self, error: Exception | None) -> None:
        """Called when a connection ended; raises when it is time to give up."""
        self.failures += 1
        if not self.connected or self.failures > self.subscription.max_reconnects:
            raise APIConnectionError(f"the event stream broke: {error or 'closed by the server'}"
                                     ) from error


def subscribe_sync(transport: SyncTransport,
                   subscription: Subscription) -> Iterator[StreamEvent]:
    state = _Resume(subscription)
    while True:
        error: Exception | None = None
        try:
            with transport.http.stream(
                    "GET", EVENTS_PATH, params=subscription.params(),
                    headers=subscription.headers(transport.token(), state.last_event_id),
                    timeout=subscription.timeout(transport.http.timeout)) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_from_response(response)
                state.connected = True
                parser = SSEParser()
                for line in response.iter_lines():
                    event = parser.feed(line)
                    if event is not None:
                        state.seen(event)
                        yield event
        except httpx.ReadTimeout as exc:
            if subscription.idle_timeout is not None:
                return
            error = exc
        except httpx.TransportError as exc:
            error = exc
        state.broken(error)
        time.sleep(subscription.pause(state.failures))


async def subscribe_async(transport: AsyncTransport,
                          subscription: Subscription) -> AsyncIterator[StreamEvent]:
    state = _Resume(subscription)
    while True:
        error: Exception | None = None
        try:
            async with transport.http.stream(
                    "GET", EVENTS_PATH, params=subscription.params(),
                    headers=subscription.headers(await transport.token(),
                                                 state.last_event_id),
                    timeout=subscription.timeout(transport.http.timeout)) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise error_from_response(response)
                state.connected = True
                parser = SSEParser()
                async for line in response.aiter_lines():
                    event = parser.feed(line)
                    if event is not None:
                        state.seen(event)
                        yield event
        except httpx.ReadTimeout as exc:
            if subscription.idle_timeout is not None:
                return
            error = exc
        except httpx.TransportError as exc:
            error = exc
        state.broken(error)
        await asyncio.sleep(subscription.pause(state.failures))

"""Admission under overload: a bounded number of requests in progress, a short wait for a slot,
then a fast 503 instead of a queue that grows for minutes.

The API is one asyncio process. Offered more than its share of the CPU can answer, it used to
accept every connection and interleave all of them, so each request's latency became (requests
in progress) / (answers per second) and the callers' own queues grew without bound: the mixed-
load benchmark measured a p99 of about six minutes at 500 req/s offered. Here at most
``HYBRIDCLOUD_API_MAX_CONCURRENT_REQUESTS`` requests are worked on at once; a request that
finds no slot waits up to ``HYBRIDCLOUD_API_ADMISSION_WAIT_SECONDS`` (first come, first
served), then gets 503 ``SERVICE_UNAVAILABLE`` with ``Retry-After``, the contract's "service
temporarily unavailable", before anything reads its body or asks Kubernetes about its token.

A slot is given back when the response starts (its body is sent outside the limit), so a
long-lived stream (``GET /v1/events``) holds no slot. Probes and ``/metrics`` are never limited:
an overloaded API must still say so to its kubelet and its scraper. 0 switches the limit off.
"""

from __future__ import annotations

import asyncio
import json
import math

from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .request_context import request_id_of

SHED = Counter("hybridcloud_api_requests_shed_total",
               "Requests refused with 503 because every admission slot stayed busy.")


class Admission:
    """ASGI middleware bounding the requests in progress (module docstring)."""

    def __init__(self, app: ASGIApp, *, max_concurrent: int, wait_seconds: float,
                 unlimited: tuple[str, ...]) -> None:
        self.app = app
        self.max_concurrent = max_concurrent
        self.wait_seconds = wait_seconds
        self.unlimited = frozenset(unlimited)
        self.shed = 0  # requests refused since start
        self._slots = asyncio.Semaphore(max(1, max_concurrent))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or self.max_concurrent <= 0
                or scope["path"] in self.unlimited):
            await self.app(scope, receive, send)
            return
        if not await self._admitted():
            await self._refuse(scope, send)
            return
        held = True

        def release() -> None:
            nonlocal held
            if held:
                held = False
                self._slots.release()

        async def send_releasing(message: Message) -> None:
            if message["type"] == "http.response.start":
                release()
            await send(message)

        try:
            await self.app(scope, receive, send_releasing)
        finally:
            release()

    async def _admitted(self) -> bool:
        if not self._slots.locked():  # a free slot and nobody waiting before us
            await self._slots.acquire()
            return True
        if self.wait_seconds <= 0:
            return False
        try:
            await asyncio.wait_for(self._slots.acquire(), self.wait_seconds)
        except TimeoutError:
            return False
        return True

    async def _refuse(self, scope: Scope, send: Send) -> None:
        self.shed += 1
        SHED.inc()
        retry_after = max(1, math.ceil(self.wait_seconds))
        # The request id is the caller's (or new): RequestContext, outside, adds the same header.
        body = json.dumps({"error": {
            "code": "SERVICE_UNAVAILABLE",
            "message": f"the API is overloaded; retry in {retry_after}s",
            "details": {"reason": "overloaded", "retry_after": retry_after},
            "request_id": scope.get("state", {}).get("request_id") or request_id_of(scope),
        }}).encode()
        await send({"type": "http.response.start", "status": 503, "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(retry_after).encode())]})
        await send({"type": "http.response.body", "body": body})

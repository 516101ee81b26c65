"""Admission under overload (``api/overload.py``): requests beyond the slots wait briefly, then
get a fast 503 in the contract's error shape without reaching the routes; slots come back when
a response starts; probes are never limited. The application behind it blocks on an event, so
what is admitted is counted, never timed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
from starlette.types import Receive, Scope, Send

from hybridcloud.api import create_app
from hybridcloud.api.overload import Admission
from hybridcloud.api.settings import Settings


class Blocking:
    """An ASGI app whose ``/v1/…`` answers wait for ``gate``; ``/stream`` starts its response at
    once and sends the body only then; ``/healthz`` answers at once."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.reached: list[str] = []
        self.arrived = asyncio.Event()  # set whenever a request reaches the app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.reached.append(scope["path"])
        self.arrived.set()
        if scope["path"].startswith("/v1/"):
            await self.gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        if scope["path"] == "/stream":
            await self.gate.wait()
        await send({"type": "http.response.body", "body": b"ok"})


def client(app: Admission) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


async def until(inner: Blocking, condition: Callable[[], bool]) -> None:
    while not condition():
        inner.arrived.clear()
        await inner.arrived.wait()


async def test_a_request_finding_every_slot_busy_is_refused_with_503_before_the_routes() -> None:
    inner = Blocking()
    admission = Admission(inner, max_concurrent=2, wait_seconds=0.01, unlimited=("/healthz",))
    async with client(admission) as http:
        busy = [asyncio.create_task(http.get(f"/v1/clusters?i={i}")) for i in range(2)]
        await until(inner, lambda: len(inner.reached) == 2)
        refused = await http.get("/v1/clusters", headers={"X-Request-ID": "req-overload-1"})
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "1"
        assert refused.json() == {"error": {
            "code": "SERVICE_UNAVAILABLE", "message": "the API is overloaded; retry in 1s",
            "details": {"reason": "overloaded", "retry_after": 1},
            "request_id": "req-overload-1"}}
        assert len(inner.reached) == 2  # the refused request never reached the application
        assert (await http.get("/healthz")).status_code == 200  # probes pass while full
        inner.gate.set()
        assert [(await task).status_code for task in busy] == [200, 200]
        assert (await http.get("/v1/clusters")).status_code == 200  # the slots came back
    assert admission.shed == 1


async def test_a_waiting_request_gets_the_first_slot_that_frees() -> None:
    inner = Blocking()
    admission = Admission(inner, max_concurrent=1, wait_seconds=60, unlimited=())
    async with client(admission) as http:
        first = asyncio.create_task(http.get("/v1/clusters"))
        await until(inner, lambda: len(inner.reached) == 1)
        second = asyncio.create_task(http.get("/v1/clusters/c1"))
        for _ in range(20):
            await asyncio.sleep(0)
        assert inner.reached == ["/v1/clusters"]  # waiting for the slot, not in the routes
        inner.gate.set()
        assert [(await first).status_code, (await second).status_code] == [200, 200]
    assert inner.reached == ["/v1/clusters", "/v1/clusters/c1"] and admission.shed == 0


async def test_a_started_stream_gives_its_slot_back() -> None:
    inner = Blocking()
    admission = Admission(inner, max_concurrent=1, wait_seconds=0, unlimited=())
    async with client(admission) as http:
        stream = asyncio.create_task(http.get("/stream"))
        await until(inner, lambda: inner.reached == ["/stream"])
        inner.gate.set()  # /v1 answers at once from now; the stream ends too
        assert (await http.get("/v1/events")).status_code == 200
        assert (await stream).status_code == 200
    assert admission.shed == 0


async def test_zero_slots_means_no_limit() -> None:
    inner = Blocking()
    admission = Admission(inner, max_concurrent=0, wait_seconds=0, unlimited=())
    async with client(admission) as http:
        busy = [asyncio.create_task(http.get("/v1/clusters")) for _ in range(50)]
        await until(inner, lambda: len(inner.reached) == 50)
        inner.gate.set()
        assert {(await task).status_code for task in busy} == {200}
    assert admission.shed == 0


def test_the_api_is_served_behind_admission_with_its_settings() -> None:
    app = create_app(Settings(max_concurrent_requests=7, admission_wait_seconds=0.25))
    layers: list[Any] = [(m.cls, m.kwargs) for m in app.user_middleware]  # outermost first
    [options] = [kwargs for cls, kwargs in layers if cls is Admission]
    assert options["max_concurrent"] == 7 and options["wait_seconds"] == 0.25
    assert {"/healthz", "/readyz", "/metrics"} <= set(options["unlimited"])
    order = [getattr(cls, "__name__", "") for cls, _ in layers]
    assert order.index("RequestContext") < order.index("Admission") < order.index("BodyLimit")

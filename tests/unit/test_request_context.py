"""The API's request-context middleware (a plain ASGI middleware since the metrics benchmark
showed BaseHTTPMiddleware's cost): request ids, rate-limit headers, per-route counters."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from hybridcloud.api.request_context import RequestContext
from hybridcloud.api.stats import RequestStats


@dataclass
class _Verdict:
    def headers(self) -> dict[str, str]:
        return {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "9"}


async def _item(request: Request) -> JSONResponse:
    request.state.rate_limit = _Verdict()  # as deps.charge leaves it
    return JSONResponse({"request_id": request.state.request_id})


async def _probe(_: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def _broken(_: Request) -> PlainTextResponse:
    raise RuntimeError("boom")


@pytest.fixture
def served() -> tuple[TestClient, CollectorRegistry, RequestStats]:
    registry = CollectorRegistry()
    requests = Counter("requests_total", "", ["method", "route", "code"], registry=registry)
    latency = Histogram("latency_seconds", "", ["method", "route"], registry=registry)
    stats = RequestStats()
    app = Starlette(routes=[Route("/items/{name}", _item), Route("/healthz", _probe),
                            Route("/broken", _broken)])
    app.add_middleware(RequestContext, requests=requests, latency=latency, stats=stats,
                       unrecorded=("/healthz",))
    return TestClient(app, raise_server_exceptions=False), registry, stats


def test_a_well_formed_request_id_is_kept_and_echoed(served: tuple[TestClient, ...]) -> None:
    client = served[0]
    answer = client.get("/items/a", headers={"X-Request-ID": "abc-123"})
    assert answer.headers["X-Request-ID"] == "abc-123"
    assert answer.json() == {"request_id": "abc-123"}


def test_a_malformed_request_id_is_replaced_by_a_new_one(served: tuple[TestClient, ...]) -> None:
    client = served[0]
    answer = client.get("/items/a", headers={"X-Request-ID": "bad id\twith spaces"})
    assert answer.headers["X-Request-ID"].startswith("req-")
    assert answer.json() == {"request_id": answer.headers["X-Request-ID"]}


def test_rate_limit_headers_left_by_the_route_are_added(served: tuple[TestClient, ...]) -> None:
    answer = served[0].get("/items/a")
    assert answer.headers["X-RateLimit-Limit"] == "10"
    assert answer.headers["X-RateLimit-Remaining"] == "9"


def test_requests_are_counted_by_route_template_and_probes_stay_out_of_the_stats(
        served: tuple[TestClient, CollectorRegistry, RequestStats]) -> None:
    client, registry, stats = served
    client.get("/items/a")
    client.get("/items/b")
    client.get("/healthz")
    assert registry.get_sample_value(
        "requests_total", {"method": "GET", "route": "/items/{name}", "code": "200"}) == 2
    assert registry.get_sample_value(
        "latency_seconds_count", {"method": "GET", "route": "/items/{name}"}) == 2
    assert registry.get_sample_value(
        "requests_total", {"method": "GET", "route": "/healthz", "code": "200"}) == 1
    assert stats.summary()[1] == pytest.approx(2 / stats.window)


def test_a_route_that_raises_is_counted_as_a_500_once(
        served: tuple[TestClient, CollectorRegistry, RequestStats]) -> None:
    client, registry, _ = served
    assert client.get("/broken").status_code == 500
    assert registry.get_sample_value(
        "requests_total", {"method": "GET", "route": "/broken", "code": "500"}) == 1

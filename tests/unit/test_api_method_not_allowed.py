"""405 answers: the standard error body plus the ``Allow`` header RFC 9110 requires, on every
route of the app (found by iterating the app's routes, so a new route is covered by itself)."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from hybridcloud.api import create_app
from hybridcloud.api.settings import Settings

# Every method a client may try (RFC 9110 plus PATCH).
PROBED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")
_PARAMETER = re.compile(r"\{[^}]+\}")


def declared_methods_by_path() -> dict[str, set[str]]:
    """Route path template → every method declared for it, across all routes of the app."""
    by_path: dict[str, set[str]] = defaultdict(set)
    # iter_route_contexts also yields the routes of included routers (app.routes does not).
    for route in iter_route_contexts(create_app(Settings()).routes):
        if route.path and route.methods:
            by_path[route.path].update(route.methods)
    return dict(by_path)


ROUTES = declared_methods_by_path()
CASES = [(path, method) for path, declared in sorted(ROUTES.items())
         for method in PROBED_METHODS if method not in declared]


@pytest.fixture(scope="module")
def client() -> TestClient:
    # Routing refuses an undeclared method before any dependency runs: no Kubernetes needed,
    # so the app's lifespan (watch caches) is not started.
    return TestClient(create_app(Settings()))


def test_the_app_has_the_contracts_routes_to_probe() -> None:
    # Guards the parametrisation below against silently probing nothing.
    assert "/v1/clusters" in ROUTES and "/v1/clusters/{cluster_id}" in ROUTES
    contract = [(p, m) for p, methods in ROUTES.items() for m in methods
                if p.startswith(("/v1/", "/oauth/"))]
    assert len(contract) >= 13  # the contract's operations
    assert ("/v1/clusters", "TRACE") in CASES


@pytest.mark.parametrize(("path", "method"), CASES)
def test_an_undeclared_method_gets_405_with_allow_listing_the_routes_methods(
        client: TestClient, path: str, method: str) -> None:
    concrete = _PARAMETER.sub("sample", path)
    response = client.request(method, concrete)
    assert response.status_code == 405, response.text
    allowed = {m.strip() for m in response.headers.get("allow", "").split(",") if m.strip()}
    assert allowed == ROUTES[path], response.headers
    if method == "HEAD":
        return  # a HEAD answer has no body
    error = response.json()["error"]
    assert error["code"] == "METHOD_NOT_ALLOWED"
    assert method in error["message"] and concrete in error["message"]
    assert set(error["details"]["allowed"]) == ROUTES[path]
    assert error["request_id"] == response.headers["x-request-id"]

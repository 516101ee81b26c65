"""Rate limits per caller: headers on every response, 429 after the burst, recovery after the
bucket refills (the tier window is shortened so the refill takes a second, not an hour)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from lightkube import Client

from hybridcloud.api.settings import Settings, Tier
from hybridcloud.controlplane import ControlPlane

from .api_support import bearer, identity, serve
from .test_api_contract import assert_error

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api(management: ControlPlane) -> Iterator[str]:
    # Basic: 1,000 per window, burst 100; a 1,000 s window refills one request per second.
    settings = Settings(kubeconfig=str(management.kubeconfig), default_tier=Tier.BASIC,
                        rate_limit_window_seconds=1000, oauth_namespace="api-ratelimit-oauth",
                        tiers={"system:serviceaccount:vip-tenant:vip": Tier.ENTERPRISE})
    with serve(settings) as base:
        yield base


def test_headers_429_after_the_burst_and_recovery_after_reset(
        api: str, kube: Client, namespace: str) -> None:
    token = identity(kube, namespace, "tenant")
    with httpx.Client(base_url=api, headers=bearer(token), timeout=30) as http:
        first = http.get("/v1/clusters")
        assert first.status_code == 200
        assert first.headers["X-RateLimit-Limit"] == "1000"
        assert first.headers["X-RateLimit-Remaining"] == "99"
        reset = int(first.headers["X-RateLimit-Reset"])
        assert time.time() < reset <= time.time() + 5  # one token spent, back in ~1s
        allowed = 1
        while True:
            response = http.get("/v1/clusters/missing")  # errors are limited too
            if response.status_code == 429:
                break
            assert response.status_code == 404
            assert "X-RateLimit-Remaining" in response.headers
            allowed += 1
            assert allowed < 150, "no 429 after the burst"
        assert 100 <= allowed < 110  # the burst, plus what refilled meanwhile
        details = assert_error(response, 429, "RATE_LIMITED")
        assert details["limit"] == 1000
        assert response.headers["X-RateLimit-Remaining"] == "0"
        retry = int(response.headers["Retry-After"])
        assert 1 <= retry <= 2
        time.sleep(retry)
        recovered = http.get("/v1/clusters")
        assert recovered.status_code == 200
        assert recovered.headers["X-RateLimit-Limit"] == "1000"


def test_callers_have_separate_buckets_and_configured_tiers(
        api: str, kube: Client, namespace: str) -> None:
    from .api_support import ensure_namespace

    ensure_namespace(kube, "vip-tenant")
    vip = identity(kube, "vip-tenant", "vip")
    other = identity(kube, namespace, "other")
    with httpx.Client(base_url=api, timeout=30) as http:
        response = http.get("/v1/clusters", headers=bearer(vip))
        assert response.headers["X-RateLimit-Limit"] == "100000"
        assert response.headers["X-RateLimit-Remaining"] == "1999"
        fresh = http.get("/v1/clusters", headers=bearer(other))
        assert fresh.headers["X-RateLimit-Remaining"] == "99"


@pytest.fixture(scope="module")
def unrefilled_api(management: ControlPlane) -> Iterator[str]:
    # Same tier, but the window refills one token every 1,000 s: 110 guesses that each cost a
    # TokenReview take over 10 s on a loaded machine, and a 1 s refill let the last through.
    settings = Settings(kubeconfig=str(management.kubeconfig), default_tier=Tier.BASIC,
                        rate_limit_window_seconds=1_000_000,
                        oauth_namespace="api-ratelimit-unrefilled-oauth")
    with serve(settings) as base:
        yield base


def test_failed_authentication_is_limited_per_client_address(unrefilled_api: str) -> None:
    with httpx.Client(base_url=unrefilled_api, timeout=30) as http:
        codes = [http.get("/v1/clusters", headers=bearer("guess")).status_code
                 for _ in range(110)]
    assert codes[0] == 401 and codes[-1] == 429
    assert 100 <= codes.index(429) < 110

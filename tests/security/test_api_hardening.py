"""The REST API against a hostile client: guessing tokens and client secrets, choosing its own
rate-limit bucket with forwarded headers, minting tokens for system ServiceAccounts, reading
/metrics and /docs, flooding bodies, and racing a PATCH past the watch cache.

The real API runs in-process (uvicorn) against the real apiserver of the test session. Each test
asserts that the attack fails with the documented error naming what was refused, and that
nothing else happened (no TokenReview, no token, no object changed).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import httpx
import pytest
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule, RoleRef, Subject
from lightkube.resources.core_v1 import Secret
from lightkube.resources.rbac_authorization_v1 import ClusterRole, ClusterRoleBinding, RoleBinding
from lightkube.types import PatchType
from prometheus_client import REGISTRY
from starlette.testclient import TestClient

from hybridcloud.api import create_app
from hybridcloud.api.app import metrics_app
from hybridcloud.api.oauth import CLIENT_LABEL, find_client, hash_client_secret
from hybridcloud.api.settings import Settings, Tier
from hybridcloud.controlplane import ControlPlane
from hybridcloud.kube.resources import HybridClusterResource

from ..integration.api_support import bearer, ensure_namespace, eventually, identity, serve_app
from ..integration.test_api_contract import assert_error, cluster_body

pytestmark = pytest.mark.integration

OAUTH_NAMESPACE = "sec-api-oauth"
PLATFORM_NAMESPACE = "sec-api-platform"
BURST = 5  # failed authentications allowed at once per bucket in these tests
MAX_BODY = 65_536

Start = Callable[..., AbstractContextManager[tuple[str, Any]]]


@pytest.fixture
def start_api(management: ControlPlane, kube: Client) -> Start:
    """A fresh API (its own rate-limit buckets) with test-sized limits; yields (url, app)."""
    for name in (OAUTH_NAMESPACE, PLATFORM_NAMESPACE):
        ensure_namespace(kube, name)

    @contextmanager
    def start(**overrides: Any) -> Iterator[tuple[str, Any]]:
        settings = Settings(**{
            "kubeconfig": str(management.kubeconfig), "default_tier": Tier.BASIC,
            "oauth_namespace": OAUTH_NAMESPACE, "platform_namespace": PLATFORM_NAMESPACE,
            "auth_failure_burst": BURST, "auth_failure_limit": BURST,
            "max_body_bytes": MAX_BODY, "consistency_timeout": 1.0, **overrides})
        app = create_app(settings)
        with serve_app(app) as base:
            yield base, app
    return start


def token_reviews(result: str) -> float:
    """TokenReviews the API sent (all in-process APIs share the Prometheus registry)."""
    return REGISTRY.get_sample_value("hybridcloud_api_token_reviews_total",
                                     {"result": result}) or 0.0


def guess_until_throttled(http: httpx.Client, send: Callable[[int], httpx.Response],
                          limit: int = 3 * BURST) -> tuple[list[int], httpx.Response]:
    """Send guesses until one is refused with 429; the status codes before it and the 429."""
    codes = []
    for attempt in range(limit):
        response = send(attempt)
        if response.status_code == 429:
            return codes, response
        codes.append(response.status_code)
    raise AssertionError(f"no 429 after {limit} guesses: {codes}")


def assert_throttled(response: httpx.Response) -> None:
    details = assert_error(response, 429, "RATE_LIMITED")
    assert "failed authentications" in response.json()["error"]["message"]
    assert details["retry_after"] >= 1
    assert int(response.headers["Retry-After"]) >= 1


def register_client(kube: Client, service_account: str) -> tuple[str, str]:
    client_id, secret = f"c-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    kube.create(Secret(
        metadata=ObjectMeta(name=f"oauth-{client_id}", namespace=OAUTH_NAMESPACE,
                            labels={CLIENT_LABEL: "true"}),
        stringData={"client_id": client_id, "client_secret_hash": hash_client_secret(secret),
                    "service_account": service_account}))
    return client_id, secret


def wait_registered(app: Any, *client_ids: str) -> None:
    """Until the API's registration cache has the clients (asking /oauth/token instead would
    spend the very failure buckets under test)."""
    for client_id in client_ids:
        eventually(lambda c=client_id: find_client(app.state.caches.oauth_clients, c))


def token_form(client_id: str, secret: str) -> dict[str, str]:
    return {"grant_type": "client_credentials", "client_id": client_id,
            "client_secret": secret}


# -- brute force -----------------------------------------------------------------------------------

def test_guessed_bearer_tokens_are_throttled_before_any_token_review_but_good_callers_pass(
        start_api: Start, kube: Client, namespace: str) -> None:
    good = identity(kube, namespace, "good")
    client_id, secret = register_client(kube, f"{namespace}/good")
    with start_api() as (base, app), httpx.Client(base_url=base, timeout=30) as http:
        wait_registered(app, client_id)
        assert http.get("/v1/clusters", headers=bearer(good)).status_code == 200
        codes, refused = guess_until_throttled(
            http, lambda i: http.get("/v1/clusters", headers=bearer(f"guess-{i}")))
        assert codes == [401] * BURST
        assert_throttled(refused)
        reviews = token_reviews("rejected")
        for i in range(5):  # while throttled, guesses cost the apiserver nothing
            assert http.get("/v1/clusters", headers=bearer(f"more-{i}")).status_code == 429
        assert token_reviews("rejected") == reviews
        # Same address, a token that already worked: unaffected, with its own tier's bucket.
        ok = http.get("/v1/clusters", headers=bearer(good))
        assert ok.status_code == 200, ok.text
        assert ok.headers["X-RateLimit-Limit"] == "1000"
        # Failed logins and /oauth/token are separate buckets: token requests still work.
        issued = http.post("/oauth/token", data=token_form(client_id, secret))
        assert issued.status_code == 200, issued.text
        assert issued.json()["access_token"]


def test_guessed_client_secrets_are_throttled_per_client_id_across_addresses(
        start_api: Start, kube: Client, namespace: str) -> None:
    identity(kube, namespace, "ci")
    victim, _ = register_client(kube, f"{namespace}/ci")
    other, other_secret = register_client(kube, f"{namespace}/ci")
    good = identity(kube, namespace, "good")
    with start_api(trusted_proxies=["127.0.0.1/32"]) as (base, app), \
            httpx.Client(base_url=base, timeout=30) as http:
        wait_registered(app, victim, other)

        def guess(i: int) -> httpx.Response:  # every guess from another address
            return http.post("/oauth/token", data=token_form(victim, f"guess-{i}"),
                             headers={"X-Forwarded-For": f"198.51.100.{i + 1}"})
        codes, refused = guess_until_throttled(http, guess)
        assert codes == [401] * BURST
        assert_throttled(refused)
        assert "access_token" not in refused.text
        # Another client from another address, and bearer callers, are unaffected.
        assert http.post("/oauth/token", data=token_form(other, other_secret),
                         headers={"X-Forwarded-For": "192.0.2.2"}).status_code == 200
        assert http.get("/v1/clusters", headers=bearer(good)).status_code == 200

        def spray(i: int) -> httpx.Response:  # many client IDs from one address
            return http.post("/oauth/token", data=token_form(f"nobody-{i}", "x"),
                             headers={"X-Forwarded-For": "203.0.113.9"})
        codes, refused = guess_until_throttled(http, spray)
        assert codes == [401] * BURST
        assert_throttled(refused)


# -- forwarded headers -----------------------------------------------------------------------------

def test_forwarded_for_from_an_untrusted_peer_cannot_choose_the_rate_limit_bucket(
        start_api: Start) -> None:
    with start_api() as (base, _), httpx.Client(base_url=base, timeout=30) as http:
        def spoofed(i: int) -> httpx.Response:  # a fresh "address" per guess, all ignored
            headers = {**bearer(f"guess-{i}"), "X-Forwarded-For": f"198.51.100.{i + 1}",
                       "Forwarded": f"for=198.51.100.{i + 1}"}
            return http.get("/v1/clusters", headers=headers)
        codes, refused = guess_until_throttled(http, spoofed)
        assert codes == [401] * BURST
        assert_throttled(refused)


def test_forwarded_for_is_honoured_from_a_trusted_proxy_but_not_what_the_client_prepends(
        start_api: Start) -> None:
    with start_api(trusted_proxies=["127.0.0.1/32"]) as (base, _), \
            httpx.Client(base_url=base, timeout=30) as http:
        def via_proxy(i: int) -> httpx.Response:
            # The client forged the left entry; our proxy appended the address it saw.
            headers = {**bearer(f"guess-{i}"), "X-Forwarded-For": f"10.9.9.{i}, 198.51.100.7"}
            return http.get("/v1/clusters", headers=headers)
        codes, refused = guess_until_throttled(http, via_proxy)
        assert codes == [401] * BURST
        assert_throttled(refused)
        forwarded = http.get("/v1/clusters", headers={
            **bearer("guess"), "Forwarded": 'for="10.0.0.1", for=198.51.100.7;proto=https'})
        assert_throttled(forwarded)
        # A different client behind the proxy has its own bucket.
        elsewhere = http.get("/v1/clusters", headers={**bearer("guess"),
                                                      "X-Forwarded-For": "198.51.100.8"})
        assert_error(elsewhere, 401, "UNAUTHORIZED")


# -- token minting ---------------------------------------------------------------------------------

@pytest.mark.parametrize("service_account", [
    "kube-system/default", "kube-public/default", "kube-node-lease/default",
    f"{PLATFORM_NAMESPACE}/default", f"{OAUTH_NAMESPACE}/default"])
def test_tokens_are_never_minted_for_system_or_platform_service_accounts(
        start_api: Start, kube: Client, namespace: str, service_account: str) -> None:
    client_id, secret = register_client(kube, service_account)
    identity(kube, namespace, "tenant-bot")
    allowed_id, allowed_secret = register_client(kube, f"{namespace}/tenant-bot")
    with start_api() as (base, app), httpx.Client(base_url=base, timeout=30) as http:
        wait_registered(app, client_id, allowed_id)
        assert http.post("/oauth/token", data=token_form(allowed_id, allowed_secret)
                         ).status_code == 200
        refused = http.post("/oauth/token", data=token_form(client_id, secret))
        details = assert_error(refused, 403, "FORBIDDEN")
        assert details == {"oauth_error": "unauthorized_client", "field": "service_account"}
        assert service_account.split("/")[0] in refused.json()["error"]["message"]
        assert "access_token" not in refused.text and secret not in refused.text


# -- /metrics and /docs ----------------------------------------------------------------------------

def test_metrics_on_the_main_port_need_an_identity_rbac_allows(
        start_api: Start, kube: Client, namespace: str) -> None:
    tenant = identity(kube, namespace, "tenant")
    scraper = identity(kube, namespace, "scraper", bind=False)
    kube.apply(ClusterRole(metadata=ObjectMeta(name="sec-api-metrics-reader"), rules=[
        PolicyRule(nonResourceURLs=["/metrics"], verbs=["get"])]))
    kube.apply(ClusterRoleBinding(
        metadata=ObjectMeta(name=f"sec-api-metrics-{namespace}"),
        roleRef=RoleRef(apiGroup="rbac.authorization.k8s.io", kind="ClusterRole",
                        name="sec-api-metrics-reader"),
        subjects=[Subject(kind="ServiceAccount", name="scraper", namespace=namespace)]))
    try:
        with start_api(auth_cache_seconds=0) as (base, _), \
                httpx.Client(base_url=base, timeout=30) as http:
            assert_error(http.get("/metrics"), 401, "UNAUTHORIZED")
            forbidden = assert_error(http.get("/metrics", headers=bearer(tenant)), 403,
                                     "FORBIDDEN")
            assert forbidden["path"] == "/metrics"
            scraped = eventually(lambda: (r := http.get(
                "/metrics", headers=bearer(scraper))).status_code == 200 and r)
            assert "hybridcloud_api_requests_total" in scraped.text
    finally:
        kube.delete(ClusterRoleBinding, f"sec-api-metrics-{namespace}")


def test_a_revoked_role_binding_is_refused_within_the_auth_cache_time(
        start_api: Start, kube: Client, namespace: str) -> None:
    """Allows are reused for HYBRIDCLOUD_API_AUTH_CACHE_SECONDS (the metrics benchmark relies on
    it); a revocation must still win within that bound, plus the apiserver's own RBAC update."""
    cached = 2.0
    token = identity(kube, namespace, "revoked")
    with start_api(auth_cache_seconds=cached) as (base, _), \
            httpx.Client(base_url=base, timeout=30) as http:
        def status() -> int:
            return http.get("/v1/clusters", headers=bearer(token)).status_code
        assert status() == 200
        kube.delete(RoleBinding, "revoked-tenant", namespace=namespace)
        revoked = time.monotonic()
        eventually(lambda: status() == 403, timeout=30)
        assert time.monotonic() - revoked < cached + 3.0


def test_a_separate_metrics_port_takes_metrics_off_the_main_port(start_api: Start) -> None:
    with start_api(metrics_port=9090) as (base, app), \
            httpx.Client(base_url=base, timeout=30) as http:
        assert_error(http.get("/metrics"), 404, "NOT_FOUND")
        scraped = TestClient(metrics_app(app)).get("/metrics")
        assert scraped.status_code == 200
        assert 'hybridcloud_api_cache_synced{resource="hybridclusters"} 1.0' in scraped.text


def test_docs_are_off_by_default_and_the_openapi_contract_stays(start_api: Start) -> None:
    with start_api() as (base, _), httpx.Client(base_url=base, timeout=30) as http:
        for page in ("/docs", "/redoc"):
            assert_error(http.get(page), 404, "NOT_FOUND")
        assert http.get("/openapi.json").json()["paths"]["/v1/clusters"]
    with start_api(docs_enabled=True) as (base, _), httpx.Client(base_url=base, timeout=30) as http:
        assert http.get("/docs").status_code == 200
        assert http.get("/redoc").status_code == 200


# -- request bodies --------------------------------------------------------------------------------

def test_oversized_and_chunked_bodies_are_refused_before_authentication(
        start_api: Start, kube: Client, namespace: str) -> None:
    good = identity(kube, namespace, "tenant")
    big = cluster_body("flood")
    big["labels"] = {f"k{i}": "v" * 60 for i in range(2_000)}  # ~140 KB of JSON
    with start_api() as (base, _), httpx.Client(base_url=base, timeout=30) as http:
        reviews = token_reviews("rejected") + token_reviews("authenticated")
        declared = http.post("/v1/clusters", json=big, headers=bearer("not-even-a-token"))
        details = assert_error(declared, 413, "PAYLOAD_TOO_LARGE")
        assert details == {"field": "body", "limit_bytes": MAX_BODY}
        chunks = iter([b"{" + b" " * 16_384] + [b" " * 16_384] * 10)
        chunked = http.post("/v1/clusters", content=chunks, headers={
            **bearer("not-even-a-token"), "Content-Type": "application/json"})
        assert "content-length" not in chunked.request.headers
        assert assert_error(chunked, 413, "PAYLOAD_TOO_LARGE")["field"] == "body"
        deep = http.post("/v1/clusters", content=b"[" * 5_000 + b"]" * 5_000, headers={
            **bearer("not-even-a-token"), "Content-Type": "application/json"})
        assert assert_error(deep, 400, "INVALID_REQUEST") == {"field": "body",
                                                              "limit_depth": 32}
        assert token_reviews("rejected") + token_reviews("authenticated") == reviews
        # An authenticated caller gets the same answer, and nothing was created.
        refused = http.post("/v1/clusters", json=big, headers=bearer(good))
        assert_error(refused, 413, "PAYLOAD_TOO_LARGE")
        assert [c for c in kube.list(HybridClusterResource, namespace=namespace)] == []


# -- If-Match and the watch cache ------------------------------------------------------------------

@contextmanager
def lagging_cache(app: Any) -> Iterator[None]:
    """Hold back the API's cluster watch (as a slow watch would) until the block ends."""
    cache = app.state.caches.clusters
    original = cache._apply
    released = threading.Event()  # set from the test's thread, not the API's event loop

    async def lagging(event: dict[str, Any]) -> None:
        await asyncio.to_thread(released.wait)
        await original(event)
    cache._apply = lagging
    try:
        yield
    finally:
        released.set()


def test_if_match_newer_than_the_cache_merges_onto_the_live_object(
        start_api: Start, kube: Client, namespace: str) -> None:
    token = identity(kube, namespace, "tenant")
    with start_api() as (base, app), \
            httpx.Client(base_url=base, headers=bearer(token), timeout=30) as http:
        assert http.post("/v1/clusters", json=cluster_body("c1")).status_code == 201
        with lagging_cache(app):
            # Someone else adds an addon; the caller sees that version (e.g. via another
            # replica) and patches only the Kubernetes version.
            newer = kube.patch(HybridClusterResource, "c1", {"spec": {"addons": ["extra"]}},
                               namespace=namespace, patch_type=PatchType.MERGE)
            etag = f'"{newer["metadata"]["resourceVersion"]}"'
            patched = http.patch("/v1/clusters/c1", headers={"If-Match": etag},
                                 json={"version": "v1.30.0"})
            assert patched.status_code == 200, patched.text
        spec = kube.get(HybridClusterResource, "c1", namespace=namespace)["spec"]
        assert spec["version"] == "v1.30.0"
        assert spec["addons"] == ["extra"]  # not reverted to the cached copy's addons


def test_if_match_older_than_the_live_object_is_a_conflict_and_changes_nothing(
        start_api: Start, kube: Client, namespace: str) -> None:
    token = identity(kube, namespace, "tenant")
    with start_api() as (base, app), \
            httpx.Client(base_url=base, headers=bearer(token), timeout=30) as http:
        assert http.post("/v1/clusters", json=cluster_body("c1")).status_code == 201
        old_etag = http.get("/v1/clusters/c1").headers["ETag"]
        with lagging_cache(app):
            kube.patch(HybridClusterResource, "c1", {"spec": {"addons": ["extra"]}},
                       namespace=namespace, patch_type=PatchType.MERGE)
            before = kube.get(HybridClusterResource, "c1", namespace=namespace)
            stale = http.patch("/v1/clusters/c1", headers={"If-Match": old_etag},
                               json={"version": "v1.30.0"})
            assert assert_error(stale, 409, "CONFLICT")["reason"] == "stale"
        after = kube.get(HybridClusterResource, "c1", namespace=namespace)
        assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
        assert after["spec"]["version"] == "v1.28.0"

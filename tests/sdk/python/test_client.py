"""Every sync client method against the real API on the real control plane (no operator: the
objects the API writes stay pending, which is all these calls need)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lightkube import Client
from pydantic import ValidationError

from hybridcloud.api.settings import Settings, Tier
from hybridcloud.controlplane import ControlPlane
from hybridcloud.controlplane._net import free_ports
from hybridcloud_sdk import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    HybridCloudClient,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RetryPolicy,
    ServiceUnavailableError,
    models,
)
from tests.integration.api_support import eventually, identity, serve, set_cluster_status
from tests.integration.test_api_auth import reissue

pytestmark = pytest.mark.integration

VERSION = "v1.37.2"
POOLS = {"node_pools": [{"name": "workers", "size": 1}, {"name": "gpu", "size": 2}]}


@pytest.fixture
def client(api: str, token: str) -> Iterator[HybridCloudClient]:
    with HybridCloudClient(base_url=api, api_key=token) as sdk:
        yield sdk


def test_clusters_create_get_list_update_scale_upgrade_and_delete(
        client: HybridCloudClient, namespace: str) -> None:
    accepted = client.clusters.create(name="c1", provider="local", version=VERSION,
                                      configuration=POOLS, labels={"env": "dev"})
    assert (accepted.id, accepted.namespace, accepted.status) == ("c1", namespace, "creating")
    operation = client.operations.get(accepted.operation_id)
    assert operation.type == "create" and operation.resource is not None
    assert operation.resource.id == "c1"
    details = client.clusters.get("c1")
    assert (details.provider, details.version) == ("local", VERSION)
    assert [c.id for c in client.clusters.list(provider="local").clusters] == ["c1"]
    assert client.clusters.list(provider="aws").clusters == []

    assert client.clusters.update("c1", labels={"env": "prod"}).id == "c1"
    assert client.clusters.get("c1").labels == {"env": "prod"}
    client.clusters.scale("c1", "gpu", 5)
    sizes = {p.name: p.size for p in client.clusters.get("c1").configuration.node_pools}
    assert sizes == {"workers": 1, "gpu": 5}  # the other pool was kept
    with pytest.raises(ValueError, match="no node pool 'nope'"):
        client.clusters.scale("c1", "nope", 1)
    client.clusters.upgrade("c1", "v1.38.0")
    assert client.clusters.get("c1").version == "v1.38.0"

    assert client.clusters.delete("c1").status == "deleting"


def test_iter_walks_every_page(client: HybridCloudClient) -> None:
    for index in range(5):
        client.clusters.create(name=f"p{index}", provider="local", version=VERSION,
                               configuration=POOLS)
    first = client.clusters.list(per_page=2)
    assert (len(first.clusters), first.total) == (2, 5)
    assert sorted(c.id for c in client.clusters.iter(per_page=2)) == [f"p{i}" for i in range(5)]


def test_applications_deploy_list_and_multi_cluster(client: HybridCloudClient) -> None:
    client.clusters.create(name="apps", provider="local", version=VERSION, configuration=POOLS)
    accepted = client.applications.deploy(
        "apps", "web", {"repository": "https://git.example.com/web.git", "path": "k8s"},
        values={"replicas": 2})
    assert (accepted.id, accepted.status) == ("web", "creating")
    listed = client.applications.list("apps")
    assert [a.name for a in listed.applications] == ["web"]
    assert [a.name for a in client.applications.iter("apps", per_page=1)] == ["web"]
    multi = client.applications.deploy_multi_cluster(
        name="global", source={"repository": "https://git.example.com/g.git"},
        clusters=[{"cluster_id": "apps"}])
    assert multi.status == "creating"
    status = client.multi_cluster.status()
    assert status.clusters.total == 1
    assert status.applications.total >= 1


def test_workloads_of_a_cluster_without_a_member_are_a_typed_error(
        client: HybridCloudClient, kube: Client, namespace: str) -> None:
    client.clusters.create(name="wl", provider="local", version=VERSION, configuration=POOLS)
    set_cluster_status(kube, namespace, "wl", "Creating", ready=False)
    with pytest.raises((ConflictError, NotFoundError)) as refused:
        client.workloads.list("wl")
    assert refused.value.code and refused.value.request_id


def test_missing_objects_raise_not_found_with_the_contract_body(
        client: HybridCloudClient) -> None:
    with pytest.raises(NotFoundError) as missing:
        client.clusters.get("ghost")
    error = missing.value
    assert (error.status, error.code) == (404, "CLUSTER_NOT_FOUND")
    assert "ghost" in error.message and error.request_id
    with pytest.raises(NotFoundError):
        client.operations.get("no-such-operation")


def test_bad_input_fails_locally_naming_the_field_and_on_the_server_with_400(
        client: HybridCloudClient) -> None:
    with pytest.raises(ValidationError, match="name"):
        client.clusters.create(name="Not_A_Name", provider="local", version=VERSION,
                               configuration=POOLS)
    with pytest.raises(BadRequestError) as refused:
        client.clusters.list(per_page=0)
    assert refused.value.code == "INVALID_REQUEST"
    assert "per_page" in str(refused.value.details) + refused.value.message
    client.clusters.create(name="dup", provider="local", version=VERSION, configuration=POOLS)
    with pytest.raises(ConflictError):
        client.clusters.create(name="dup", provider="local", version=VERSION,
                               configuration=POOLS)


def test_an_expired_token_is_an_authentication_error(
        api: str, token: str, management: ControlPlane) -> None:
    expired = reissue(token, Path(management.ca_cert).parent / "sa.key", expires_in=-3600)
    with HybridCloudClient(base_url=api, api_key=expired) as sdk, \
            pytest.raises(AuthenticationError) as refused:
        sdk.clusters.list()
    assert (refused.value.status, refused.value.code) == (401, "UNAUTHORIZED")
    assert expired not in str(refused.value)


def test_an_identity_without_rbac_gets_permission_denied(
        api: str, kube: Client, namespace: str) -> None:
    nobody = identity(kube, namespace, "sdk-nobody", bind=False)
    with HybridCloudClient(base_url=api, api_key=nobody) as sdk, \
            pytest.raises(PermissionDeniedError) as refused:
        sdk.clusters.list()
    assert (refused.value.status, refused.value.code) == (403, "FORBIDDEN")


def test_an_api_that_is_down_is_a_connection_error() -> None:
    (port,) = free_ports(1)  # nothing listens there
    with HybridCloudClient(base_url=f"http://127.0.0.1:{port}", api_key="t",
                           timeout=2) as sdk, pytest.raises(APIConnectionError):
        sdk.clusters.list()


def _basic_tier_api(management: ControlPlane, window: float, oauth_namespace: str,
                    ) -> Iterator[str]:
    """An API whose callers are Basic tier (burst 100) and whose bucket refills one request
    per ``window / 1000`` seconds."""
    settings = Settings(kubeconfig=str(management.kubeconfig), default_tier=Tier.BASIC,
                        rate_limit_window_seconds=window, oauth_namespace=oauth_namespace)
    with serve(settings) as base:
        yield base


@pytest.fixture(scope="module")
def limited_api(management: ControlPlane) -> Iterator[str]:
    yield from _basic_tier_api(management, 1000, "sdk-python-limited")  # refills 1 per second


def _exhaust(base: str, token: str) -> None:
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"},
                      timeout=30) as http:
        for _ in range(200):
            if http.get("/v1/clusters").status_code == 429:
                return
    raise AssertionError("no 429 after 200 requests")


def test_a_429_storm_is_backed_off_from_and_the_read_then_succeeds(
        limited_api: str, token: str) -> None:
    """Another process of the same caller hammers the API for a few seconds: the SDK's read
    meets 429s, waits as Retry-After says, and succeeds (at the latest when the storm ends)."""
    limited, over = threading.Event(), threading.Event()

    def storm() -> None:
        with httpx.Client(base_url=limited_api, headers={"Authorization": f"Bearer {token}"},
                          timeout=30) as http:
            deadline = None
            while deadline is None or time.monotonic() < deadline:
                if http.get("/v1/clusters").status_code == 429 and deadline is None:
                    limited.set()
                    deadline = time.monotonic() + 3
        over.set()

    hammer = threading.Thread(target=storm, daemon=True)
    hammer.start()
    assert limited.wait(60), "the storm never got a 429"
    seen: list[int] = []
    with HybridCloudClient(base_url=limited_api, api_key=token,
                           retry=RetryPolicy(max_retries=20)) as sdk:
        sdk._transport.http.event_hooks["response"].append(lambda r: seen.append(r.status_code))
        assert sdk.clusters.list().total >= 0
    hammer.join(30)
    assert seen[0] == 429 and seen[-1] == 200, seen
    assert set(seen[:-1]) == {429}
    assert over.is_set()


@pytest.fixture(scope="module")
def exhausted_api(management: ControlPlane) -> Iterator[str]:
    # Refills one request every 1,000 s: nothing comes back between exhausting the bucket and
    # the create, however slow the machine is.
    yield from _basic_tier_api(management, 1_000_000, "sdk-python-exhausted")


def test_a_create_is_never_retried_after_429(exhausted_api: str, token: str) -> None:
    _exhaust(exhausted_api, token)
    seen: list[int] = []
    with HybridCloudClient(base_url=exhausted_api, api_key=token,
                           retry=RetryPolicy(max_retries=5)) as sdk:
        sdk._transport.http.event_hooks["response"].append(lambda r: seen.append(r.status_code))
        with pytest.raises(RateLimitedError) as refused:
            sdk.clusters.create(name="once", provider="local", version=VERSION,
                                configuration=POOLS)
    assert seen == [429]
    assert refused.value.details.get("limit") == 1000
    assert int(refused.value.headers["Retry-After"]) >= 1


def test_the_async_client_lists_and_gets_like_the_sync_one(
        api: str, token: str) -> None:
    import asyncio

    from hybridcloud_sdk import AsyncHybridCloudClient

    async def scenario() -> tuple[list[str], str]:
        async with AsyncHybridCloudClient(base_url=api, api_key=token) as sdk:
            await sdk.clusters.create(name="async1", provider="local", version=VERSION,
                                      configuration=POOLS)
            ids = [c.id async for c in sdk.clusters.iter(per_page=1)]
            with pytest.raises(NotFoundError):
                await sdk.clusters.get("ghost")
            return ids, (await sdk.clusters.get("async1")).provider

    assert asyncio.run(scenario()) == (["async1"], "local")


def test_a_backend_that_stays_down_is_retried_then_a_typed_503(
        api: str, token: str, kube: Client, namespace: str) -> None:
    """An active cluster whose member credential is missing: the API answers 503 for its
    workloads; the read is retried with backoff, then ServiceUnavailableError."""
    seen: list[int] = []
    with HybridCloudClient(base_url=api, api_key=token,
                           retry=RetryPolicy(max_retries=2, backoff=0.05,
                                             max_backoff=0.2)) as sdk:
        sdk.clusters.create(name="down", provider="local", version=VERSION, configuration=POOLS)
        set_cluster_status(kube, namespace, "down", "Active", ready=True)
        eventually(lambda: sdk.clusters.get("down").status == "active")
        sdk._transport.http.event_hooks["response"].append(lambda r: seen.append(r.status_code))
        with pytest.raises(ServiceUnavailableError) as refused:
            sdk.workloads.list("down")
    assert seen == [503, 503, 503]
    assert (refused.value.status, refused.value.code) == (503, "SERVICE_UNAVAILABLE")

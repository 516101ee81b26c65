"""OAuth client credentials through the SDK (token fetched, renewed before expiry, fetched again
after a 401) and the waiting helpers, against the real API."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Secret

from hybridcloud.api.oauth import CLIENT_LABEL, hash_client_secret
from hybridcloud_sdk import AuthenticationError, HybridCloudClient, WaitTimeoutError
from tests.integration.api_support import (
    ensure_namespace,
    eventually,
    identity,
    set_cluster_status,
)

from .conftest import OAUTH_NAMESPACE

pytestmark = pytest.mark.integration

POOLS = {"node_pools": [{"name": "workers", "size": 1}]}


@pytest.fixture
def registration(api: str, kube: Client, namespace: str) -> Iterator[tuple[str, str]]:
    identity(kube, namespace, "sdk-bot")
    ensure_namespace(kube, OAUTH_NAMESPACE)
    client_id, secret = f"sdk-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    name = f"oauth-{client_id}"
    kube.create(Secret(
        metadata=ObjectMeta(name=name, namespace=OAUTH_NAMESPACE, labels={CLIENT_LABEL: "true"}),
        stringData={"client_id": client_id, "client_secret_hash": hash_client_secret(secret),
                    "service_account": f"{namespace}/sdk-bot"}))
    eventually(lambda: httpx.post(f"{api}/oauth/token", data={
        "grant_type": "client_credentials", "client_id": client_id,
        "client_secret": secret}).status_code == 200)  # the registration reached the cache
    yield client_id, secret
    kube.delete(Secret, name, namespace=OAUTH_NAMESPACE)


def test_client_credentials_fetch_a_token_once_and_renew_it_before_expiry(
        api: str, registration: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    client_id, secret = registration
    paths: list[str] = []
    with HybridCloudClient(base_url=api, client_id=client_id, client_secret=secret) as sdk:
        sdk._transport.http.event_hooks["response"].append(
            lambda r: paths.append(r.request.url.path))
        sdk.clusters.create(name="oauth1", provider="local", version="v1.37.2",
                            configuration=POOLS)
        assert [c.id for c in sdk.clusters.list().clusters] == ["oauth1"]
        assert paths.count("/oauth/token") == 1  # reused while fresh
        # 600 s tokens: 550 s later the token is within its last tenth and is renewed first.
        later = time.monotonic() + 550
        monkeypatch.setattr(time, "monotonic", lambda: later)  # the clock auth.py reads
        sdk.clusters.list()
        assert paths.count("/oauth/token") == 2
        assert paths[-2:] == ["/oauth/token", "/v1/clusters"]


def test_a_refused_token_is_fetched_again_once_and_a_wrong_secret_is_an_auth_error(
        api: str, registration: tuple[str, str]) -> None:
    client_id, secret = registration
    with HybridCloudClient(base_url=api, client_id=client_id, client_secret=secret) as sdk:
        sdk.clusters.list()
        credentials = sdk._transport.credentials
        assert credentials is not None
        credentials._token = "revoked"  # still "fresh" by its expiry, refused by the API
        assert sdk.clusters.list().total == 0
        assert credentials._token != "revoked"
    with HybridCloudClient(base_url=api, client_id=client_id, client_secret="wrong") as sdk, \
            pytest.raises(AuthenticationError) as refused:
        sdk.clusters.list()
    assert refused.value.details.get("oauth_error") == "invalid_client"
    assert "wrong" not in str(refused.value)


def test_wait_until_ready_returns_the_active_cluster_and_raises_on_failed(
        api: str, token: str, kube: Client, namespace: str) -> None:
    with HybridCloudClient(base_url=api, api_key=token) as sdk:
        sdk.clusters.create(name="w1", provider="local", version="v1.37.2", configuration=POOLS)
        with pytest.raises(WaitTimeoutError, match="still"):
            sdk.clusters.wait_until_ready("w1", timeout=0.5, interval=0.1)
        set_cluster_status(kube, namespace, "w1", "Active", ready=True)
        assert sdk.clusters.wait_until_ready("w1", timeout=30, interval=0.2).status == "active"
        set_cluster_status(kube, namespace, "w1", "Failed", ready=False)
        with pytest.raises(WaitTimeoutError, match="failed"):
            sdk.clusters.wait_until_ready("w1", timeout=30, interval=0.2)


def test_operation_wait_reports_progress_until_a_final_state(
        api: str, token: str, kube: Client, namespace: str) -> None:
    with HybridCloudClient(base_url=api, api_key=token) as sdk:
        accepted = sdk.clusters.create(name="op1", provider="local", version="v1.37.2",
                                       configuration=POOLS)
        seen: list[str] = []
        with pytest.raises(WaitTimeoutError):
            sdk.operations.wait(accepted.operation_id, timeout=0.5, interval=0.1,
                                on_progress=lambda op: seen.append(op.status))
        assert seen and set(seen) <= {"pending", "running"}
        set_cluster_status(kube, namespace, "op1", "Active", ready=True)
        done = sdk.operations.wait(accepted.operation_id, timeout=30, interval=0.2)
        assert done.status == "succeeded"

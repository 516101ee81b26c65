"""Webhooks as an attack tool: a tenant's receiver URL must never make the platform call its own
networks (loopback, cloud metadata, private ranges), neither when the subscription is created
through the API nor later when the name resolves elsewhere (DNS rebinding, or a subscription
written with kubectl, which the API never saw); and a tenant sees only its own webhooks."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Secret

from hybridcloud.controlplane import ControlPlane
from hybridcloud.kube.resources import HybridClusterResource, WebhookSubscriptionResource

from ..integration.api_support import serve
from ..integration.harness import OperatorProcess, eventually, fresh_namespace
from ..integration.webhook_support import OPERATOR_ENV, SECRET, api_settings, tenant
from .attacker import RecordingServer, recording_server

pytestmark = pytest.mark.integration

INTERNAL_URLS = [
    "https://127.0.0.1/hook", "https://localhost:8443/hook", "https://[::1]/hook",
    "https://169.254.169.254/latest/meta-data/", "https://[fd00:ec2::254]/latest",
    "https://10.96.0.1/api", "https://192.168.1.10/", "https://0.0.0.0/",
    "https://[::ffff:127.0.0.1]/hook",
]


@pytest.fixture
def production_api(management: ControlPlane, kube: Client,
                   namespace: str) -> Iterator[httpx.Client]:
    """The API with production settings: no http://, no private addresses."""
    with serve(api_settings(management.kubeconfig, allow_private=False)) as base, \
            httpx.Client(base_url=base, timeout=30,
                         headers={"Authorization": f"Bearer {tenant(kube, namespace)}"}) as http:
        yield http


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_rest_refuses_webhook_urls_reaching_loopback_metadata_or_private_networks(
        production_api: httpx.Client, url: str) -> None:
    answer = production_api.post("/v1/webhooks", json={
        "url": url, "events": ["cluster.ready"], "secret": SECRET})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "INVALID_REQUEST" and error["details"] == {"field": "url"}
    assert SECRET not in answer.text
    assert production_api.get("/v1/webhooks").json()["total"] == 0


def test_rest_refuses_plain_http_webhooks_unless_the_platform_allows_them(
        production_api: httpx.Client) -> None:
    answer = production_api.post("/v1/webhooks", json={
        "url": "http://example.com/hook", "events": ["cluster.ready"], "secret": SECRET})
    assert answer.status_code == 400 and "https" in answer.json()["error"]["message"]


@pytest.fixture
def operator_without_private(management: ControlPlane, namespace: str,
                             tmp_path: Path) -> Iterator[OperatorProcess]:
    """The operator allowing http:// (so the attacker's plain listener could be reached at
    all) but not private addresses: only the address check stands in the way."""
    env = {**OPERATOR_ENV, "HYBRIDCLOUD_OPERATOR_WEBHOOK_ALLOW_PRIVATE": "false",
           "HYBRIDCLOUD_BENCH_PROVIDER_DIR": str(tmp_path / "instant")}
    process = OperatorProcess(management.kubeconfig, namespace, tmp_path, env=env)
    process.start()
    yield process
    process.close()


@pytest.fixture
def listening_attacker() -> Iterator[RecordingServer]:
    with recording_server(status=200) as server:
        yield server


def _subscription(namespace: str, url: str) -> dict[str, Any]:
    return {"apiVersion": "platform.example.com/v1", "kind": "WebhookSubscription",
            "metadata": {"name": "sneaky", "namespace": namespace},
            "spec": {"url": url, "events": ["cluster.created", "cluster.ready"],
                     "secretRef": "sneaky-secret"}}


def test_a_webhook_whose_name_resolves_to_loopback_at_delivery_time_is_never_called(
        kube: Client, namespace: str, operator_without_private: OperatorProcess,
        listening_attacker: RecordingServer) -> None:
    # Written with kubectl: the API's creation check never ran. "localhost" is resolved only
    # when delivering — what a DNS-rebinding name does after passing a check at creation.
    port = listening_attacker.url.rsplit(":", 1)[1]
    kube.create(Secret(metadata=ObjectMeta(name="sneaky-secret", namespace=namespace),
                       data={"secret": base64.b64encode(SECRET.encode()).decode()}))
    kube.create(WebhookSubscriptionResource.from_dict(
        _subscription(namespace, f"http://localhost:{port}/steal")), namespace=namespace)
    kube.create(HybridClusterResource.from_dict({
        "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
        "metadata": {"name": "bait"}, "spec": {"provider": "local", "version": "v1.37.2",
                                               "nodeGroups": [{"name": "w", "size": 1}]}}),
        namespace=namespace)

    def refused() -> dict[str, Any] | None:
        status = kube.get(WebhookSubscriptionResource, "sneaky", namespace=namespace).status
        return next((d for d in (status or {}).get("deliveries") or []
                     if (d.get("error") or "").startswith("refused")), None)
    record = eventually(refused, timeout=60, message=lambda: operator_without_private.tail())
    assert "127.0.0.1" in record["error"] or "::1" in record["error"]
    assert not listening_attacker.requests, "the platform called its own loopback"
    status_text = str(kube.get(WebhookSubscriptionResource, "sneaky", namespace=namespace).status)
    assert SECRET not in status_text
    assert SECRET not in operator_without_private.log.read_text(errors="replace")


def test_a_tenant_cannot_see_or_drive_another_tenants_webhooks(
        management: ControlPlane, kube: Client, namespace: str) -> None:
    with fresh_namespace(kube, "wh-victim") as victim, \
            serve(api_settings(management.kubeconfig)) as base:
        owner = httpx.Client(base_url=base, timeout=30, headers={
            "Authorization": f"Bearer {tenant(kube, victim, 'owner')}"})
        intruder = httpx.Client(base_url=base, timeout=30, headers={
            "Authorization": f"Bearer {tenant(kube, namespace, 'intruder')}"})
        created = owner.post("/v1/webhooks", json={
            "url": "http://127.0.0.1:9/hook", "events": ["cluster.ready"], "secret": SECRET})
        assert created.status_code == 201, created.text
        webhook = created.json()["id"]
        assert intruder.get("/v1/webhooks").json()["total"] == 0
        for method, path in (("GET", f"/v1/webhooks/{webhook}"),
                             ("GET", f"/v1/webhooks/{webhook}/deliveries"),
                             ("POST", f"/v1/webhooks/{webhook}/ping"),
                             ("DELETE", f"/v1/webhooks/{webhook}")):
            # Its own namespace: not there. The victim's: refused by RBAC.
            assert intruder.request(method, path).status_code == 404
            crossing = intruder.request(method, path, params={"namespace": victim})
            assert crossing.status_code == 403, crossing.text
        patched = intruder.patch(f"/v1/webhooks/{webhook}", params={"namespace": victim},
                                 json={"url": "https://attacker.example/steal"})
        assert patched.status_code == 403
        kept = owner.get(f"/v1/webhooks/{webhook}").json()
        assert kept["url"] == "http://127.0.0.1:9/hook" and SECRET not in str(kept)
        owner.close()
        intruder.close()

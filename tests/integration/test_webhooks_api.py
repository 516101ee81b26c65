"""/v1/webhooks input handling: every bad body or parameter is a 400 naming it, and a refused
change leaves the webhook as it was. No operator needed: the API alone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from lightkube import Client
from lightkube.resources.core_v1 import Secret

from hybridcloud.controlplane import ControlPlane
from hybridcloud.kube.resources import WebhookSubscriptionResource

from .api_support import serve
from .webhook_support import SECRET, api_settings, tenant

pytestmark = pytest.mark.integration
URL = "http://127.0.0.1:9/hook"


@pytest.fixture
def http(management: ControlPlane, kube: Client, namespace: str) -> Iterator[httpx.Client]:
    with serve(api_settings(management.kubeconfig)) as base, httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {tenant(kube, namespace)}"},
            timeout=30) as client:
        yield client


def refused(answer: httpx.Response, field: str) -> None:
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "INVALID_REQUEST" and field in error["details"]["field"], error
    assert SECRET not in answer.text


@pytest.mark.parametrize(("body", "field"), [
    ({"url": "ftp://example.com/x"}, "url"),
    ({"url": "not a url at all"}, "url"),
    ({"url": "https://user:pw@example.com/x"}, "url"),
    ({"url": "https://example.com/" + "a" * 3000}, "url"),
    ({"events": ["cluster.exploded"]}, "events"),
    ({"events": []}, "events"),
    ({"secret": "short"}, "secret"),
    ({"secret": "x" * 1000}, "secret"),
    ({"active": "maybe"}, "active"),
])
def test_bad_webhook_bodies_are_refused_naming_the_field(
        http: httpx.Client, kube: Client, namespace: str, body: dict[str, Any],
        field: str) -> None:
    full = {"url": URL, "events": ["cluster.ready"], "secret": SECRET, **body}
    refused(http.post("/v1/webhooks", json=full), field)
    assert not list(kube.list(WebhookSubscriptionResource, namespace=namespace))


def test_a_webhook_is_created_read_changed_and_deleted_without_its_secret_ever_returned(
        http: httpx.Client, kube: Client, namespace: str) -> None:
    created = http.post("/v1/webhooks", json={"url": URL, "events": ["cluster.ready",
                                                                      "cluster.ready"],
                                              "secret": SECRET})
    assert created.status_code == 201, created.text
    webhook = created.json()
    assert webhook["events"] == ["cluster.ready"] and webhook["active"] is True
    stored = kube.get(WebhookSubscriptionResource, webhook["id"], namespace=namespace)
    secret = kube.get(Secret, stored["spec"]["secretRef"], namespace=namespace)
    assert secret.metadata.ownerReferences[0].uid == stored["metadata"]["uid"]

    refused(http.patch(f"/v1/webhooks/{webhook['id']}", json={"url": "gopher://x"}), "url")
    refused(http.patch(f"/v1/webhooks/{webhook['id']}", json={"events": ["nope"]}), "events")
    assert http.get(f"/v1/webhooks/{webhook['id']}").json()["url"] == URL  # nothing lost

    changed = http.patch(f"/v1/webhooks/{webhook['id']}", json={
        "active": False, "events": ["cluster.failed"], "secret": SECRET + "-rotated"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["active"], changed.json()["events"]) == (False, ["cluster.failed"])
    listing = http.get("/v1/webhooks").json()
    assert listing["total"] == 1 and "rotated" not in str(listing) and SECRET not in str(listing)

    assert http.get("/v1/webhooks/nope").status_code == 404
    missing = http.post(f"/v1/webhooks/{webhook['id']}/deliveries/abc123/redeliver")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
    refused(http.post(f"/v1/webhooks/{webhook['id']}/deliveries/NOT-HEX/redeliver"),
            "delivery_id")
    assert http.delete(f"/v1/webhooks/{webhook['id']}").status_code == 204
    assert http.get(f"/v1/webhooks/{webhook['id']}").status_code == 404
    assert not [s for s in kube.list(Secret, namespace=namespace)
                if s.metadata.name == stored["spec"]["secretRef"]]

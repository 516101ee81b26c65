"""Webhooks end to end: REST subscription -> real operator -> a real receiver process.

Clusters use the benchmark's instant provider (every cloud call succeeds at once), so the
transitions come fast and only the platform's own machinery is under test.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lightkube import Client
from lightkube.types import PatchType

from hybridcloud.controlplane import ControlPlane
from hybridcloud.events.transitions import event_id
from hybridcloud.kube.resources import HybridClusterResource

from .api_support import serve
from .harness import TENANT_DEFAULTS, OperatorProcess, eventually
from .webhook_support import OPERATOR_ENV, SECRET, Receiver, api_settings, receiver, tenant

pytestmark = pytest.mark.integration

CLUSTER_EVENTS = ["cluster.created", "cluster.updated", "cluster.scaled", "cluster.ready",
                  "cluster.failed", "cluster.deleted"]
MAX_NODES = 200


def cluster(name: str, size: int = 1, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
            "metadata": {"name": name},
            "spec": {"provider": "local", "version": "v1.37.2",
                     "nodeGroups": [{"name": "workers", "size": size}], **spec}}


@pytest.fixture
def operator(management: ControlPlane, namespace: str,
             tmp_path: Path) -> Iterator[OperatorProcess]:
    process = OperatorProcess(management.kubeconfig, namespace, tmp_path, env={
        **OPERATOR_ENV, "HYBRIDCLOUD_BENCH_PROVIDER_DIR": str(tmp_path / "instant"),
        # A node quota gives a cluster.failed on demand (a cluster above it is refused).
        TENANT_DEFAULTS: json.dumps({"clusters": {"allowDefaultCredentials": True,
                                                  "maxNodes": MAX_NODES}})})
    process.start()
    yield process
    process.close()


@pytest.fixture
def http(management: ControlPlane, kube: Client, namespace: str) -> Iterator[httpx.Client]:
    with serve(api_settings(management.kubeconfig)) as base, httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {tenant(kube, namespace)}"},
            timeout=30) as client:
        yield client


def subscribe(http: httpx.Client, url: str, events: list[str] = CLUSTER_EVENTS) -> str:
    created = http.post("/v1/webhooks", json={"url": url, "events": events, "secret": SECRET,
                                              "active": True})
    assert created.status_code == 201, created.text
    assert "secret" not in created.text.lower().replace("secretref", "")
    return str(created.json()["id"])


def wait_for(target: Receiver, operator: OperatorProcess, wanted: list[str],
             timeout: float = 60) -> list[dict[str, Any]]:
    def probe() -> list[dict[str, Any]] | None:
        got = target.delivered()
        return got if Counter(r["event"] for r in got) >= Counter(wanted) else None
    return eventually(probe, timeout=timeout, interval=0.3, message=lambda: (
        f"receiver got {[r['event'] for r in target.delivered()]}, wanted {wanted}\n"
        + operator.tail(30)))


def test_every_cluster_transition_arrives_once_signed_in_the_contract_shape(
        http: httpx.Client, kube: Client, namespace: str, operator: OperatorProcess,
        tmp_path: Path) -> None:
    with receiver(tmp_path) as target:
        subscribe(http, target.url)
        kube.create(HybridClusterResource.from_dict(cluster("web")), namespace=namespace)
        wait_for(target, operator, ["cluster.created", "cluster.ready"])
        kube.patch(HybridClusterResource, "web", {"spec": {"nodeGroups": [
            {"name": "workers", "size": 3}]}}, namespace=namespace, patch_type=PatchType.MERGE)
        wait_for(target, operator, ["cluster.created", "cluster.ready", "cluster.scaled",
                                    "cluster.updated"])
        # Above the namespace's node quota: refused, a permanent failure.
        kube.create(HybridClusterResource.from_dict(cluster("broken", size=MAX_NODES + 1)),
                    namespace=namespace)
        wait_for(target, operator, ["cluster.failed"])
        uid = kube.get(HybridClusterResource, "web", namespace=namespace)["metadata"]["uid"]
        kube.delete(HybridClusterResource, "web", namespace=namespace)
        got = wait_for(target, operator, CLUSTER_EVENTS)
        time.sleep(2)  # anything duplicated would arrive now
        got = target.delivered()

    assert all(r["verified"] for r in target.records()), "a signature did not verify"
    assert all(r["answered"] == 200 for r in target.records())
    ids = Counter(r["id"] for r in got)
    assert all(n == 1 for n in ids.values()), f"duplicates without a restart: {ids}"
    web = [r for r in got if r["body"]["data"]["name"] == "web"]
    assert [r["event"] for r in web] == ["cluster.created", "cluster.ready", "cluster.scaled",
                                         "cluster.updated", "cluster.deleted"]  # in order
    for record in got:
        body = record["body"]
        assert set(body) == {"id", "event", "timestamp", "data"} and body["id"] == record["id"]
        assert body["data"]["cluster_id"] == body["data"]["name"]
        assert body["data"]["provider"] == "local"
    assert web[-1]["id"] == event_id(uid, "deleted", "cluster.deleted")


def test_a_receiver_answering_500_first_gets_the_retry_and_the_api_shows_both_attempts(
        http: httpx.Client, kube: Client, namespace: str, operator: OperatorProcess,
        tmp_path: Path) -> None:
    with receiver(tmp_path, fail_first=1) as target:
        webhook = subscribe(http, target.url, ["cluster.ready"])
        kube.create(HybridClusterResource.from_dict(cluster("retried")), namespace=namespace)
        (ready,) = wait_for(target, operator, ["cluster.ready"])
    answers = [r["answered"] for r in target.records() if r["id"] == ready["id"]]
    assert answers == [500, 200]

    def succeeded() -> dict[str, Any] | None:
        listing = http.get(f"/v1/webhooks/{webhook}/deliveries")
        assert listing.status_code == 200, listing.text
        return next((d for d in listing.json()["deliveries"]
                     if d["event_id"] == ready["id"] and d["status"] == "succeeded"), None)
    delivery = eventually(succeeded, timeout=20)
    assert delivery["attempts"] == 2 and delivery["status_code"] == 200


def test_a_receiver_down_for_the_whole_retry_window_leaves_a_failed_delivery_in_the_api(
        http: httpx.Client, kube: Client, namespace: str, operator: OperatorProcess,
        tmp_path: Path) -> None:
    target = Receiver(tmp_path)  # never started: nothing listens on its port
    webhook = subscribe(http, target.url, ["cluster.ready"])
    kube.create(HybridClusterResource.from_dict(cluster("unheard")), namespace=namespace)

    def failed() -> dict[str, Any] | None:
        listing = http.get(f"/v1/webhooks/{webhook}/deliveries").json()["deliveries"]
        return next((d for d in listing if d["status"] == "failed"), None)
    delivery = eventually(failed, timeout=40, message=lambda: operator.tail(30))
    assert delivery["event"] == "cluster.ready" and delivery["attempts"] >= 3
    assert delivery["error"].startswith("connection failed") and delivery["next_retry"] is None
    assert http.get(f"/v1/webhooks/{webhook}").json()["failed"] >= 1

    # Redelivery once the receiver is back: a new delivery of the same event id.
    target.start()
    try:
        again = http.post(f"/v1/webhooks/{webhook}/deliveries/{delivery['id']}/redeliver")
        assert again.status_code == 202, again.text
        (got,) = wait_for(target, operator, ["cluster.ready"])
        assert got["id"] == delivery["event_id"] and got["delivery"] == again.json()[
            "delivery_id"]
        pinged = http.post(f"/v1/webhooks/{webhook}/ping")
        assert pinged.status_code == 202, pinged.text
        wait_for(target, operator, ["cluster.ready", "ping"])
    finally:
        target.stop()


def test_sigkill_at_random_points_during_a_burst_of_200_transitions_loses_no_event(
        http: httpx.Client, kube: Client, namespace: str, operator: OperatorProcess,
        tmp_path: Path) -> None:
    rng = random.Random()
    clusters = 100  # created + ready each: 200 transitions
    with receiver(tmp_path) as target:
        subscribe(http, target.url)
        for index in range(clusters):
            kube.create(HybridClusterResource.from_dict(cluster(f"burst-{index:03d}")),
                        namespace=namespace)
        # Kill at random points of the burst, each after a random number of deliveries (so the
        # kill lands with transitions recorded and deliveries not yet stored as done).
        kills = 0
        for point in sorted(rng.sample(range(5, 2 * clusters - 20), 3)):
            eventually(lambda point=point: len(target.delivered()) >= point, timeout=120,
                       interval=0.05, message=lambda: operator.tail())
            operator.kill()
            kills += 1
            operator.start()

        def expected() -> set[str] | None:
            ids = set()
            for obj in kube.list(HybridClusterResource, namespace=namespace):
                for entry in (obj.status or {}).get("transitions") or []:
                    ids.add(event_id(obj.metadata.uid, entry["seq"], entry["type"]))
            return ids if len(ids) >= 2 * clusters else None
        wanted = eventually(expected, timeout=180, interval=1, message=lambda: operator.tail())
        eventually(lambda: wanted <= {r["id"] for r in target.delivered()}, timeout=120,
                   interval=0.5, message=lambda: (
                       f"{len(wanted - {r['id'] for r in target.delivered()})} events never "
                       "delivered\n" + operator.tail()))
        got = target.delivered()
    counts = Counter(r["id"] for r in got)
    types = Counter(r["event"] for r in got if r["id"] in wanted and counts[r["id"]])
    print(f"\n{kills} kills: {len(wanted)} events, {len(got)} deliveries, "
          f"{sum(n - 1 for n in counts.values())} duplicates, by type {dict(types)}")
    assert len(wanted) == 2 * clusters
    assert {r["event"] for r in got} == {"cluster.created", "cluster.ready"}
    forged = [r for r in target.records() if not r["verified"] and not r["truncated"]]
    assert not forged, forged[:3]

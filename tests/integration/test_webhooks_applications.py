"""``application.*`` webhooks end to end: the real operator delivering a git application to a
real `local` member (a control plane with kwok nodes), a subscription made through the REST API,
and a real receiver process verifying every signature.

The application's life: deployed, a new commit (updated), its member frozen with SIGSTOP
(degraded) and resumed (deployed again), deleted; a second application with a path that does
not exist fails. Each transition must arrive exactly once, in order, in the contract's shape.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lightkube import Client

from hybridcloud.controlplane import ControlPlane
from hybridcloud.events.transitions import event_id
from hybridcloud.kube.resources import HybridClusterResource, MultiClusterApplicationResource

from .api_support import serve
from .harness import OperatorProcess, delivery_operator, eventually, fresh_namespace, wait_phase
from .test_application_delivery import Repo, create_app, refresh, sample_files, wait_app
from .test_member_health import component_pid, status
from .webhook_support import OPERATOR_ENV, SECRET, Receiver, api_settings, receiver, tenant

pytestmark = pytest.mark.integration

APPLICATION_EVENTS = ["application.deployed", "application.updated", "application.degraded",
                      "application.failed", "application.deleted"]
MEMBER = "solo"
GRACE = 8.0  # the member is Ready=False (so the app degraded) this long after it stops answering
# Real clusters, not the webhook tests' instant provider.
WEBHOOK_ENV = {k: v for k, v in OPERATOR_ENV.items()
               if k != "HYBRIDCLOUD_OPERATOR_PROVIDER_OVERRIDES"}


@pytest.fixture(scope="module")
def app_namespace(kube: Client) -> Iterator[str]:
    with fresh_namespace(kube, "app-hooks") as name:
        yield name


@pytest.fixture(scope="module")
def operator(management: ControlPlane, app_namespace: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    with delivery_operator(management.kubeconfig, app_namespace,
                           tmp_path_factory.mktemp("operator"), **WEBHOOK_ENV,
                           HYBRIDCLOUD_OPERATOR_HEALTH_PROBE_INTERVAL="1",
                           HYBRIDCLOUD_OPERATOR_HEALTH_PROBE_TIMEOUT="2",
                           HYBRIDCLOUD_OPERATOR_HEALTH_GRACE_PERIOD=str(GRACE),
                           HYBRIDCLOUD_OPERATOR_HEALTH_RECOVER_AFTER="2") as process:
        yield process


@pytest.fixture(scope="module")
def member(kube: Client, app_namespace: str, operator: OperatorProcess) -> str:
    kube.create(HybridClusterResource.from_dict({
        "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
        "metadata": {"name": MEMBER},
        "spec": {"provider": "local", "version": "v1.37.2", "region": "local-a",
                 "nodeGroups": [{"name": "workers", "size": 1}]}}), namespace=app_namespace)
    wait_phase(kube, app_namespace, MEMBER, "Active", operator, timeout=180)
    return MEMBER


@pytest.fixture
def http(management: ControlPlane, kube: Client, app_namespace: str) -> Iterator[httpx.Client]:
    with serve(api_settings(management.kubeconfig)) as base, httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {tenant(kube, app_namespace)}"},
            timeout=30) as client:
        yield client


def events_of(target: Receiver, name: str) -> list[dict[str, Any]]:
    return [r for r in target.delivered() if r["body"]["data"]["name"] == name]


def wait_events(target: Receiver, operator: OperatorProcess, name: str, wanted: list[str],
                timeout: float = 90) -> list[dict[str, Any]]:
    """Waits until ``name``'s deliveries are at least ``wanted`` (as a multiset)."""
    def probe() -> list[dict[str, Any]] | None:
        got = events_of(target, name)
        return got if Counter(r["event"] for r in got) >= Counter(wanted) else None
    return eventually(probe, timeout=timeout, interval=0.3, message=lambda: (
        f"{name}: receiver got {[r['event'] for r in events_of(target, name)]}, wanted "
        f"{wanted}\n{operator.tail(40)}"))


def test_each_application_transition_arrives_once_signed_in_the_contract_shape(
        http: httpx.Client, kube: Client, app_namespace: str, operator: OperatorProcess,
        member: str, tmp_path: Path) -> None:
    ns = app_namespace
    (tmp_path / "repo").mkdir()
    repo = Repo(tmp_path / "repo")
    first = repo.commit(sample_files())
    with receiver(tmp_path) as target:
        created = http.post("/v1/webhooks", json={
            "url": target.url, "events": APPLICATION_EVENTS, "secret": SECRET, "active": True})
        assert created.status_code == 201, created.text

        uid = create_app(kube, ns, "shop", repo, "k8s/manifests", targetNamespace="shop",
                         placement=[{"cluster": member}])
        wait_events(target, operator, "shop", ["application.deployed"])

        second = repo.commit(sample_files(greeting="hello again"))
        refresh(kube, ns, "shop")
        wait_events(target, operator, "shop", ["application.deployed", "application.updated"])
        wait_app(kube, ns, "shop", operator, lambda o: status(o).get("phase") == "Deployed" and
                 status(o).get("sourceRevision") == second, "Deployed at the new commit")

        apiserver = component_pid(operator, kube, ns, member, "kube-apiserver")
        os.kill(apiserver, signal.SIGSTOP)
        try:
            wait_events(target, operator, "shop", ["application.deployed",
                                                   "application.updated",
                                                   "application.degraded"],
                        timeout=GRACE + 40)
        finally:
            os.kill(apiserver, signal.SIGCONT)
        wait_events(target, operator, "shop", ["application.deployed", "application.updated",
                                               "application.degraded",
                                               "application.deployed"], timeout=120)

        create_app(kube, ns, "nowhere", repo, "does/not/exist", targetNamespace="nowhere",
                   placement=[{"cluster": member}])
        wait_events(target, operator, "nowhere", ["application.failed"])

        kube.delete(MultiClusterApplicationResource, "shop", namespace=ns)
        wait_events(target, operator, "shop", ["application.deployed", "application.updated",
                                               "application.degraded",
                                               "application.deployed",
                                               "application.deleted"])
        time.sleep(3)  # a duplicate or a flapping transition would arrive now
        shop = events_of(target, "shop")
        nowhere = events_of(target, "nowhere")

    assert all(r["verified"] for r in target.records()), "a signature did not verify"
    assert [r["event"] for r in shop] == ["application.deployed", "application.updated",
                                          "application.degraded", "application.deployed",
                                          "application.deleted"], "once per transition, in order"
    assert [r["event"] for r in nowhere] == ["application.failed"]
    ids = Counter(r["id"] for r in shop + nowhere)
    assert all(n == 1 for n in ids.values()), f"duplicates without a restart: {ids}"
    assert shop[-1]["id"] == event_id(uid, "deleted", "application.deleted")
    for record in shop[:-1] + nowhere:
        body = record["body"]
        assert set(body) == {"id", "event", "timestamp", "data"} and body["id"] == record["id"]
        data = body["data"]
        assert set(data) >= {"application_id", "name", "cluster_id", "version", "status"}
        assert data["application_id"] == data["name"]
    versions = [r["body"]["data"]["version"] for r in shop[:-1]]
    assert versions == [first, second, second, second]
    # The contract's words (its application.deployed example says "healthy").
    assert [r["body"]["data"]["status"] for r in shop[:-1]] == [
        "healthy", "healthy", "degraded", "healthy"]
    assert all(r["body"]["data"]["cluster_id"] == member for r in shop[:-1])
    assert nowhere[0]["body"]["data"]["status"] == "failed"
    assert shop[-1]["body"]["data"] == {"application_id": "shop", "name": "shop",
                                        "status": "deleted"}

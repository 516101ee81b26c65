"""The REST API reading what the real operator wrote: no status is written by the test.

The contract tests (test_api_contract.py) hand-write the status the operator would produce;
here a `local` cluster goes POST /v1/clusters -> the operator process -> a real member control
plane, and GET /v1/clusters/{id} and /v1/operations/{id} must report it as the contract says.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lightkube import Client

from hybridcloud.api.settings import Settings, Tier
from hybridcloud.controlplane import ControlPlane

from .api_support import bearer, identity, serve
from .harness import OperatorProcess, eventually
from .test_api_contract import assert_error

pytestmark = pytest.mark.integration

VERSION = "v1.37.2"  # what the `local` provider builds


@pytest.fixture
def operator(management: ControlPlane, namespace: str, tmp_path: Path) -> Iterator[OperatorProcess]:
    process = OperatorProcess(management.kubeconfig, namespace, tmp_path)
    process.start()
    yield process
    process.close()


@pytest.fixture
def http(management: ControlPlane, kube: Client, namespace: str) -> Iterator[httpx.Client]:
    settings = Settings(kubeconfig=str(management.kubeconfig), auth_cache_seconds=1,
                        default_tier=Tier.ENTERPRISE, oauth_namespace="api-e2e-oauth")
    with serve(settings) as base, httpx.Client(
            base_url=base, headers=bearer(identity(kube, namespace, "tenant")),
            timeout=30) as client:
        yield client


def follow(http: httpx.Client, operation_id: str, final: str, operator: OperatorProcess,
           timeout: float = 180) -> tuple[list[str], dict[str, Any]]:
    """Poll the operation until ``final``; returns every status seen (in order) and the last
    body. Any other terminal status fails at once with the operation's message."""
    seen: list[str] = []

    def probe() -> dict[str, Any] | None:
        answer = http.get(f"/v1/operations/{operation_id}")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        if not seen or seen[-1] != body["status"]:
            seen.append(body["status"])
        assert body["status"] not in {"failed", "superseded"} - {final}, body
        return body if body["status"] == final else None

    last = eventually(probe, timeout=timeout, interval=0.5, message=lambda: (
        f"operation {operation_id} never {final}; seen {seen}\n{operator.tail(40)}"))
    return seen, last


def test_a_local_cluster_created_through_the_api_is_reported_active_from_the_operators_status(
        http: httpx.Client, namespace: str, operator: OperatorProcess) -> None:
    created = http.post("/v1/clusters", json={
        "name": "e2e", "provider": "local", "version": VERSION,
        "configuration": {"node_pools": [{"name": "workers", "size": 2,
                                          "labels": {"tier": "apps"}}]}})
    assert created.status_code == 201, created.text
    accepted = created.json()
    assert (accepted["id"], accepted["status"]) == ("e2e", "creating")

    seen, operation = follow(http, accepted["operation_id"], "succeeded", operator)
    # The operator reported progress before it finished: the API saw work in flight.
    assert seen[-1] == "succeeded" and len(seen) >= 2, seen
    assert set(seen[:-1]) <= {"pending", "running"}, seen
    assert operation["type"] == "create"
    assert operation["resource"] == {"kind": "cluster", "id": "e2e", "namespace": namespace}
    assert operation["phase"] == "Active"
    assert operation["observed_generation"] == operation["generation"] == 1
    conditions = {c["type"]: c["status"] for c in operation["conditions"]}
    for type_ in ("Ready", "InfrastructureReady", "ControlPlaneReady", "NodePoolsReady"):
        assert conditions.get(type_) == "True", (type_, conditions)

    cluster = http.get("/v1/clusters/e2e")
    assert cluster.status_code == 200, cluster.text
    body = cluster.json()
    assert (body["id"], body["provider"], body["status"], body["version"]) == \
        ("e2e", "local", "active", VERSION)
    # Written by the operator from the member cluster it started: one master, two workers.
    assert body["nodes"] == {"total": 3, "ready": 3, "master": 1, "worker": 2}
    assert [(p["name"], p["size"], p["labels"]) for p in body["configuration"]["node_pools"]] \
        == [("workers", 2, {"tier": "apps"})]
    assert body["updated_at"] is not None
    listed = http.get("/v1/clusters").json()["clusters"]
    assert [(c["id"], c["status"]) for c in listed] == [("e2e", "active")]

    deleted = http.delete("/v1/clusters/e2e")
    assert deleted.status_code == 202, deleted.text
    assert deleted.json()["status"] == "deleting"
    seen, operation = follow(http, deleted.json()["operation_id"], "succeeded", operator)
    assert operation["type"] == "delete" and operation["message"] == "deleted"
    assert_error(http.get("/v1/clusters/e2e"), 404, "CLUSTER_NOT_FOUND")


def test_a_cluster_the_operator_cannot_build_is_reported_failed_with_the_operators_message(
        http: httpx.Client, operator: OperatorProcess) -> None:
    created = http.post("/v1/clusters", json={
        "name": "nocreds", "provider": "aws", "region": "us-east-1", "version": "v1.31",
        "configuration": {"node_pools": [{"name": "workers", "size": 1,
                                          "instance_type": "m5.large"}]}})
    assert created.status_code == 201, created.text
    _, operation = follow(http, created.json()["operation_id"], "failed", operator, timeout=90)
    # No aws credentials exist in this namespace: the operator says which Secret it lacks.
    assert operation["phase"] == "Failed"
    assert "hybridcloud-aws-credentials" in (operation["message"] or ""), operation
    body = http.get("/v1/clusters/nocreds").json()
    assert body["status"] == "failed"

"""Every request example of the API contract, replayed against the live API on a real apiserver;
status codes and response shapes checked field by field, plus the documented error cases."""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from lightkube import Client
from lightkube.types import PatchType

from hybridcloud.api.settings import Settings, Tier
from hybridcloud.controlplane import ControlPlane
from hybridcloud.kube.resources import HybridClusterResource, MultiClusterApplicationResource

from .api_support import (
    bearer,
    condition,
    identity,
    serve,
    set_application_status,
    set_cluster_status,
)

pytestmark = pytest.mark.integration

CREATE_CLUSTER = {
    "name": "new-cluster", "provider": "openstack", "region": "us-east-1", "version": "v1.28.0",
    "configuration": {
        "node_pools": [
            {"name": "master-pool", "size": 3, "instance_type": "m5.xlarge", "disk_size": 100,
             "auto_scaling": False},
            {"name": "worker-pool", "size": 5, "instance_type": "m5.large", "disk_size": 50,
             "auto_scaling": {"enabled": True, "min_size": 3, "max_size": 10,
                              "target_cpu": 70}}],
        "networking": {"cluster_cidr": "10.244.0.0/16", "service_cidr": "10.96.0.0/12",
                       "cni": "cilium"},
        "addons": ["ingress-nginx", "cert-manager"]}}

DEPLOY_APPLICATION = {
    "name": "sample-app", "namespace": "production",
    "source": {"type": "git", "repository": "https://github.com/example/sample-app.git",
               "path": "k8s/manifests", "revision": "main"},
    "sync_policy": {"automated": True, "prune": True, "self_heal": True},
    "values": {"image": {"tag": "v1.2.3"}, "replicas": 3,
               "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                             "limits": {"cpu": "500m", "memory": "512Mi"}}}}

MULTI_CLUSTER = {
    "name": "distributed-app",
    "clusters": [{"cluster_id": "cluster-001", "components": ["frontend", "api"]},
                 {"cluster_id": "cluster-002", "components": ["database", "cache"]}],
    "source": {"type": "git", "repository": "https://github.com/example/distributed-app.git",
               "path": "manifests"},
    "placement_policy": {"strategy": "availability", "constraints": [
        {"type": "region_diversity", "min_regions": 2},
        {"type": "provider_diversity", "min_providers": 2}]}}

OPERATION_ID = re.compile(r"^op-[0-9a-f-]{36}-(\d+|delete)$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture(scope="module")
def api(management: ControlPlane) -> Iterator[str]:
    settings = Settings(kubeconfig=str(management.kubeconfig), auth_cache_seconds=1,
                        default_tier=Tier.ENTERPRISE, oauth_namespace="api-contract-oauth")
    with serve(settings) as base:
        yield base


@pytest.fixture
def http(api: str, kube: Client, namespace: str) -> Iterator[httpx.Client]:
    token = identity(kube, namespace, "tenant")
    with httpx.Client(base_url=api, headers=bearer(token), timeout=30) as client:
        yield client


def cluster_body(name: str, provider: str = "openstack", region: str = "us-east-1") -> dict[
        str, Any]:
    body = copy.deepcopy(CREATE_CLUSTER)
    body.update(name=name, provider=provider, region=region)
    return body


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details", "request_id"}
    assert error["code"] == code
    assert error["request_id"] == response.headers["X-Request-ID"]
    assert isinstance(error["details"], dict)
    return dict(error["details"])


class TestClusters:
    def test_create_cluster_returns_the_documented_body_and_writes_the_crd(
            self, http: httpx.Client, kube: Client, namespace: str) -> None:
        response = http.post("/v1/clusters", json=CREATE_CLUSTER)
        assert response.status_code == 201, response.text
        body = response.json()
        assert {"id", "name", "status", "operation_id", "created_at"} <= set(body)
        assert body["id"] == body["name"] == "new-cluster"
        assert body["status"] == "creating"
        assert OPERATION_ID.match(body["operation_id"])
        assert TIMESTAMP.match(body["created_at"])
        spec = kube.get(HybridClusterResource, "new-cluster", namespace=namespace)["spec"]
        assert spec["provider"] == "openstack" and spec["region"] == "us-east-1"
        assert spec["nodeGroups"][0] == {"name": "master-pool", "size": 3, "role": "worker",
                                         "instanceType": "m5.xlarge", "diskSize": 100,
                                         "autoScaling": {"enabled": False}}
        assert spec["nodeGroups"][1]["autoScaling"] == {"enabled": True, "minSize": 3,
                                                        "maxSize": 10, "targetCPU": 70}
        assert spec["networking"] == {"clusterCIDR": "10.244.0.0/16",
                                      "serviceCIDR": "10.96.0.0/12", "cni": "cilium"}
        assert spec["addons"] == ["ingress-nginx", "cert-manager"]

    def test_list_clusters_matches_the_contract_shape_pages_and_filters(
            self, http: httpx.Client, kube: Client, namespace: str) -> None:
        for name, provider, region in (("cluster-001", "openstack", "us-west-1"),
                                       ("cluster-002", "aws", "us-west-2"),
                                       ("cluster-003", "aws", "eu-west-1")):
            assert http.post("/v1/clusters",
                             json=cluster_body(name, provider, region)).status_code == 201
        set_cluster_status(kube, namespace, "cluster-001", "Active", ready=True, extra={
            "nodes": {"total": 10, "ready": 10, "master": 3, "worker": 7},
            "version": "v1.28.0"})
        listing = http.get("/v1/clusters").json()  # read-your-writes: no sleeping needed
        assert set(listing) == {"clusters", "total", "page", "per_page"}
        assert (listing["total"], listing["page"], listing["per_page"]) == (3, 1, 10)
        first = listing["clusters"][0]
        assert set(first) >= {"id", "name", "provider", "region", "status", "version", "nodes",
                              "created_at", "updated_at"}
        assert [c["id"] for c in listing["clusters"]] == ["cluster-001", "cluster-002",
                                                          "cluster-003"]

        def active() -> bool:
            got = http.get("/v1/clusters/cluster-001").json()
            return bool(got["status"] == "active")
        assert_eventually(active)
        first = http.get("/v1/clusters", params={"provider": "openstack"}).json()["clusters"][0]
        assert first["nodes"] == {"total": 10, "ready": 10, "master": 3, "worker": 7}
        assert first["status"] == "active" and first["region"] == "us-west-1"
        page = http.get("/v1/clusters", params={"page": 2, "per_page": 2}).json()
        assert [c["id"] for c in page["clusters"]] == ["cluster-003"] and page["total"] == 3
        aws = http.get("/v1/clusters", params={"provider": "aws", "region": "us-west-2"}).json()
        assert [c["id"] for c in aws["clusters"]] == ["cluster-002"] and aws["total"] == 1
        active_only = http.get("/v1/clusters", params={"status": "active"}).json()
        assert [c["id"] for c in active_only["clusters"]] == ["cluster-001"]

    def test_cluster_details_have_configuration_and_a_null_metrics_block(
            self, http: httpx.Client) -> None:
        http.post("/v1/clusters", json=cluster_body("cluster-001"))
        response = http.get("/v1/clusters/cluster-001")
        assert response.status_code == 200
        details = response.json()
        assert response.headers["ETag"].strip('"').isdigit()
        assert set(details) >= {"id", "name", "provider", "region", "status", "version",
                                "configuration", "metrics"}
        pools = details["configuration"]["node_pools"]
        assert set(pools[0]) >= {"name", "size", "instance_type", "disk_size", "labels",
                                 "taints"}
        assert pools[1]["auto_scaling"] == {"enabled": True, "min_size": 3, "max_size": 10,
                                            "target_cpu": 70}
        assert details["configuration"]["networking"] == {
            "cluster_cidr": "10.244.0.0/16", "service_cidr": "10.96.0.0/12", "cni": "cilium"}
        assert details["configuration"]["addons"] == ["ingress-nginx", "cert-manager"]
        assert details["metrics"] == {"cpu_usage": None, "memory_usage": None,
                                      "disk_usage": None,
                                      "network_io": {"ingress": None, "egress": None}}

    def test_patch_updates_the_spec_and_stale_if_match_is_a_conflict(
            self, http: httpx.Client, kube: Client, namespace: str) -> None:
        http.post("/v1/clusters", json=cluster_body("cluster-001"))
        etag = http.get("/v1/clusters/cluster-001").headers["ETag"]
        patched = http.patch("/v1/clusters/cluster-001", headers={"If-Match": etag},
                             json={"version": "v1.29.0", "configuration": {
                                 "node_pools": [{"name": "workers", "size": 2}]}})
        assert patched.status_code == 200, patched.text
        assert patched.json()["status"] == "updating"
        assert patched.json()["operation_id"].endswith("-2")
        spec = kube.get(HybridClusterResource, "cluster-001", namespace=namespace)["spec"]
        assert spec["version"] == "v1.29.0"
        assert [g["name"] for g in spec["nodeGroups"]] == ["workers"]
        assert spec["networking"]["cni"] == "cilium"  # untouched fields stay
        stale = http.patch("/v1/clusters/cluster-001", headers={"If-Match": etag},
                           json={"version": "v1.30.0"})
        assert assert_error(stale, 409, "CONFLICT")["reason"] == "stale"
        immutable = http.patch("/v1/clusters/cluster-001", json={"provider": "aws"})
        assert assert_error(immutable, 400, "INVALID_REQUEST")["field"] == "provider"

    def test_delete_is_accepted_and_the_cluster_disappears(
            self, http: httpx.Client, kube: Client, namespace: str) -> None:
        http.post("/v1/clusters", json=cluster_body("cluster-001"))
        response = http.delete("/v1/clusters/cluster-001")
        assert response.status_code == 202
        assert response.json()["status"] == "deleting"
        operation = response.json()["operation_id"]
        assert operation.endswith("-delete")
        # The finalizer holds the cluster until the provider side is gone; no operator runs
        # here, so release it the way the operator would.
        assert http.get("/v1/clusters/cluster-001").json()["status"] == "deleting"
        assert http.get(f"/v1/operations/{operation}").json()["status"] == "running"
        kube.patch(HybridClusterResource, "cluster-001", {"metadata": {"finalizers": None}},
                   namespace=namespace, patch_type=PatchType.MERGE)
        assert_eventually(lambda: http.get("/v1/clusters/cluster-001").status_code == 404)
        assert_error(http.get("/v1/clusters/cluster-001"), 404, "CLUSTER_NOT_FOUND")
        assert http.get(f"/v1/operations/{operation}").json()["status"] == "succeeded"


class TestApplications:
    def test_deploy_application_creates_a_single_placement_mca(
            self, http: httpx.Client, kube: Client, namespace: str) -> None:
        http.post("/v1/clusters", json=cluster_body("cluster-001"))
        response = http.post("/v1/clusters/cluster-001/applications", json=DEPLOY_APPLICATION)
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["id"], body["name"], body["status"]) == ("sample-app", "sample-app",
                                                              "creating")
        assert OPERATION_ID.match(body["operation_id"])
        spec = kube.get(MultiClusterApplicationResource, "sample-app", namespace=namespace)[
            "spec"]
        assert spec["placement"] == [{"cluster": "cluster-001"}]
        assert spec["targetNamespace"] == "production"
        assert spec["syncPolicy"] == {"automated": True, "prune": True, "selfHeal": True}
        assert spec["source"] == {"type": "git", "path": "k8s/manifests", "revision": "main",
                                  "repository": "https://github.com/example/sample-app.git"}
        assert spec["values"] == DEPLOY_APPLICATION["values"]

    def test_list_applications_reports_the_clusters_deployment_state(
            self, http: httpx.Client, kube: Client, namespace: str) -> None:
        http.post("/v1/clusters", json=cluster_body("cluster-001"))
        http.post("/v1/clusters/cluster-001/applications", json=DEPLOY_APPLICATION)
        pending = http.get("/v1/clusters/cluster-001/applications").json()
        assert pending["applications"][0]["status"] == "pending"
        set_application_status(kube, namespace, "sample-app", {
            "phase": "Deployed", "observedGeneration": 1,
            "conditions": [condition("Ready", "True", "Deployed", 1)],
            "deployments": [{"cluster": "cluster-001", "status": "Synced", "health": "Healthy",
                             "lastSync": "2025-08-17T15:30:00Z", "revision": "abc123",
                             "resources": {"deployments": 1, "services": 1, "pods": 3}}]})

        def healthy() -> Any:
            apps = http.get("/v1/clusters/cluster-001/applications").json()["applications"]
            return apps and apps[0]["status"] == "healthy" and apps[0]
        app = assert_eventually(healthy)
        assert app == {
            "id": "sample-app", "name": "sample-app", "namespace": "production",
            "status": "healthy", "sync_status": "synced", "health_status": "healthy",
            "created_at": app["created_at"], "last_sync": "2025-08-17T15:30:00Z",
            "revision": "abc123", "resources": {"deployments": 1, "services": 1, "pods": 3}}
        assert TIMESTAMP.match(app["created_at"])
        other = http.post("/v1/clusters", json=cluster_body("cluster-002"))
        assert other.status_code == 201
        assert http.get("/v1/clusters/cluster-002/applications").json()["applications"] == []

    def test_multi_cluster_deploy_places_on_both_clusters_with_the_policy(
            self, http: httpx.Client, kube: Client, namespace: str) -> None:
        http.post("/v1/clusters", json=cluster_body("cluster-001"))
        http.post("/v1/clusters", json=cluster_body("cluster-002", "aws", "us-west-2"))
        response = http.post("/v1/multi-cluster/applications", json=MULTI_CLUSTER)
        assert response.status_code == 201, response.text
        assert response.json()["id"] == "distributed-app"
        spec = kube.get(MultiClusterApplicationResource, "distributed-app",
                        namespace=namespace)["spec"]
        assert spec["placement"] == [
            {"cluster": "cluster-001", "components": ["frontend", "api"]},
            {"cluster": "cluster-002", "components": ["database", "cache"]}]
        assert spec["placementPolicy"] == {"strategy": "availability", "constraints": [
            {"type": "region_diversity", "minRegions": 2},
            {"type": "provider_diversity", "minProviders": 2}]}
        both = [http.get(f"/v1/clusters/{c}/applications").json()["total"]
                for c in ("cluster-001", "cluster-002")]
        assert both == [1, 1]

    def test_multi_cluster_status_counts_clusters_and_applications(
            self, http: httpx.Client, kube: Client, namespace: str) -> None:
        for name in ("cluster-001", "cluster-002", "cluster-003"):
            http.post("/v1/clusters", json=cluster_body(name))
        set_cluster_status(kube, namespace, "cluster-001", "Active", ready=True)
        set_cluster_status(kube, namespace, "cluster-002", "Active", ready=False)
        set_cluster_status(kube, namespace, "cluster-003", "Failed", ready=False)
        http.post("/v1/clusters/cluster-001/applications", json=DEPLOY_APPLICATION)
        set_application_status(kube, namespace, "sample-app", {"phase": "Deployed"})

        def counted() -> Any:
            status = http.get("/v1/multi-cluster/status").json()
            done = status["clusters"]["offline"] == 1 and status["applications"]["healthy"] == 1
            return done and status
        status = assert_eventually(counted)
        assert status["clusters"] == {"total": 3, "healthy": 1, "degraded": 1, "offline": 1,
                                      "provisioning": 0}
        assert status["applications"] == {"total": 1, "healthy": 1, "degraded": 0,
                                          "failed": 0, "progressing": 0}
        assert status["connectivity"] == {"inter_cluster_network": "not_configured",
                                          "service_mesh": "not_configured",
                                          "federation": "degraded"}
        assert set(status["performance"]) == {"avg_response_time", "cross_cluster_latency",
                                              "throughput"}
        assert status["performance"]["avg_response_time"].endswith("ms")


class TestOperations:
    def test_operation_progress_follows_the_objects_conditions(
            self, http: httpx.Client, kube: Client, namespace: str) -> None:
        created = http.post("/v1/clusters", json=cluster_body("cluster-001")).json()
        operation = http.get(f"/v1/operations/{created['operation_id']}").json()
        assert operation["status"] == "pending" and operation["type"] == "create"
        assert operation["resource"] == {"kind": "cluster", "id": "cluster-001",
                                         "namespace": namespace}
        set_cluster_status(kube, namespace, "cluster-001", "Creating", ready=False)
        assert_eventually(lambda: http.get(f"/v1/operations/{created['operation_id']}")
                          .json()["status"] == "running")
        set_cluster_status(kube, namespace, "cluster-001", "Active", ready=True)
        assert_eventually(lambda: http.get(f"/v1/operations/{created['operation_id']}")
                          .json()["status"] == "succeeded")
        updated = http.patch("/v1/clusters/cluster-001", json={"version": "v1.29.0"}).json()
        assert http.get(f"/v1/operations/{updated['operation_id']}").json()["status"] == \
            "pending"
        assert http.get(f"/v1/operations/{created['operation_id']}").json()["status"] == \
            "superseded"

    def test_unknown_or_malformed_operations_are_not_found(self, http: httpx.Client) -> None:
        assert_error(http.get(f"/v1/operations/op-{uuid.uuid4()}-1"), 404, "NOT_FOUND")
        assert_error(http.get("/v1/operations/op-12345"), 404, "NOT_FOUND")


class TestErrors:
    def test_unknown_cluster_lists_the_clusters_the_caller_may_see(
            self, http: httpx.Client) -> None:
        http.post("/v1/clusters", json=cluster_body("cluster-002"))
        details = assert_error(http.get("/v1/clusters/cluster-001"), 404, "CLUSTER_NOT_FOUND")
        assert details == {"cluster_id": "cluster-001", "available_clusters": ["cluster-002"]}
        for response in (http.post("/v1/clusters/cluster-001/applications",
                                   json=DEPLOY_APPLICATION),
                         http.get("/v1/clusters/cluster-001/applications"),
                         http.get("/v1/clusters/cluster-001/workloads"),
                         http.patch("/v1/clusters/cluster-001", json={"version": "v1.29.0"}),
                         http.delete("/v1/clusters/cluster-001")):
            assert_error(response, 404, "CLUSTER_NOT_FOUND")

    def test_duplicate_names_are_conflicts(self, http: httpx.Client) -> None:
        assert http.post("/v1/clusters", json=cluster_body("cluster-001")).status_code == 201
        assert_error(http.post("/v1/clusters", json=cluster_body("cluster-001")), 409,
                     "CONFLICT")
        assert http.post("/v1/clusters/cluster-001/applications",
                         json=DEPLOY_APPLICATION).status_code == 201
        assert_error(http.post("/v1/clusters/cluster-001/applications",
                               json=DEPLOY_APPLICATION), 409, "CONFLICT")

    @pytest.mark.parametrize(("mutate", "field"), [
        (lambda b: b["configuration"]["node_pools"][1]["auto_scaling"].update(min_size=20),
         "configuration.node_pools[1].auto_scaling"),
        (lambda b: b["configuration"]["node_pools"][0].update(size=0),
         "configuration.node_pools[0].size"),
        (lambda b: b["configuration"]["networking"].update(service_cidr="10.244.1.0/24"),
         "configuration.networking"),
        (lambda b: b["configuration"]["node_pools"].append({"name": "master-pool", "size": 1}),
         "configuration.node_pools"),
        (lambda b: b.pop("region"), "region"),
        (lambda b: b.update(colour="blue"), "colour"),
        (lambda b: b.update(labels={"not a label!": "x"}), "labels"),
    ])
    def test_invalid_cluster_bodies_name_the_offending_field(
            self, http: httpx.Client, kube: Client, namespace: str, mutate: Any,
            field: str) -> None:
        body = copy.deepcopy(CREATE_CLUSTER)
        mutate(body)
        details = assert_error(http.post("/v1/clusters", json=body), 400, "INVALID_REQUEST")
        assert details["field"].startswith(field), details
        assert list(kube.list(HybridClusterResource, namespace=namespace)) == []

    def test_malformed_json_and_bad_parameters_are_invalid_requests(
            self, http: httpx.Client) -> None:
        bad_json = http.post("/v1/clusters", content=b"{not json",
                             headers={"Content-Type": "application/json"})
        assert_error(bad_json, 400, "INVALID_REQUEST")
        assert assert_error(http.get("/v1/clusters", params={"per_page": 0}), 400,
                            "INVALID_REQUEST")["field"] == "per_page"
        assert assert_error(http.get("/v1/clusters", params={"namespace": "Not_A_NS"}), 400,
                            "INVALID_REQUEST")["field"] == "namespace"

    def test_request_ids_are_echoed_or_generated(self, http: httpx.Client) -> None:
        echoed = http.get("/v1/clusters", headers={"X-Request-ID": "req-abc123def456"})
        assert echoed.headers["X-Request-ID"] == "req-abc123def456"
        error = http.get("/v1/clusters/nope", headers={"X-Request-ID": "req-abc123def456"})
        assert error.json()["error"]["request_id"] == "req-abc123def456"
        generated = http.get("/v1/clusters", headers={"X-Request-ID": "bad id with spaces"})
        assert re.match(r"^req-[0-9a-f]{12}$", generated.headers["X-Request-ID"])


def assert_eventually(probe: Any, timeout: float = 10.0) -> Any:
    from .api_support import eventually

    return eventually(probe, timeout)

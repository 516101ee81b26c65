"""Hole 7 — the platform's cloud account. A hostile tenant creates HybridClusters without
`credentialsRef` (so the platform's own credentials would be used), points them at projects or
roles of other accounts, and asks for more clusters and nodes than it was given.

The real operator runs with the production defaults for tenants; the clouds are the wire-level
fakes of `tests/fakes/` holding the platform's default credentials. Every refusal must come with a
Stalled condition naming the field or limit, and with no request at all reaching the cloud.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Event, Secret
from lightkube.types import PatchType

from hybridcloud.api.settings import Settings, Tier
from hybridcloud.controlplane import ControlPlane
from hybridcloud.kube.resources import HybridClusterResource
from hybridcloud.models import TenantRules
from tests.integration.api_support import bearer, identity, serve
from tests.integration.clouds import EKSCloud, GKECloud
from tests.integration.harness import (
    TENANT_DEFAULTS,
    OperatorProcess,
    condition,
    eventually,
    get_cluster,
    wait_phase,
)

from .policies import tenant_policy

pytestmark = pytest.mark.integration
Cloud = GKECloud | EKSCloud


@pytest.fixture(scope="module", params=["gcp", "aws"])
def cloud(request: pytest.FixtureRequest) -> Iterator[Cloud]:
    fake: Cloud = GKECloud() if request.param == "gcp" else EKSCloud()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def operator(management: ControlPlane, kube: Client, namespace: str, tmp_path: Path,
             cloud: Cloud) -> Iterator[OperatorProcess]:
    # The platform's default credentials are there, as in production.
    kube.create(Secret(metadata=ObjectMeta(name=f"hybridcloud-{cloud.provider}-credentials",
                                           namespace=namespace),
                       stringData=cloud.credentials()))
    process = OperatorProcess(management.kubeconfig, namespace, tmp_path,
                              env={TENANT_DEFAULTS: "{}"})  # production defaults
    process.start()
    yield process
    process.close()


def requests_at(cloud: Cloud) -> int:
    """Every request the cloud's fake received (any method, any path)."""
    return len(cloud.fake.server.requests)


def cluster(cloud: Cloud, name: str, size: int = 1, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
            "metadata": {"name": name},
            "spec": {"provider": cloud.provider, "region": cloud.region,
                     "version": cloud.version,
                     "nodeGroups": [{"name": "workers", "size": size,
                                     "instanceType": cloud.instance_type}], **spec}}


def create(kube: Client, namespace: str, body: dict[str, Any]) -> None:
    kube.create(HybridClusterResource.from_dict(body), namespace=namespace)


def wait_stalled(kube: Client, namespace: str, name: str, reason: str,
                 operator: OperatorProcess) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        obj = get_cluster(kube, namespace, name)
        stalled = condition(obj, "Stalled") or {}
        if obj and stalled.get("status") == "True" and stalled.get("reason") == reason and \
                obj["status"].get("observedGeneration") == obj["metadata"]["generation"]:
            return obj
        return None
    return eventually(probe, timeout=60, message=lambda: (
        f"{name} not Stalled/{reason}: {(get_cluster(kube, namespace, name) or {}).get('status')}"
        f"\n{operator.tail(30)}"))


def assert_no_secret_shown(kube: Client, namespace: str, obj: dict[str, Any],
                           cloud: Cloud) -> None:
    shown = str(obj.get("status")) + " ".join(
        str(e.message) for e in kube.list(Event, namespace=namespace))
    for value in cloud.credentials().values():
        if not value.startswith("http"):
            assert value not in shown, "a credential appears in status or events"


def test_default_credentials_are_refused_until_the_namespace_opts_in(
        kube: Client, namespace: str, operator: OperatorProcess, cloud: Cloud) -> None:
    before = requests_at(cloud)
    create(kube, namespace, cluster(cloud, "freeride"))
    obj = wait_stalled(kube, namespace, "freeride", "CredentialsRequired", operator)
    message = (condition(obj, "Stalled") or {})["message"]
    assert message.startswith("spec.credentialsRef is required: this namespace may not use "
                              f"the platform's default {cloud.provider} credentials")
    assert "spec.clusters.allowDefaultCredentials" in message
    assert obj["status"]["phase"] == "Failed" and "providerID" not in obj["status"]
    time.sleep(2)  # a few operator passes (stalled retry is 5 s in tests): still nothing sent
    assert requests_at(cloud) == before, "the cloud was called with the platform's credentials"
    assert_no_secret_shown(kube, namespace, obj, cloud)
    # The platform's operator opts the namespace in: the same object goes ahead unchanged.
    with tenant_policy(kube, namespace, clusters={"allowDefaultCredentials": True}):
        wait_phase(kube, namespace, "freeride", "Active", operator)
        assert requests_at(cloud) > before
        kube.delete(HybridClusterResource, "freeride", namespace=namespace)
        eventually(lambda: get_cluster(kube, namespace, "freeride") is None, timeout=90,
                   message=lambda: operator.tail(30))


ACCOUNT_ATTACKS = {
    "gcp": ({"gcp": {"project": "victim-project"}}, "spec.gcp.project 'victim-project'",
            "gcpProjects", {"gcpProjects": ["hybrid-test"]}),
    "aws": ({"aws": {"roleArn": "arn:aws:iam::999999999999:role/OrganizationAdmin"}},
            "spec.aws.roleArn 'arn:aws:iam::999999999999:role/OrganizationAdmin'",
            "awsRoleARNs", {"awsRoleARNs": ["arn:aws:iam::123456789012:role/tenant-*"]}),
}


def test_an_account_outside_the_namespaces_allowlist_is_refused(
        kube: Client, namespace: str, operator: OperatorProcess, cloud: Cloud) -> None:
    options, field, allowlist, accounts = ACCOUNT_ATTACKS[cloud.provider]
    before = requests_at(cloud)
    with tenant_policy(kube, namespace, clusters={"allowDefaultCredentials": True,
                                                  "accounts": accounts}):
        create(kube, namespace, cluster(cloud, "elsewhere", **options))
        obj = wait_stalled(kube, namespace, "elsewhere", "AccountNotAllowed", operator)
        message = (condition(obj, "Stalled") or {})["message"]
        assert message.startswith(f"{field} is not allowed with the platform's default "
                                  "credentials")
        assert f"spec.clusters.accounts.{allowlist}" in message
        time.sleep(2)
        assert requests_at(cloud) == before
        assert_no_secret_shown(kube, namespace, obj, cloud)
        # Deleting the refused cluster needs no cloud call either: it never reached one.
        kube.delete(HybridClusterResource, "elsewhere", namespace=namespace)
        eventually(lambda: get_cluster(kube, namespace, "elsewhere") is None, timeout=60,
                   message=lambda: operator.tail(30))
        assert requests_at(cloud) == before


# One cloud is enough: quotas are checked before any provider is chosen (no skipped cases in CI).
@pytest.mark.parametrize("cloud", ["gcp"], indirect=True)
def test_cluster_and_node_quotas_stop_new_and_scaled_clusters_before_any_cloud_call(
        kube: Client, namespace: str, operator: OperatorProcess, cloud: Cloud) -> None:
    limits = {"allowDefaultCredentials": True, "accounts": {"gcpProjects": ["hybrid-test"]},
              "maxClusters": 1, "maxNodes": 3}
    with tenant_policy(kube, namespace, clusters=limits):
        create(kube, namespace, cluster(cloud, "first", size=2, **cloud.options()))
        first = wait_phase(kube, namespace, "first", "Active", operator)
        provider_name = first["status"]["providerName"]
        creates = cloud.creates()
        before = requests_at(cloud)
        create(kube, namespace, cluster(cloud, "second", **cloud.options()))
        second = wait_stalled(kube, namespace, "second", "QuotaExceeded", operator)
        assert (condition(second, "Stalled") or {})["message"].startswith(
            "cluster quota exceeded: the namespace already has 1 cluster(s) and "
            "spec.clusters.maxClusters is 1")
        assert cloud.creates() == creates and not cloud.exists(
            second["status"]["providerName"])
        kube.patch(HybridClusterResource, "first", [
            {"op": "replace", "path": "/spec/nodeGroups/0/size", "value": 5}],
            namespace=namespace, patch_type=PatchType.JSON)
        scaled = wait_stalled(kube, namespace, "first", "QuotaExceeded", operator)
        assert (condition(scaled, "Stalled") or {})["message"].startswith(
            "node quota exceeded: spec.nodeGroups ask for 5 node(s), the namespace's other "
            "clusters use 0, and spec.clusters.maxNodes is 3")
        time.sleep(2)
        assert requests_at(cloud) == before, "a refused cluster reached the cloud"
        assert cloud.group_size(provider_name, "workers") == 2
        # Freeing the quota lets the waiting cluster go ahead without any edit.
        kube.patch(HybridClusterResource, "first", [
            {"op": "replace", "path": "/spec/nodeGroups/0/size", "value": 2}],
            namespace=namespace, patch_type=PatchType.JSON)
        wait_phase(kube, namespace, "first", "Active", operator)
        kube.delete(HybridClusterResource, "first", namespace=namespace)
        wait_phase(kube, namespace, "second", "Active", operator, timeout=120)
        kube.delete(HybridClusterResource, "second", namespace=namespace)
        for name in ("first", "second"):
            eventually(lambda n=name: get_cluster(kube, namespace, n) is None,  # type: ignore[misc]
                       timeout=90, message=lambda: operator.tail(30))


# -- the REST API tells up front -----------------------------------------------------------------

@pytest.fixture(scope="module")
def api(management: ControlPlane) -> Iterator[str]:
    settings = Settings(kubeconfig=str(management.kubeconfig), auth_cache_seconds=0,
                        default_tier=Tier.ENTERPRISE, oauth_namespace="sec-cloud-oauth",
                        tenant_defaults=TenantRules())  # the operator's production defaults
    with serve(settings) as base:
        yield base


def rest_cluster(name: str, size: int = 1) -> dict[str, Any]:
    return {"name": name, "provider": "gcp", "region": "europe-west1", "version": "v1.29",
            "configuration": {"node_pools": [{"name": "workers", "size": size}]}}


def rest_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["request_id"] == response.headers["X-Request-ID"]
    return dict(error)


def test_rest_refuses_default_credentials_and_quotas_up_front_with_the_contract_error(
        api: str, kube: Client, namespace: str) -> None:
    token = identity(kube, namespace, "tenant")
    with httpx.Client(base_url=api, headers=bearer(token), timeout=30) as http:
        # No policy selects the namespace: the operator's defaults (no default credentials).
        error = rest_error(http.post("/v1/clusters", json=rest_cluster("freeride")), 403,
                           "FORBIDDEN")
        assert error["message"].startswith("spec.credentialsRef is required")
        assert error["details"] == {"reason": "CredentialsRequired",
                                    "policy": "the operator's default tenant rules"}
        with tenant_policy(kube, namespace, clusters={
                "allowDefaultCredentials": True, "maxClusters": 1, "maxNodes": 3}) as policy:
            def accepted() -> bool:  # the API's policy cache follows the write
                answer = http.post("/v1/clusters", json=rest_cluster("first", size=2))
                return answer.status_code == 201
            eventually(accepted, timeout=20, message="the opted-in namespace was refused")
            error = rest_error(http.post("/v1/clusters", json=rest_cluster("second")), 403,
                               "QUOTA_EXCEEDED")
            assert "spec.clusters.maxClusters is 1" in error["message"]
            assert error["details"] == {"reason": "QuotaExceeded",
                                        "policy": f"TenantPolicy {policy}"}
            grown = {"configuration": {"node_pools": [{"name": "workers", "size": 4}]}}
            error = rest_error(http.patch("/v1/clusters/first", json=grown), 403,
                               "QUOTA_EXCEEDED")
            assert "ask for 4 node(s)" in error["message"] and "maxNodes is 3" in \
                error["message"]
        names = {c.metadata.name for c in kube.list(HybridClusterResource, namespace=namespace)}
        assert names == {"first"}, "a refused request wrote a cluster"
        spec = kube.get(HybridClusterResource, "first", namespace=namespace)["spec"]
        assert spec["nodeGroups"][0]["size"] == 2, "a refused PATCH changed the cluster"

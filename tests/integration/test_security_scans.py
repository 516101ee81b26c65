"""Security scans end to end: the real operator runs the real Trivy (offline, fixture database)
against images in a real OCI registry that workloads on a `local` member cluster run; the real
API starts the scan and reads its results.

The member runs ``shop/web`` (the vulnerable image, an AWS key in an env value), ``shop/agent``
(a privileged container of the patched image, with resource limits) and the Pod ``shop/leaky``
(an image tagged ``latest`` with a key left in a layer). The tenant's SecurityPolicy
``shop-hygiene`` (audit: limits required, no latest tag) targets the cluster; two others do not
apply to it. The module shares the cluster and the scan; tests read different parts of it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from lightkube import Client, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace, Pod, Secret
from lightkube.types import PatchType

from hybridcloud.api.settings import Settings
from hybridcloud.controlplane import ControlPlane
from hybridcloud.kube.resources import (
    ConfigAuditReportResource,
    HybridClusterResource,
    SecurityPolicyResource,
    SecurityScanResource,
    VulnerabilityReportResource,
)
from tests import scan_support
from tests.support import tool_binary

from .api_support import bearer, identity, serve
from .harness import OperatorProcess, delivery_operator, eventually, fresh_namespace, wait_phase

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
CLUSTER = "scanned"
UNREACHABLE = "127.0.0.1:9"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with scan_support.oci_registry(tmp_path_factory.mktemp("registry")) as address:
        yield address


@pytest.fixture(scope="module")
def images(registry: str) -> dict[str, scan_support.PushedImage]:
    return {
        "vulnerable": scan_support.push_image(registry, "shop/web", "1.0",
                                              scan_support.vulnerable_alpine()),
        "patched": scan_support.push_image(registry, "shop/agent", "2.0",
                                           scan_support.patched_alpine()),
        "leaky": scan_support.push_image(registry, "shop/leaky", "latest",
                                         scan_support.alpine_with_secret()),
    }


@pytest.fixture(scope="module")
def tenant(kube: Client) -> Iterator[str]:
    with fresh_namespace(kube, "scans") as name:
        yield name


@pytest.fixture(scope="module")
def operator(management: ControlPlane, tenant: str, registry: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    work = tmp_path_factory.mktemp("operator")
    cache = scan_support.trivy_cache(work / "trivy")
    with delivery_operator(
            management.kubeconfig, tenant, work,
            HYBRIDCLOUD_OPERATOR_SCANNER_TRIVY_PATH=str(tool_binary("trivy", "trivy")),
            HYBRIDCLOUD_OPERATOR_SCANNER_CACHE_DIR=str(cache),
            HYBRIDCLOUD_OPERATOR_SCANNER_TIMEOUT="240",
            HYBRIDCLOUD_OPERATOR_SCANNER_INSECURE_REGISTRIES=json.dumps([registry]),
            # A loopback port nothing listens on: allowed, so the scan reaches it and fails.
            HYBRIDCLOUD_OPERATOR_SCANNER_PRIVATE_REGISTRIES=json.dumps([UNREACHABLE])) as process:
        yield process


def _container(name: str, image: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": image, **extra}


POLICY = "shop-hygiene"


def _policies(kube: Client, tenant: str) -> None:
    """The policy the scan applies, and two it must not: one selecting clusters by a label the
    scanned one lacks, one for a namespace nothing runs in."""
    rules = {"requireResourceLimits": {"cpu": True, "memory": True}, "disallowLatestTag": True}
    for name, targets in (
            (POLICY, {"namespaces": ["shop"], "clusters": [CLUSTER]}),
            ("gpu-only", {"namespaces": ["shop"], "clusterSelector": {
                "matchLabels": {"tier": "gpu"}}}),
            ("billing-only", {"namespaces": ["billing"]})):
        kube.create(SecurityPolicyResource.from_dict({
            "apiVersion": "platform.example.com/v1", "kind": "SecurityPolicy",
            "metadata": {"name": name},
            "spec": {"enforcement": "audit", "targets": targets, "rules": rules}}),
            namespace=tenant)


@pytest.fixture(scope="module")
def member(kube: Client, tenant: str, operator: OperatorProcess,
           images: dict[str, scan_support.PushedImage]) -> Client:
    kube.create(HybridClusterResource.from_dict({
        "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
        "metadata": {"name": CLUSTER},
        "spec": {"provider": "local", "nodeGroups": [{"name": "workers", "size": 1}]}}),
        namespace=tenant)
    wait_phase(kube, tenant, CLUSTER, "Active", operator, timeout=240)
    secret = kube.get(Secret, name=f"{CLUSTER}-kubeconfig", namespace=tenant)
    text = base64.b64decode((secret.data or {})["value"]).decode()
    client = Client(config=KubeConfig.from_dict(yaml.safe_load(text)), field_manager="tests")
    _policies(kube, tenant)
    client.apply(Namespace(metadata=ObjectMeta(name="shop")))
    leaked_env = [{"name": "AWS_ACCESS_KEY_ID", "value": scan_support.PLANTED_AWS_KEY},
                  {"name": "LOG_LEVEL", "value": "info"}]
    for name, container in (
            ("web", _container("app", images["vulnerable"].reference, env=leaked_env)),
            ("agent", _container("agent", images["patched"].reference,
                                 securityContext={"privileged": True},
                                 resources={"limits": {"cpu": "100m", "memory": "64Mi"}}))):
        client.create(Deployment.from_dict({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [container]}}}}))
    client.create(Pod.from_dict({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "leaky", "namespace": "shop"},
        "spec": {"containers": [_container("leaky", images["leaky"].reference)]}}))
    return client


@pytest.fixture(scope="module")
def api(management: ControlPlane) -> Iterator[str]:
    with serve(Settings(kubeconfig=str(management.kubeconfig), auth_cache_seconds=0)) as base:
        yield base


@pytest.fixture(scope="module")
def http(api: str, kube: Client, tenant: str) -> Iterator[httpx.Client]:
    headers = bearer(identity(kube, tenant, "scanner-user"))
    with httpx.Client(base_url=api, timeout=30, headers=headers) as client:
        yield client


def wait_scan(http: httpx.Client, scan_id: str, operator: OperatorProcess,
              timeout: float = 480) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        view: dict[str, Any] = http.get(f"/v1/security/scans/{scan_id}").json()
        return view if view.get("status") in ("completed", "failed") else None
    return eventually(probe, timeout=timeout, interval=1.0,
                      message=lambda: f"scan {scan_id} did not finish:\n{operator.tail(60)}")


@pytest.fixture(scope="module")
def cluster_scan(http: httpx.Client, member: Client, operator: OperatorProcess) -> dict[str, Any]:
    started = http.post("/v1/security/scan", json={
        "targets": [{"type": "cluster", "cluster_id": CLUSTER}],
        "scan_types": ["vulnerabilities", "secrets", "misconfigurations"]})
    assert started.status_code == 202, started.text
    assert started.json()["status"] == "pending" and started.json()["id"].startswith("scan-")
    return wait_scan(http, started.json()["id"], operator)


def test_cluster_scan_completes_with_every_image_scanned_once(
        cluster_scan: dict[str, Any]) -> None:
    assert cluster_scan["status"] == "completed", cluster_scan
    assert cluster_scan["progress"] == {"total": 1, "done": 1}
    assert cluster_scan["results"] == [{"target": f"cluster/{CLUSTER}", "state": "completed",
                                        "reason": None, "message": None, "images": 3}]
    summary = cluster_scan["summary"]
    assert summary["high"] == 1 and summary["critical"] == 0
    assert summary["secrets"] == 2 and summary["misconfigurations"] > 0
    assert len(cluster_scan["reports"]) == 4  # three images and the cluster's audit


def test_known_cve_its_fixed_version_and_the_image_are_listed(
        cluster_scan: dict[str, Any], http: httpx.Client,
        images: dict[str, scan_support.PushedImage]) -> None:
    listed = http.get("/v1/security/vulnerabilities").json()
    assert listed["summary"] == {"total": 1, "critical": 0, "high": 1, "medium": 0, "low": 0}
    (vuln,) = listed["vulnerabilities"]
    assert vuln == {
        "id": scan_support.FIXTURE_CVE, "severity": "high", "score": None,
        "package": scan_support.VULNERABLE_PACKAGE, "version": scan_support.INSTALLED_VERSION,
        "fixed_version": scan_support.FIXED_VERSION, "description": scan_support.FIXTURE_CVE_TITLE,
        "affected_images": [images["vulnerable"].reference], "fix_available": True,
        "clusters": [CLUSTER]}


def test_vulnerability_filters_narrow_the_list(cluster_scan: dict[str, Any],
                                               http: httpx.Client) -> None:
    def ids(**params: str) -> list[str]:
        answer = http.get("/v1/security/vulnerabilities", params=params)
        assert answer.status_code == 200, answer.text
        return [v["id"] for v in answer.json()["vulnerabilities"]]
    assert ids(severity="high") == ids(severity="critical,high") == [scan_support.FIXTURE_CVE]
    assert ids(severity="critical") == ids(fixed="false") == []
    assert ids(fixed="true", cluster=CLUSTER) == [scan_support.FIXTURE_CVE]
    assert ids(cluster="elsewhere") == []


def test_bad_filters_are_400s_naming_the_parameter(cluster_scan: dict[str, Any],
                                                   http: httpx.Client) -> None:
    for params, field in (({"severity": "urgent"}, "severity"), ({"fixed": "maybe"}, "fixed"),
                          ({"cluster": "Not_A_Name"}, "cluster")):
        answer = http.get("/v1/security/vulnerabilities", params=params)
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["code"] == "INVALID_REQUEST" and error["details"]["field"] == field


def test_reports_are_objects_owned_by_the_scan_in_trivy_operators_shape(
        cluster_scan: dict[str, Any], kube: Client, tenant: str,
        images: dict[str, scan_support.PushedImage]) -> None:
    reports = {r["report"]["artifact"]["repository"]: r for r in (
        dict(o.to_dict()) for o in kube.list(VulnerabilityReportResource, namespace=tenant))}
    assert set(reports) == {"shop/web", "shop/agent", "shop/leaky"}
    web = reports["shop/web"]
    assert web["metadata"]["ownerReferences"][0]["name"] == cluster_scan["id"]
    assert web["report"]["artifact"]["digest"] == images["vulnerable"].digest
    assert web["report"]["summary"]["highCount"] == 1
    assert web["report"]["workloads"] == ["Deployment/shop/web"]
    assert web["report"]["vulnerabilities"][0]["fixedVersion"] == scan_support.FIXED_VERSION


def test_planted_secrets_are_found_in_the_image_and_the_manifest_without_the_key(
        cluster_scan: dict[str, Any], kube: Client, tenant: str) -> None:
    leaky = next(dict(o.to_dict()) for o in kube.list(VulnerabilityReportResource,
                                                      namespace=tenant)
                 if o["report"]["artifact"]["repository"] == "shop/leaky")
    assert [(s["ruleID"], s["target"]) for s in leaky["report"]["secrets"]] == [
        ("aws-access-key-id", "/srv/app/settings.env")]
    (audit,) = [dict(o.to_dict()) for o in kube.list(ConfigAuditReportResource,
                                                     namespace=tenant)]
    assert [(s["ruleID"], s["target"]) for s in audit["report"]["secrets"]] == [
        ("aws-access-key-id", "Deployment/shop/web container app env")]
    everything = json.dumps([leaky, audit, cluster_scan])
    assert scan_support.PLANTED_AWS_KEY not in everything


def test_privileged_container_is_a_misconfiguration_finding(
        cluster_scan: dict[str, Any], kube: Client, tenant: str) -> None:
    (audit,) = [dict(o.to_dict()) for o in kube.list(ConfigAuditReportResource,
                                                     namespace=tenant)]
    privileged = [c for c in audit["report"]["checks"] if c["checkID"] == "privileged-containers"]
    assert [(c["target"], c["severity"]) for c in privileged] == [
        ("Deployment/shop/agent container agent", "HIGH")]
    assert audit["report"]["cluster"] == CLUSTER


def test_security_policy_violations_name_the_rule_the_policy_and_the_container(
        cluster_scan: dict[str, Any], kube: Client, tenant: str) -> None:
    (audit,) = [dict(o.to_dict()) for o in kube.list(ConfigAuditReportResource,
                                                     namespace=tenant)]
    by_policy = {(c["policy"], c["checkID"], c["target"]): c["messages"]
                 for c in audit["report"]["checks"] if c.get("policy")}
    limits = "require_resource_limits: container {} must set resources.limits.{}"
    assert by_policy == {
        (POLICY, "disallow_latest_tag", "Pod/shop/leaky container leaky"): [
            "disallow_latest_tag: container leaky must set image with a tag other than latest "
            "(or a digest)"],
        (POLICY, "require_resource_limits", "Pod/shop/leaky container leaky"): [
            limits.format("leaky", "cpu"), limits.format("leaky", "memory")],
        (POLICY, "require_resource_limits", "Deployment/shop/web container app"): [
            limits.format("app", "cpu"), limits.format("app", "memory")],
    }  # agent (limits, tag 2.0) complies; gpu-only and billing-only do not apply here


def test_an_unreachable_registry_fails_the_scan_with_the_reason(
        cluster_scan: dict[str, Any], http: httpx.Client, operator: OperatorProcess) -> None:
    started = http.post("/v1/security/scan", json={
        "targets": [{"type": "image", "image": f"{UNREACHABLE}/shop/web:1.0"}],
        "scan_types": ["vulnerabilities"]})
    assert started.status_code == 202, started.text
    done = wait_scan(http, started.json()["id"], operator, timeout=120)
    assert done["status"] == "failed" and done["reason"] == "ImageUnreachable"
    assert f"registry {UNREACHABLE} unreachable" in done["message"]


def test_a_scan_of_an_unknown_cluster_is_a_404_and_stores_nothing(
        cluster_scan: dict[str, Any], http: httpx.Client, kube: Client, tenant: str) -> None:
    before = {o.metadata.name for o in kube.list(SecurityScanResource, namespace=tenant)}
    answer = http.post("/v1/security/scan", json={
        "targets": [{"type": "cluster", "cluster_id": "nowhere"}]})
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"]["code"] == "CLUSTER_NOT_FOUND"
    assert {o.metadata.name for o in kube.list(SecurityScanResource, namespace=tenant)} == before


def test_a_scan_object_naming_an_unknown_cluster_fails_with_cluster_not_found(
        cluster_scan: dict[str, Any], http: httpx.Client, kube: Client, tenant: str,
        operator: OperatorProcess) -> None:
    kube.create(SecurityScanResource.from_dict({
        "apiVersion": "platform.example.com/v1", "kind": "SecurityScan",
        "metadata": {"name": "gitops-scan"},
        "spec": {"targets": [{"type": "cluster", "clusterId": "nowhere"}]}}), namespace=tenant)
    done = wait_scan(http, "gitops-scan", operator, timeout=120)
    assert done["status"] == "failed" and done["reason"] == "ClusterNotFound"


def test_bad_scan_bodies_are_400s(cluster_scan: dict[str, Any], http: httpx.Client) -> None:
    for body in ({"targets": []}, {"targets": [{"type": "cluster"}]},
                 {"targets": [{"type": "image", "image": "x y"}]},
                 {"targets": [{"type": "vm", "image": "x"}]},
                 {"targets": [{"type": "image", "image": "a:1"}], "scan_types": ["malware"]}):
        answer = http.post("/v1/security/scan", json=body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["error"]["code"] == "INVALID_REQUEST"


def test_a_scan_spec_cannot_be_changed(cluster_scan: dict[str, Any], kube: Client,
                                       tenant: str) -> None:
    with pytest.raises(ApiError) as caught:
        kube.patch(SecurityScanResource, cluster_scan["id"],
                   {"spec": {"scanTypes": ["secrets"]}}, namespace=tenant,
                   patch_type=PatchType.MERGE)
    assert caught.value.status.code == 422
    assert "immutable" in str(caught.value.status.message)


def test_deleting_a_scan_deletes_its_reports(cluster_scan: dict[str, Any], kube: Client,
                                             tenant: str) -> None:
    kube.delete(SecurityScanResource, cluster_scan["id"], namespace=tenant)

    def gone() -> bool | None:
        left = [o for o in kube.list(VulnerabilityReportResource, namespace=tenant)
                if (o.metadata.labels or {}).get("platform.example.com/scan") ==
                cluster_scan["id"]]
        return True if not left else None
    eventually(gone, timeout=120, interval=1.0, message="reports were not garbage-collected")

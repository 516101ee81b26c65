"""Scans cross no tenant boundary through the REST API. A hostile tenant B tries to scan tenant
A's cluster, to read A's scans and A's vulnerability reports, by naming them from its own
namespace and by aiming at A's namespace. Every attempt is a 404 (not B's) or a 403 (RBAC), and
nothing is written anywhere.

The real API runs against the real management apiserver; A's objects are written as the operator
and A would write them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from lightkube import Client
from lightkube.resources.core_v1 import Namespace

from hybridcloud.api.settings import Settings
from hybridcloud.controlplane import ControlPlane
from hybridcloud.kube.resources import (
    HybridClusterResource,
    SecurityScanResource,
    VulnerabilityReportResource,
)
from tests.integration.api_support import bearer, ensure_namespace, identity, serve
from tests.integration.harness import eventually

pytestmark = pytest.mark.integration
CVE = "CVE-2099-20001"


@pytest.fixture(scope="module")
def api(management: ControlPlane) -> Iterator[str]:
    with serve(Settings(kubeconfig=str(management.kubeconfig), auth_cache_seconds=0)) as base:
        yield base


@pytest.fixture
def tenants(kube: Client, namespace: str) -> Iterator[tuple[dict[str, str], dict[str, str],
                                                            str]]:
    other = f"{namespace}-b"
    ensure_namespace(kube, other)
    try:
        yield (bearer(identity(kube, namespace, "tenant-a")),
               bearer(identity(kube, other, "tenant-b")), other)
    finally:
        kube.delete(Namespace, other)


def _cluster(kube: Client, namespace: str, name: str) -> None:
    kube.create(HybridClusterResource.from_dict({
        "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
        "metadata": {"name": name},
        "spec": {"provider": "local", "nodeGroups": [{"name": "workers", "size": 1}]}}),
        namespace=namespace)


def _report(kube: Client, namespace: str, scan: dict[str, Any]) -> None:
    kube.create(VulnerabilityReportResource.from_dict({
        "apiVersion": "platform.example.com/v1", "kind": "VulnerabilityReport",
        "metadata": {"name": "a-secret-app", "labels": {
            "platform.example.com/scan": scan["metadata"]["name"],
            "platform.example.com/scan-target": "t", "platform.example.com/cluster": "prod"}},
        "report": {
            "artifact": {"repository": "a/internal-app", "tag": "1",
                         "digest": "sha256:" + "0" * 64},
            "registry": {"server": "registry.a.example"}, "scanner": {},
            "summary": {"criticalCount": 1},
            "vulnerabilities": [{"vulnerabilityID": CVE, "resource": "openssl",
                                 "installedVersion": "3.0.0", "fixedVersion": "3.0.1",
                                 "severity": "CRITICAL"}],
            "updateTimestamp": "2026-12-01T00:00:00Z"}}), namespace=namespace)


def _scans(kube: Client, namespace: str) -> list[str]:
    return [o.metadata.name for o in kube.list(SecurityScanResource, namespace=namespace)]


def test_a_tenant_cannot_scan_another_tenants_cluster(
        api: str, kube: Client, namespace: str,
        tenants: tuple[dict[str, str], dict[str, str], str]) -> None:
    a, b, other = tenants
    _cluster(kube, namespace, "prod")
    body = {"targets": [{"type": "cluster", "cluster_id": "prod"}]}
    with httpx.Client(base_url=api, timeout=30) as http:
        # The API has seen A's cluster (so a 404 below is not just a cold cache).
        eventually(lambda: http.get("/v1/clusters/prod", headers=a).status_code == 200 or None,
                   timeout=30)
        mine = http.post("/v1/security/scan", json=body, headers=b)
        assert mine.status_code == 404 and mine.json()["error"]["code"] == "CLUSTER_NOT_FOUND"
        aimed = http.post("/v1/security/scan", json=body,
                          headers={**b, "X-Tenant-Namespace": namespace})
        assert aimed.status_code == 403 and aimed.json()["error"]["code"] == "FORBIDDEN"
        assert aimed.json()["error"]["details"]["resource"] == "securityscans"
    assert _scans(kube, namespace) == [] and _scans(kube, other) == []


def test_a_tenant_can_neither_read_another_tenants_scans_nor_their_vulnerabilities(
        api: str, kube: Client, namespace: str,
        tenants: tuple[dict[str, str], dict[str, str], str]) -> None:
    a, b, _ = tenants
    _cluster(kube, namespace, "prod")
    with httpx.Client(base_url=api, timeout=30) as http:
        started = eventually(lambda: (lambda r: r if r.status_code == 202 else None)(
            http.post("/v1/security/scan", headers=a,
                      json={"targets": [{"type": "cluster", "cluster_id": "prod"}]})),
            timeout=30)
        scan_id = started.json()["id"]
        scan = dict(kube.get(SecurityScanResource, scan_id, namespace=namespace).to_dict())
        _report(kube, namespace, scan)
        seen = eventually(lambda: http.get("/v1/security/vulnerabilities", headers=a).json()
                          ["vulnerabilities"] or None, timeout=30)
        assert [v["id"] for v in seen] == [CVE]

        assert http.get(f"/v1/security/scans/{scan_id}", headers=b).status_code == 404
        listed = http.get("/v1/security/vulnerabilities", headers=b).json()
        assert listed == {"vulnerabilities": [], "summary": {
            "total": 0, "critical": 0, "high": 0, "medium": 0, "low": 0}}
        for path in (f"/v1/security/scans/{scan_id}", "/v1/security/vulnerabilities"):
            aimed = http.get(path, headers={**b, "X-Tenant-Namespace": namespace})
            assert aimed.status_code == 403 and aimed.json()["error"]["code"] == "FORBIDDEN"
            assert CVE not in aimed.text and "internal-app" not in aimed.text
        assert http.get("/v1/security/vulnerabilities",
                        params={"namespace": namespace}, headers=b).status_code == 403

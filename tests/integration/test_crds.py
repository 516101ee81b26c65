"""The generated CRDs on a real kube-apiserver: samples accepted, bad objects rejected with a
message naming the field, printer columns and `kubectl explain` working."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "samples"
Kubectl = Callable[..., subprocess.CompletedProcess[str]]

VALID_CLUSTER: dict[str, Any] = {
    "apiVersion": "platform.example.com/v1",
    "kind": "HybridCluster",
    "metadata": {"name": "c1"},
    "spec": {
        "provider": "aws", "region": "us-west-2", "version": "v1.28.0",
        "nodeGroups": [{"name": "workers", "size": 2, "instanceType": "m5.large"}],
    },
}


def sample_files() -> list[Path]:
    return sorted(p for p in SAMPLES.glob("*.yaml") if p.name != "kustomization.yaml")


def apply(
    kubectl: Kubectl, namespace: str, obj: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    return kubectl("apply", "--server-side", "-n", namespace, "-f", "-", stdin=json.dumps(obj))


def cluster_with(**spec: Any) -> dict[str, Any]:
    obj = copy.deepcopy(VALID_CLUSTER)
    obj["spec"].update(spec)
    return obj


@pytest.mark.parametrize("path", sample_files(), ids=lambda p: p.stem)
def test_every_sample_is_accepted_by_the_apiserver(kubectl: Kubectl, namespace: str,
                                                   path: Path) -> None:
    result = kubectl("apply", "--server-side", "-n", namespace, "-f", str(path))
    assert result.returncode == 0, result.stderr
    doc = yaml.safe_load(path.read_text())
    stored = kubectl("get", doc["kind"].lower(), doc["metadata"]["name"], "-n", namespace,
                     "-o", "json")
    key = {"HybridCluster": "provider", "SecurityPolicy": "rules"}.get(doc["kind"], "source")
    assert json.loads(stored.stdout)["spec"][key] is not None


def test_a_cluster_like_the_contracts_crd_example_without_version_is_accepted(
        kubectl: Kubectl, namespace: str) -> None:
    spec = {k: v for k, v in VALID_CLUSTER["spec"].items() if k != "version"}
    result = apply(kubectl, namespace, {**VALID_CLUSTER, "spec": spec})
    assert result.returncode == 0, result.stderr
    stored = json.loads(kubectl("get", "hybridcluster", "c1", "-n", namespace, "-o",
                                "json").stdout)
    assert "version" not in stored["spec"]  # the operator records its choice in status


def test_defaults_are_applied_by_the_apiserver(kubectl: Kubectl, namespace: str) -> None:
    assert apply(kubectl, namespace, VALID_CLUSTER).returncode == 0
    stored = json.loads(kubectl("get", "hybridcluster", "c1", "-n", namespace, "-o",
                                "json").stdout)
    assert stored["spec"]["deletionPolicy"] == "Delete"
    assert stored["spec"]["nodeGroups"][0]["role"] == "worker"


@pytest.mark.parametrize(
    ("obj", "field", "fragment"),
    [
        (cluster_with(provider="digitalocean"), "spec.provider", "Unsupported value"),
        (cluster_with(nodeGroups=[{"name": "w", "size": 0}]), "spec.nodeGroups[0].size",
         "should be greater than or equal to 1"),
        (cluster_with(nodeGroups=[]), "spec.nodeGroups", "should have at least 1 items"),
        (cluster_with(nodeGroups=[{"name": "w", "size": 2, "autoScaling": {
            "enabled": True, "minSize": 5, "maxSize": 3}}]),
         "spec.nodeGroups[0].autoScaling.minSize", "minSize must be less than or equal to maxSize"),
        (cluster_with(nodeGroups=[{"name": "w", "size": 9, "autoScaling": {
            "enabled": True, "minSize": 1, "maxSize": 3}}]),
         "spec.nodeGroups[0].size", "size must lie within autoScaling minSize..maxSize"),
        (cluster_with(nodeGroups=[{"name": "w", "size": 1}, {"name": "w", "size": 2}]),
         "spec.nodeGroups", 'duplicate entries for key [name="w"]'),
        (cluster_with(networking={"clusterCIDR": "10.244.0.0/33"}),
         "spec.networking.clusterCIDR", "must be a valid CIDR"),
        (cluster_with(networking={"clusterCIDR": "10.0.0.0/8", "serviceCIDR": "10.96.0.0/12"}),
         "spec.networking", "must not overlap"),
        (cluster_with(region=None), "spec.region", "region is required for cloud providers"),
        (cluster_with(version="latest"), "spec.version", "should match"),
        ({**VALID_CLUSTER, "spec": {"provider": "aws", "region": "us-west-2"}},
         "spec.nodeGroups", "Required value"),  # spec.version is not: it defaults
        ({**VALID_CLUSTER, "metadata": {"name": "Bad_Name"}}, "metadata.name", ""),
    ],
    ids=["unknown-provider", "size-zero", "no-node-groups", "min-above-max",
         "size-outside-bounds", "duplicate-node-group", "bad-cidr", "overlapping-cidrs",
         "missing-region", "bad-version", "missing-required", "bad-name"],
)
def test_invalid_clusters_are_rejected_naming_the_field(
    kubectl: Kubectl, namespace: str, obj: dict[str, Any], field: str, fragment: str
) -> None:
    obj = json.loads(json.dumps(obj, default=str))
    if obj["spec"].get("region", "") is None:
        del obj["spec"]["region"]
    result = apply(kubectl, namespace, obj)
    assert result.returncode != 0
    assert field in result.stderr, result.stderr
    assert fragment in result.stderr, result.stderr


def test_unknown_fields_are_rejected_not_dropped(kubectl: Kubectl, namespace: str) -> None:
    result = apply(kubectl, namespace, cluster_with(nodeGroup=[{"name": "typo"}]))
    assert result.returncode != 0
    assert ".spec.nodeGroup: field not declared in schema" in result.stderr, result.stderr


def test_provider_and_region_are_immutable(kubectl: Kubectl, namespace: str) -> None:
    assert apply(kubectl, namespace, VALID_CLUSTER).returncode == 0
    moved = apply(kubectl, namespace, cluster_with(provider="gcp", region="europe-west1"))
    assert moved.returncode != 0
    assert "provider is immutable" in moved.stderr
    assert "region is immutable" in moved.stderr


def test_unknown_phase_in_status_is_rejected(kubectl: Kubectl, namespace: str) -> None:
    assert apply(kubectl, namespace, VALID_CLUSTER).returncode == 0
    result = kubectl("patch", "hybridcluster", "c1", "-n", namespace, "--subresource=status",
                     "--type=merge", "-p", json.dumps({"status": {"phase": "Exploded"}}))
    assert result.returncode != 0
    assert "status.phase" in result.stderr and "Unsupported value" in result.stderr


def test_status_is_a_subresource_spec_writes_do_not_touch_it(
    kubectl: Kubectl, namespace: str
) -> None:
    assert apply(kubectl, namespace, VALID_CLUSTER).returncode == 0
    patched = kubectl("patch", "hybridcluster", "c1", "-n", namespace, "--subresource=status",
                      "--type=merge", "-p", json.dumps({"status": {"phase": "Active"}}))
    assert patched.returncode == 0, patched.stderr
    with_status = cluster_with()
    with_status["status"] = {"phase": "Failed"}
    assert apply(kubectl, namespace, with_status).returncode == 0
    phase = kubectl("get", "hybridcluster", "c1", "-n", namespace, "-o",
                    "jsonpath={.status.phase}").stdout
    assert phase == "Active"


def test_invalid_application_is_rejected_naming_the_rule(kubectl: Kubectl,
                                                         namespace: str) -> None:
    app = {"apiVersion": "platform.example.com/v1", "kind": "MultiClusterApplication",
           "metadata": {"name": "a"},
           "spec": {"source": {"repository": "file:///repo.git"},
                    "placementPolicy": {"constraints": [{"type": "region_diversity"}]}}}
    result = apply(kubectl, namespace, app)
    assert result.returncode != 0
    assert "region_diversity needs minRegions" in result.stderr, result.stderr
    del app["spec"]["placementPolicy"]
    result = apply(kubectl, namespace, app)
    assert "either placement or placementPolicy is required" in result.stderr, result.stderr


def test_printer_columns_show_provider_region_version_phase_ready(
    kubectl: Kubectl, namespace: str
) -> None:
    assert apply(kubectl, namespace, VALID_CLUSTER).returncode == 0
    kubectl("patch", "hybridcluster", "c1", "-n", namespace, "--subresource=status",
            "--type=merge", "-p", json.dumps({"status": {
                "phase": "Active", "version": "v1.28.5", "conditions": [
                    {"type": "Ready", "status": "True", "reason": "Active", "message": "",
                     "lastTransitionTime": "2025-08-17T15:30:00Z"}]}}))
    table = kubectl("get", "hybridclusters", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "PROVIDER", "REGION", "VERSION", "PHASE", "READY", "AGE"]
    # VERSION is what runs (status), e.g. a patch the cloud applied, or the recorded default.
    assert table[1].split()[:6] == ["c1", "aws", "us-west-2", "v1.28.5", "Active", "True"]
    wide = kubectl("get", "hc", "-n", namespace, "-o", "wide").stdout.splitlines()[0].split()
    assert "NODES" in wide and "ENDPOINT" in wide


def test_kubectl_explain_describes_fields(kubectl: Kubectl) -> None:
    result = kubectl("explain", "hybridcluster.spec.nodeGroups.autoScaling")
    assert result.returncode == 0, result.stderr
    assert "Autoscaling bounds" in result.stdout
    assert "minSize" in result.stdout and "Lower bound on nodes" in result.stdout

"""HybridCluster lifecycle on the `local` provider: a real member control plane per cluster."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lightkube import Client
from lightkube.resources.core_v1 import Secret
from lightkube.types import PatchType

from hybridcloud.controlplane import ControlPlane
from hybridcloud.kube.resources import HybridClusterResource

from .harness import OperatorProcess, condition, eventually, wait_gone, wait_phase

pytestmark = pytest.mark.integration


def local_cluster(name: str, size: int = 2, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
            "metadata": {"name": name},
            "spec": {"provider": "local", "version": "v1.37.2",
                     "nodeGroups": [{"name": "workers", "size": size,
                                     "labels": {"tier": "apps"}}], **spec}}


@pytest.fixture
def operator(management: ControlPlane, namespace: str, tmp_path: Path) -> Iterator[OperatorProcess]:
    process = OperatorProcess(management.kubeconfig, namespace, tmp_path)
    process.start()
    yield process
    process.close()


def create(kube: Client, namespace: str, obj: dict[str, Any]) -> None:
    kube.create(HybridClusterResource.from_dict(obj), namespace=namespace)


def member_kubectl(kube: Client, namespace: str, name: str, bin_dir: Path,
                   tmp_path: Path) -> Callable[..., str]:
    secret = kube.get(Secret, name=f"{name}-kubeconfig", namespace=namespace)
    path = tmp_path / f"{name}.kubeconfig"
    path.write_bytes(base64.b64decode((secret.data or {})["value"]))

    def run(*args: str) -> str:
        return subprocess.run([str(bin_dir / "kubectl"), "--kubeconfig", str(path), *args],
                              capture_output=True, text=True, check=True, timeout=60).stdout

    return run


def test_local_cluster_becomes_active_with_conditions_nodes_and_a_working_kubeconfig(
    kube: Client, namespace: str, operator: OperatorProcess, bin_dir: Path, tmp_path: Path
) -> None:
    create(kube, namespace, local_cluster("dev"))
    # Starting a control plane takes seconds, longer than the status grace: the operator says
    # so while it waits, under the name it will adopt after a restart.
    creating = wait_phase(kube, namespace, "dev", "Creating", operator)
    assert (condition(creating, "Reconciling") or {}).get("status") == "True"
    assert creating["status"]["providerName"].startswith("hc-dev-")
    obj = wait_phase(kube, namespace, "dev", "Active", operator)
    status = obj["status"]
    for type_ in ("Ready", "InfrastructureReady", "ControlPlaneReady", "NodePoolsReady"):
        assert (condition(obj, type_) or {}).get("status") == "True", type_
    assert condition(obj, "Reconciling") is None and condition(obj, "Stalled") is None
    assert status["nodes"] == {"total": 3, "ready": 3, "master": 1, "worker": 2}
    assert status["providerName"].startswith("hc-dev-")
    assert status["version"] == "v1.37.2" and status["endpoint"].startswith("https://127.0.0.1:")
    assert status["kubeconfigSecret"] == "dev-kubeconfig"
    assert "platform.example.com/finalizer" in obj["metadata"]["finalizers"]
    assert not any(k.startswith("kopf") for k in obj["metadata"].get("annotations", {}))
    nodes = json.loads(member_kubectl(kube, namespace, "dev", bin_dir, tmp_path)(
        "get", "nodes", "-o", "json"))["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == ["workers-0", "workers-1"]
    assert all(n["metadata"]["labels"]["tier"] == "apps" for n in nodes)


def test_scaling_a_node_group_changes_the_nodes_at_the_provider(
    kube: Client, namespace: str, operator: OperatorProcess, bin_dir: Path, tmp_path: Path
) -> None:
    create(kube, namespace, local_cluster("scale", size=1))
    wait_phase(kube, namespace, "scale", "Active", operator)
    kube.patch(HybridClusterResource, "scale", [
        {"op": "replace", "path": "/spec/nodeGroups/0/size", "value": 3}],
        namespace=namespace, patch_type=PatchType.JSON)
    obj = wait_phase(kube, namespace, "scale", "Active", operator)
    assert obj["status"]["nodes"]["worker"] == 3
    kubectl = member_kubectl(kube, namespace, "scale", bin_dir, tmp_path)
    assert kubectl("get", "nodes", "-o", "name").split() == [
        "node/workers-0", "node/workers-1", "node/workers-2"]


def test_deleting_removes_the_local_control_plane(
    kube: Client, namespace: str, operator: OperatorProcess, tmp_path: Path
) -> None:
    create(kube, namespace, local_cluster("gone", size=1))
    obj = wait_phase(kube, namespace, "gone", "Active", operator)
    home = tmp_path / "local" / obj["status"]["providerName"]
    state = json.loads((home / "cp" / "state.json").read_text())
    kube.delete(HybridClusterResource, "gone", namespace=namespace)
    wait_gone(kube, namespace, "gone", operator)
    assert not home.exists()
    for pid in state["pids"]:
        assert not Path(f"/proc/{pid}").exists() or \
            Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"


def test_orphan_policy_keeps_the_cluster_running(
    kube: Client, namespace: str, operator: OperatorProcess, tmp_path: Path
) -> None:
    create(kube, namespace, local_cluster("kept", size=1, deletionPolicy="Orphan"))
    obj = wait_phase(kube, namespace, "kept", "Active", operator)
    home = tmp_path / "local" / obj["status"]["providerName"]
    kube.delete(HybridClusterResource, "kept", namespace=namespace)
    wait_gone(kube, namespace, "kept", operator)
    assert (home / "cp" / "state.json").exists()


def test_an_unavailable_version_stalls_with_a_clear_message_until_fixed(
    kube: Client, namespace: str, operator: OperatorProcess
) -> None:
    create(kube, namespace, {**local_cluster("old"), "spec": {
        **local_cluster("old")["spec"], "version": "v1.28.0"}})
    obj = wait_phase(kube, namespace, "old", "Failed", operator)
    stalled = condition(obj, "Stalled") or {}
    assert stalled.get("status") == "True"
    assert stalled.get("reason") == "UnsupportedVersion"
    assert "v1.28.0 is not available" in stalled.get("message", "")
    kube.patch(HybridClusterResource, "old", {"spec": {"version": "v1.37.2"}},
               namespace=namespace, patch_type=PatchType.MERGE)
    obj = wait_phase(kube, namespace, "old", "Active", operator)
    assert condition(obj, "Stalled") is None


def test_pause_annotation_stops_cloud_writes_and_shows_a_condition(
    kube: Client, namespace: str, operator: OperatorProcess, tmp_path: Path
) -> None:
    paused = local_cluster("paused")
    paused["metadata"]["annotations"] = {"platform.example.com/paused": "true"}
    create(kube, namespace, paused)

    def paused_condition() -> dict[str, Any] | None:
        from .harness import get_cluster

        obj = get_cluster(kube, namespace, "paused")
        return obj if (condition(obj, "Paused") or {}).get("status") == "True" else None

    eventually(paused_condition, timeout=30, message=operator.tail)
    assert not any((tmp_path / "local").glob("*")), "a paused cluster must not be created"
    kube.patch(HybridClusterResource, "paused", {"metadata": {"annotations": {
        "platform.example.com/paused": None}}}, namespace=namespace, patch_type=PatchType.MERGE)
    obj = wait_phase(kube, namespace, "paused", "Active", operator)
    assert condition(obj, "Paused") is None


def test_events_record_meaningful_transitions_only(
    kube: Client, namespace: str, operator: OperatorProcess
) -> None:
    from lightkube.resources.core_v1 import Event

    create(kube, namespace, local_cluster("events", size=1))
    wait_phase(kube, namespace, "events", "Active", operator)
    reasons = eventually(lambda: sorted(
        e.reason or "" for e in kube.list(Event, namespace=namespace)) or None, timeout=10)
    assert reasons == ["ClusterReady"]

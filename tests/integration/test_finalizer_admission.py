"""The finalizer admission policy and the writes a cluster costs.

New objects carry the operator's finalizer from the moment they exist; without the policy the
operator adds it itself before any cloud write; a provider that answers at once costs a single
status write (no intermediate "Creating" nobody could see).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lightkube import Client
from lightkube.core.exceptions import ApiError
from lightkube.resources.admissionregistration_v1 import MutatingAdmissionPolicyBinding
from lightkube.resources.core_v1 import Event

from hybridcloud import FINALIZER
from hybridcloud.admission import POLICY_NAME
from hybridcloud.controlplane import ControlPlane
from hybridcloud.kube.bootstrap import client_for, install_admission_policy
from hybridcloud.kube.resources import HybridClusterResource, MultiClusterApplicationResource

from .harness import OperatorProcess, eventually, wait_phase

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def cluster(name: str, **metadata: Any) -> Any:
    return HybridClusterResource.from_dict({
        "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
        "metadata": {"name": name, **metadata},
        "spec": {"provider": "local", "version": "v1.37.2",
                 "nodeGroups": [{"name": "workers", "size": 2}]}})


def application(name: str) -> Any:
    return MultiClusterApplicationResource.from_dict({
        "apiVersion": "platform.example.com/v1", "kind": "MultiClusterApplication",
        "metadata": {"name": name},
        "spec": {"source": {"repository": "https://git.example.com/app.git"},
                 "placement": [{"cluster": "east"}]}})


@pytest.fixture
def instant_operator(management: ControlPlane, namespace: str,
                     tmp_path: Path) -> Iterator[OperatorProcess]:
    """The operator with the benchmark's instant provider standing in for `local`."""
    process = OperatorProcess(management.kubeconfig, namespace, tmp_path, env={
        "PYTHONPATH": str(ROOT),
        "HYBRIDCLOUD_BENCH_PROVIDER_DIR": str(tmp_path / "instant"),
        "HYBRIDCLOUD_OPERATOR_PROVIDER_OVERRIDES":
            json.dumps({"local": "tests.bench.instant_provider:factory"})})
    process.start()
    yield process
    process.close()


@pytest.fixture
def without_policy(management: ControlPlane, kube: Client) -> Iterator[None]:
    """The session cluster without the policy's binding, restored afterwards."""
    kube.delete(MutatingAdmissionPolicyBinding, POLICY_NAME)
    eventually(lambda: FINALIZER not in (
        kube.create(cluster("probe"), namespace="default", dry_run=True).metadata.finalizers
        or []), timeout=30, message="the policy stayed in force after its binding was deleted")
    try:
        yield
    finally:
        install_admission_policy(client_for(management.kubeconfig), time.monotonic() + 30)


def modifications_until_active(kube: Client, namespace: str, name: str,
                               resource_version: str) -> list[dict[str, Any]]:
    """Every MODIFIED watch event of the object after ``resource_version`` up to Active."""
    seen: list[dict[str, Any]] = []
    for kind, obj in kube.watch(HybridClusterResource, namespace=namespace,
                                fields={"metadata.name": name}, server_timeout=60,
                                resource_version=resource_version):
        if kind == "MODIFIED":
            body = dict(obj.to_dict())
            seen.append(body)
            if (body.get("status") or {}).get("phase") == "Active":
                return seen
    raise AssertionError(f"{name} not Active within the watch: {seen}")


def test_new_clusters_and_applications_carry_the_finalizer_from_creation(
    kube: Client, namespace: str
) -> None:
    created = kube.create(cluster("born-protected"), namespace=namespace)
    assert created.metadata.finalizers == [FINALIZER]
    app = kube.create(application("app-protected"), namespace=namespace)
    assert app.metadata.finalizers == [FINALIZER]


def test_a_users_own_finalizers_are_kept_and_ours_is_not_doubled(
    kube: Client, namespace: str
) -> None:
    theirs = kube.create(cluster("shared", finalizers=["example.com/backup"]),
                         namespace=namespace)
    assert theirs.metadata.finalizers == ["example.com/backup", FINALIZER]
    ours = kube.create(cluster("explicit", finalizers=[FINALIZER]), namespace=namespace)
    assert ours.metadata.finalizers == [FINALIZER]


def test_a_provider_that_answers_at_once_costs_one_status_write_and_one_event(
    kube: Client, namespace: str, instant_operator: OperatorProcess
) -> None:
    created = kube.create(cluster("quick"), namespace=namespace)
    changes = modifications_until_active(kube, namespace, "quick",
                                         str(created.metadata.resourceVersion))
    assert [c["status"]["phase"] for c in changes] == ["Active"], \
        "no intermediate status was written"
    assert changes[0]["metadata"]["finalizers"] == [FINALIZER]
    events = eventually(lambda: [e for e in kube.list(
        Event, namespace=namespace, fields={"involvedObject.name": "quick"})],
        timeout=30, message="no Event for the cluster")
    assert [e.reason for e in events] == ["ClusterReady"]


def test_without_the_policy_the_operator_adds_the_finalizer_before_any_cloud_write(
    kube: Client, namespace: str, without_policy: None, instant_operator: OperatorProcess,
    tmp_path: Path
) -> None:
    created = kube.create(cluster("unprotected"), namespace=namespace)
    assert not created.metadata.finalizers
    changes = modifications_until_active(kube, namespace, "unprotected",
                                         str(created.metadata.resourceVersion))
    first = changes[0]
    assert first["metadata"]["finalizers"] == [FINALIZER] and not first.get("status"), \
        "the finalizer comes first, alone"
    wait_phase(kube, namespace, "unprotected", "Active", instant_operator)
    kube.delete(HybridClusterResource, "unprotected", namespace=namespace)
    eventually(lambda: _gone(kube, namespace, "unprotected"), timeout=30,
               message=lambda: f"not deleted:\n{instant_operator.tail()}")


def _gone(kube: Client, namespace: str, name: str) -> bool:
    try:
        kube.get(HybridClusterResource, name, namespace=namespace)
    except ApiError as exc:
        if exc.status.code == 404:
            return True
        raise
    return False

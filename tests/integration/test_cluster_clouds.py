"""HybridCluster lifecycle on every cloud, through the real SDKs against wire-level fakes.

The operator runs as a real process; the fakes run in this test process and are reached over
loopback through the `endpoint` key of the provider credentials Secret.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Event, Secret
from lightkube.types import PatchType

from hybridcloud.controlplane import ControlPlane
from hybridcloud.kube.references import CREDENTIAL_TYPE_LABEL
from hybridcloud.kube.resources import HybridClusterResource

from .clouds import CLOUDS, Cloud, reads
from .harness import OperatorProcess, condition, eventually, get_cluster, wait_gone, wait_phase

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=sorted(CLOUDS))
def cloud(request: pytest.FixtureRequest) -> Iterator[Cloud]:
    fake: Cloud = CLOUDS[request.param]()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def operator(management: ControlPlane, kube: Client, namespace: str, tmp_path: Path,
             cloud: Cloud) -> Iterator[OperatorProcess]:
    kube.create(Secret(metadata=ObjectMeta(name=f"hybridcloud-{cloud.provider}-credentials",
                                           namespace=namespace),
                       stringData=cloud.credentials()))
    process = OperatorProcess(management.kubeconfig, namespace, tmp_path)
    process.start()
    yield process
    process.stop()


def manifest(cloud: Cloud, name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "provider": cloud.provider, "region": cloud.region, "version": cloud.version,
        "nodeGroups": [{"name": "workers", "size": 2, "instanceType": cloud.instance_type,
                        "diskSize": 50}],
        **cloud.options(), **spec}
    return {"apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
            "metadata": {"name": name}, "spec": body}


def create(kube: Client, namespace: str, obj: dict[str, Any]) -> None:
    kube.create(HybridClusterResource.from_dict(obj), namespace=namespace)


def patch(kube: Client, namespace: str, name: str, ops: list[dict[str, Any]]) -> None:
    kube.patch(HybridClusterResource, name, ops, namespace=namespace, patch_type=PatchType.JSON)


def test_cluster_is_created_scaled_upgraded_and_deleted_at_the_provider(
    kube: Client, namespace: str, operator: OperatorProcess, cloud: Cloud
) -> None:
    creates_before = cloud.creates()
    create(kube, namespace, manifest(cloud, "life"))
    obj = wait_phase(kube, namespace, "life", "Active", operator)
    status, name = obj["status"], obj["status"]["providerName"]
    assert status["nodes"]["worker"] == 2 and status["nodes"]["master"] == cloud.masters
    assert status["providerID"] and status["endpoint"].startswith("https://")
    for type_ in ("Ready", "InfrastructureReady", "ControlPlaneReady", "NodePoolsReady"):
        assert (condition(obj, type_) or {}).get("status") == "True", type_
    assert cloud.exists(name) and cloud.group_size(name, "workers") == 2
    assert cloud.creates() - creates_before == 1
    secret = kube.get(Secret, name="life-kubeconfig", namespace=namespace)
    config = yaml.safe_load(base64.b64decode((secret.data or {})["value"]))
    assert config["clusters"][0]["cluster"]["server"].rstrip("/").split(":443")[0] == \
        status["endpoint"].rstrip("/").split(":443")[0]

    patch(kube, namespace, "life", [{"op": "replace", "path": "/spec/nodeGroups/0/size",
                                     "value": 3}])
    obj = wait_phase(kube, namespace, "life", "Active", operator, timeout=120)
    assert obj["status"]["nodes"]["worker"] == 3
    assert cloud.group_size(name, "workers") == 3

    patch(kube, namespace, "life", [{"op": "replace", "path": "/spec/version",
                                     "value": cloud.upgraded_version}])
    obj = wait_phase(kube, namespace, "life", "Active", operator, timeout=120)
    wanted = cloud.upgraded_version.removeprefix("v")
    assert obj["status"]["version"].removeprefix("v").startswith(wanted)
    assert (cloud.cluster_version(name) or "").startswith(wanted)
    reasons = {e.reason for e in kube.list(Event, namespace=namespace)}
    assert {"ClusterReady", "ClusterScaled", "ClusterUpdated"} <= reasons

    kube.delete(HybridClusterResource, "life", namespace=namespace)
    wait_gone(kube, namespace, "life", operator, timeout=120)
    assert not cloud.exists(name)


def test_orphan_policy_leaves_the_provider_cluster(
    kube: Client, namespace: str, operator: OperatorProcess, cloud: Cloud
) -> None:
    create(kube, namespace, manifest(cloud, "kept", deletionPolicy="Orphan"))
    name = wait_phase(kube, namespace, "kept", "Active", operator)["status"]["providerName"]
    kube.delete(HybridClusterResource, "kept", namespace=namespace)
    wait_gone(kube, namespace, "kept", operator)
    assert cloud.exists(name)


def test_throttling_is_retried_until_the_cluster_is_active(
    kube: Client, namespace: str, operator: OperatorProcess, cloud: Cloud
) -> None:
    served_before = cloud.server.faults_served(429)
    cloud.throttle(4, retry_after=1)
    create(kube, namespace, manifest(cloud, "throttled"))
    obj = wait_phase(kube, namespace, "throttled", "Active", operator, timeout=120)
    assert condition(obj, "Stalled") is None
    # The throttling really happened (all four 429s went out) and each throttled call came back.
    assert cloud.server.faults_served(429) - served_before == 4
    assert cloud.server.retried_after_faults(429)


def test_an_invalid_instance_type_fails_with_the_providers_message_until_fixed(
    kube: Client, namespace: str, operator: OperatorProcess, cloud: Cloud
) -> None:
    bad = manifest(cloud, "badtype")
    bad["spec"]["nodeGroups"][0]["instanceType"] = cloud.bad_instance_type
    create(kube, namespace, bad)
    obj = wait_phase(kube, namespace, "badtype", "Failed", operator)
    stalled = condition(obj, "Stalled") or {}
    assert stalled.get("status") == "True"
    assert stalled.get("reason") == "InvalidConfiguration"
    assert cloud.bad_instance_type in stalled.get("message", "")
    patch(kube, namespace, "badtype", [{"op": "replace",
                                        "path": "/spec/nodeGroups/0/instanceType",
                                        "value": cloud.instance_type}])
    obj = wait_phase(kube, namespace, "badtype", "Active", operator, timeout=120)
    assert condition(obj, "Stalled") is None


def test_a_credentials_ref_secret_is_used_only_once_it_opts_in_with_the_cloud_label(
    kube: Client, namespace: str, operator: OperatorProcess, cloud: Cloud
) -> None:
    kube.create(Secret(metadata=ObjectMeta(name="team-cloud", namespace=namespace),
                       stringData=cloud.credentials()))
    create(kube, namespace, manifest(cloud, "opt-in", credentialsRef={"name": "team-cloud"}))
    failed = wait_phase(kube, namespace, "opt-in", "Failed", operator)
    stalled = condition(failed, "Stalled") or {}
    assert stalled.get("reason") == "CredentialsNotAllowed"
    assert stalled["message"].startswith("spec.credentialsRef.name: Secret team-cloud ")
    assert f"{CREDENTIAL_TYPE_LABEL}=cloud" in stalled["message"]
    assert not any(cloud.exists(n) for n in [failed["status"].get("providerName")] if n)

    kube.patch(Secret, "team-cloud", {"metadata": {"labels": {CREDENTIAL_TYPE_LABEL: "cloud"}}},
               namespace=namespace, patch_type=PatchType.MERGE)
    active = wait_phase(kube, namespace, "opt-in", "Active", operator)
    assert cloud.exists(active["status"]["providerName"])


def test_missing_credentials_stall_with_a_message_naming_the_secret(
    kube: Client, namespace: str, operator: OperatorProcess, cloud: Cloud
) -> None:
    obj = manifest(cloud, "nocreds", credentialsRef={"name": "does-not-exist"})
    creates_before = cloud.creates()
    create(kube, namespace, obj)
    failed = wait_phase(kube, namespace, "nocreds", "Failed", operator)
    stalled = condition(failed, "Stalled") or {}
    assert stalled.get("reason") == "CredentialsNotFound"
    assert f"{namespace}/does-not-exist" in stalled.get("message", "")
    assert cloud.creates() == creates_before  # nothing was asked of the cloud without them


def test_a_failure_after_the_cloud_accepted_the_create_stalls_with_the_clouds_message(
    kube: Client, namespace: str, operator: OperatorProcess, cloud: Cloud
) -> None:
    message = f"{cloud.provider}: not enough capacity in {cloud.region} (injected by the fake)"
    cloud.fail_after_acceptance(message)
    creates_before = cloud.creates()
    create(kube, namespace, manifest(cloud, "doomed"))
    obj = wait_phase(kube, namespace, "doomed", "Failed", operator, timeout=120)
    stalled = condition(obj, "Stalled") or {}
    assert (stalled.get("status"), stalled.get("reason")) == ("True", "ProviderFailed")
    assert message in stalled.get("message", "")
    assert condition(obj, "Reconciling") is None
    # Accepted once and not re-created behind the user's back while the spec is unchanged.
    assert cloud.creates() - creates_before == 1
    assert cloud.exists(obj["status"]["providerName"])


@pytest.mark.parametrize("cloud", ["azure"], indirect=True)
def test_an_aks_operation_that_only_its_operation_status_explains_stalls_with_arms_error(
    kube: Client, namespace: str, operator: OperatorProcess, cloud: Cloud
) -> None:
    """ARM reports why a long-running operation failed in its Azure-AsyncOperation status, the
    resource only says provisioningState Failed: the operator's poller carries the error."""
    aks = cloud.fake  # type: ignore[attr-defined]
    aks.fail_next_operation("VMExtensionProvisioningError", "VM has reported a failure when "
                            "processing extension 'vmssCSE' (injected)", on_resource=False)
    create(kube, namespace, manifest(cloud, "lro-doomed"))
    obj = wait_phase(kube, namespace, "lro-doomed", "Failed", operator, timeout=120)
    stalled = condition(obj, "Stalled") or {}
    assert (stalled.get("status"), stalled.get("reason")) == ("True", "ProviderFailed")
    assert "(VMExtensionProvisioningError)" in stalled.get("message", "")
    assert "processing extension 'vmssCSE' (injected)" in stalled.get("message", "")
    name = obj["status"]["providerName"]
    assert "provisioningError" not in str(aks.cluster(cloud.group, name))  # type: ignore[attr-defined]
    assert aks.server.count("GET", r"/locations/[^/]+/operations/[^/]+$") >= 1


def test_a_cluster_without_version_gets_the_clouds_default_and_keeps_it(
    kube: Client, namespace: str, operator: OperatorProcess, cloud: Cloud
) -> None:
    body = manifest(cloud, "defaulted")
    del body["spec"]["version"]  # as in the contract's CRD example
    creates_before = cloud.creates()
    create(kube, namespace, body)
    if cloud.default_version is None:
        obj = wait_phase(kube, namespace, "defaulted", "Failed", operator)
        stalled = condition(obj, "Stalled") or {}
        assert stalled.get("reason") == "VersionRequired"
        assert "spec.version" in stalled.get("message", "")
        assert cloud.creates() == creates_before  # refused before anything was created
        return
    obj = wait_phase(kube, namespace, "defaulted", "Active", operator, timeout=120)
    name, version = obj["status"]["providerName"], obj["status"]["version"]
    assert f"{version.removeprefix('v')}.".startswith(cloud.default_version + ".")  # EKS: "1.31"
    assert (cloud.cluster_version(name) or "").startswith(cloud.default_version)
    assert "version" not in obj["spec"]
    # Later passes (resyncs every 5 s here) leave the recorded version and the cluster alone.
    # The cloud's read count proves those passes ran: otherwise "nothing changed" proves nothing.
    reads_before = reads(cloud)
    deadline = time.monotonic() + 12
    while time.monotonic() < deadline:
        current = get_cluster(kube, namespace, "defaulted") or {}
        assert current["status"]["version"] == version
        assert current["status"]["phase"] == "Active"
        time.sleep(1)
    assert reads(cloud) - reads_before >= 2, "no resync read the cluster in 12 s"
    assert (cloud.cluster_version(name) or "").startswith(cloud.default_version)


@pytest.mark.parametrize("cloud", ["aws", "azure", "gcp"], indirect=True)
def test_an_upgrade_two_minors_ahead_goes_one_minor_at_a_time_to_the_target(
    kube: Client, namespace: str, operator: OperatorProcess, cloud: Cloud
) -> None:
    """These fakes refuse to skip a minor version (as EKS, AKS and GKE do), so reaching the
    target without ever stalling proves the operator stepped through the minor between."""
    create(kube, namespace, manifest(cloud, "stepper"))
    name = wait_phase(kube, namespace, "stepper", "Active", operator)["status"]["providerName"]
    target = cloud.two_minors_up  # type: ignore[attr-defined]
    patch(kube, namespace, "stepper", [{"op": "replace", "path": "/spec/version",
                                        "value": target}])
    seen: set[str] = set()

    def arrived() -> bool:
        obj = get_cluster(kube, namespace, "stepper") or {}
        status = obj.get("status") or {}
        assert condition(obj, "Stalled") is None, status
        seen.add(str(status.get("version", "")).removeprefix("v"))
        return status.get("phase") == "Active" and \
            str(status.get("version", "")).removeprefix("v").startswith(target[1:])

    eventually(arrived, timeout=180, interval=0.1)
    assert (cloud.cluster_version(name) or "").startswith(target[1:])
    start, end = (int(v.removeprefix("v").split(".")[1]) for v in (cloud.version, target))
    assert end - start == 2 and any(v.startswith(f"1.{start + 1}.") or v == f"1.{start + 1}"
                                    for v in seen), seen


@pytest.mark.parametrize("cloud", ["openstack"], indirect=True)
def test_magnum_update_and_delete_failures_stall_with_magnums_reason_and_deletion_is_retried(
    kube: Client, namespace: str, operator: OperatorProcess, cloud: Cloud
) -> None:
    magnum = cloud.fake.cloud  # type: ignore[attr-defined]
    create(kube, namespace, manifest(cloud, "shaky"))
    name = wait_phase(kube, namespace, "shaky", "Active", operator)["status"]["providerName"]

    magnum.fail_next_update = "Resource UPDATE failed: ResourceInError: Went to status ERROR"
    patch(kube, namespace, "shaky", [{"op": "replace", "path": "/spec/nodeGroups/0/size",
                                      "value": 3}])
    obj = wait_phase(kube, namespace, "shaky", "Failed", operator, timeout=120)
    stalled = condition(obj, "Stalled") or {}
    assert stalled.get("reason") == "ProviderFailed"
    assert "Went to status ERROR" in stalled.get("message", "")

    magnum.fail_next_delete = "Resource DELETE failed: Conflict: volume vol-1 is in use"
    kube.delete(HybridClusterResource, "shaky", namespace=namespace)

    def delete_failed() -> dict[str, Any] | None:
        found = get_cluster(kube, namespace, "shaky") or {}
        reason = (condition(found, "Stalled") or {}).get("reason")
        return found if reason == "DeleteFailed" else None

    failed = eventually(delete_failed, timeout=60, interval=0.1)
    assert "volume vol-1 is in use" in (condition(failed, "Stalled") or {}).get("message", "")
    assert cloud.exists(name)
    # Retried after the stalled interval (5 s here): the second deletion goes through.
    wait_gone(kube, namespace, "shaky", operator, timeout=120)
    assert not cloud.exists(name)

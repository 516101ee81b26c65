"""The operator's lean write client against the real apiserver: the same answers and errors as
lightkube, and the same credentials (client certificates, rotating token files)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import Client, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import ServiceAccount

from hybridcloud.controlplane import ControlPlane
from hybridcloud.devenv.access import mint_dev_token
from hybridcloud.kube import objects
from hybridcloud.kube.resources import HybridClusterResource
from hybridcloud.kube.wire import KubeWire

pytestmark = pytest.mark.integration


def cluster_body(name: str) -> dict[str, Any]:
    return {"apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
            "metadata": {"name": name},
            "spec": {"provider": "local", "version": "v1.37.2",
                     "nodeGroups": [{"name": "workers", "size": 1}]}}


@pytest.fixture
def created(kube: Client, namespace: str) -> dict[str, Any]:
    obj = kube.create(HybridClusterResource.from_dict(cluster_body("wired")), namespace=namespace)
    return dict(obj.to_dict())


def run(wire: KubeWire, coroutine: Any) -> Any:
    async def once() -> Any:
        try:
            return await coroutine
        finally:
            await wire.close()
    return asyncio.run(once())


def test_a_status_patch_returns_the_stored_object(
    management: ControlPlane, kube: Client, created: dict[str, Any]
) -> None:
    wire = KubeWire(KubeConfig.from_file(management.kubeconfig).get(), field_manager="wire-test")
    answer = run(wire, objects.patch_status(wire, HybridClusterResource, created,
                                            {"phase": "Creating", "observedGeneration": 1}))
    stored = kube.get(HybridClusterResource, "wired", namespace=created["metadata"]["namespace"])
    assert answer["status"] == {"phase": "Creating", "observedGeneration": 1} == stored.status
    assert answer["metadata"]["resourceVersion"] == stored.metadata.resourceVersion
    managers = {m.manager for m in stored.metadata.managedFields or []}
    assert "wire-test" in managers, "the field manager is sent with every write"


def test_errors_arrive_as_api_errors_carrying_the_apiservers_status(
    management: ControlPlane, created: dict[str, Any]
) -> None:
    wire = KubeWire(KubeConfig.from_file(management.kubeconfig).get(), field_manager="wire-test")
    missing = {**created, "metadata": {**created["metadata"], "name": "absent"}}
    with pytest.raises(ApiError) as gone:
        run(wire, objects.patch_status(wire, HybridClusterResource, missing, {"phase": "X"}))
    assert gone.value.status.code == 404 and "absent" in (gone.value.status.message or "")

    wire = KubeWire(KubeConfig.from_file(management.kubeconfig).get(), field_manager="wire-test")
    with pytest.raises(ApiError) as invalid:  # the status schema rejects an unknown phase
        run(wire, objects.patch_status(wire, HybridClusterResource, created,
                                       {"phase": "Exploded"}))
    assert invalid.value.status.code == 422
    assert "status.phase" in (invalid.value.status.message or "")

    wire = KubeWire(KubeConfig.from_file(management.kubeconfig).get(), field_manager="wire-test")
    stale = [{"op": "test", "path": "/metadata/finalizers/0", "value": "someone/else"},
             {"op": "remove", "path": "/metadata/finalizers/0"}]
    with pytest.raises(ApiError) as conflict:
        run(wire, wire.request("PATCH", f"/apis/platform.example.com/v1/namespaces/"
                               f"{created['metadata']['namespace']}/hybridclusters/wired",
                               stale, content_type="application/json-patch+json"))
    assert conflict.value.status.code in (409, 422)


def test_a_rotated_token_file_is_read_again_after_a_401(
    management: ControlPlane, kube: Client, namespace: str, created: dict[str, Any],
    tmp_path: Path
) -> None:
    """Like a kubelet-rotated ServiceAccount token: the cached token stops working, the file
    holds a new one, and the next write succeeds without a restart."""
    first = mint_dev_token(management.kubeconfig, namespace, "rotating")
    token_file = tmp_path / "token"
    token_file.write_text(first)
    kubeconfig = yaml.safe_load(management.kubeconfig.read_text())
    kubeconfig["users"] = [{"name": "rotating", "user": {"tokenFile": str(token_file)}}]
    kubeconfig["contexts"][0]["context"]["user"] = "rotating"
    config = KubeConfig.from_dict(kubeconfig).get()

    async def scenario() -> dict[str, Any]:
        wire = KubeWire(config, field_manager="wire-test")
        try:
            await objects.patch_status(wire, HybridClusterResource, created, {"phase": "Creating"})
            # Revoke the first token (its ServiceAccount is replaced) and "rotate" the file.
            kube.delete(ServiceAccount, "rotating", namespace=namespace)
            token_file.write_text(mint_dev_token(management.kubeconfig, namespace, "rotating"))
            return await objects.patch_status(wire, HybridClusterResource, created,
                                              {"phase": "Active"})
        finally:
            await wire.close()

    assert asyncio.run(scenario())["status"]["phase"] == "Active"

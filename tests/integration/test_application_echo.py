"""The application controller against the real management apiserver, in-process: the watch
event that echoes its own status write must not start another pass (each pass GETs every
object on every member), while a change someone else makes still does."""

from __future__ import annotations

from pathlib import Path

import pytest
from lightkube import AsyncClient, Client, KubeConfig
from lightkube.types import PatchType

from hybridcloud.controllers.application import ApplicationController, Key
from hybridcloud.controllers.config import OperatorConfig
from hybridcloud.controlplane import ControlPlane
from hybridcloud.feed import Feed
from hybridcloud.kube.resources import MultiClusterApplicationResource
from hybridcloud.kube.tenants import TenantBook
from hybridcloud.kube.wire import KubeWire

from .test_application_delivery import Repo, create_app, sample_files

pytestmark = pytest.mark.integration


def watched(kube: Client, namespace: str, name: str) -> dict[str, object]:
    """What the watch delivers for the object as it is stored now."""
    return dict(kube.get(MultiClusterApplicationResource, name, namespace=namespace).to_dict())


async def test_the_echo_of_its_own_status_write_starts_no_pass_but_a_spec_change_does(
        management: ControlPlane, kube: Client, namespace: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    config = OperatorConfig(delivery_dir=tmp_path / "delivery", allow_local_sources=True)
    settings = KubeConfig.from_file(management.kubeconfig)
    client = AsyncClient(config=settings, field_manager="echo-test")
    wire = KubeWire(settings.get(), field_manager="echo-test")
    controller = ApplicationController(client, wire, config, Feed(),
                                       TenantBook(client, config.tenant_defaults))
    passes: list[Key] = []  # what the work queue was asked to run
    monkeypatch.setattr(controller.queue, "add",
                        lambda key, delay=None: passes.append(key))
    try:
        repo = Repo(tmp_path)
        repo.commit(sample_files())
        # A cluster that does not exist: the pass ends with a status write, no member needed.
        create_app(kube, namespace, "echoed", repo, "k8s/manifests",
                   placement=[{"cluster": "absent"}])
        key = (namespace, "echoed")
        controller.observe("ADDED", watched(kube, namespace, "echoed"))
        assert passes == [key]

        await controller.reconcile(key)
        echo = watched(kube, namespace, "echoed")
        assert echo["status"], "the pass wrote a status"
        controller.observe("MODIFIED", echo)
        assert passes == [key], "the echo of the controller's own write started a pass"

        kube.patch(MultiClusterApplicationResource, "echoed",
                   {"spec": {"placement": [{"cluster": "elsewhere"}]}},
                   namespace=namespace, patch_type=PatchType.MERGE)
        controller.observe("MODIFIED", watched(kube, namespace, "echoed"))
        assert passes == [key, key]
    finally:
        await client.close()
        await wire.close()

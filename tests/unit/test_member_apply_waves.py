"""How one member's sync orders its server-side applies: every object of a wave is in flight at
once (a pass used to send them one after another: one round trip per object, issue 19), and no
object of a later wave is sent before every answer of the earlier ones arrived (namespaces
before what lives in them). The member's apiserver is replaced by a recorder of the applies; the
reads of a new application in a new namespace answer "nothing there"."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import Any

import pytest
from lightkube import KubeConfig

from hybridcloud.delivery import objects as o
from hybridcloud.delivery.member import AppIdentity, MemberCluster
from hybridcloud.delivery.render import Manifest
from hybridcloud.member_writes import Writes
from hybridcloud.models import TenantRules
from hybridcloud.reconcile.tenancy import DEFAULTS_SOURCE, Governing

APP = AppIdentity("tenant-a", "shop", "5f0c0a54-0000-4000-8000-000000000001")
CONFIG = {"apiVersion": "v1", "kind": "Config", "current-context": "east",
          "clusters": [{"name": "east", "cluster": {"server": "https://127.0.0.1:9"}}],
          "users": [{"name": "admin", "user": {"token": "t0ken"}}],
          "contexts": [{"name": "east", "context": {"cluster": "east", "user": "admin"}}]}


def manifest(kind: str, name: str, api_version: str = "v1", **meta: str) -> Manifest:
    return Manifest({"apiVersion": api_version, "kind": kind,
                     "metadata": {"name": name, **meta}}, f"{name}.yaml:1", None)


class Recorder:
    """Stands in for the member's apiserver: answers applies one event-loop turn later."""

    def __init__(self) -> None:
        self.in_flight: set[str] = set()
        self.batches: list[set[str]] = []  # what was in flight together, per send
        self.answered: list[str] = []

    async def apply(self, resource: Any, key: o.ObjectKey, obj: dict[str, Any]) -> dict[str, Any]:
        self.in_flight.add(key.kind + "/" + key.name)
        self.batches.append(set(self.in_flight))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        self.in_flight.discard(key.kind + "/" + key.name)
        self.answered.append(key.kind + "/" + key.name)
        return {**obj, "metadata": {**obj["metadata"], "resourceVersion": "7"}}


@pytest.fixture
def member(monkeypatch: pytest.MonkeyPatch) -> tuple[MemberCluster, Recorder]:
    cluster = MemberCluster("east", KubeConfig.from_dict(CONFIG))
    recorder = Recorder()

    async def absent(names: Iterable[str | None]) -> set[str]:
        return {n for n in names if n}

    async def nothing(*_: Any, **__: Any) -> None:
        return None

    async def write(resource: Any, key: o.ObjectKey,
                    request: Awaitable[dict[str, Any]]) -> dict[str, Any]:
        return await request

    monkeypatch.setattr(cluster.namespaces, "absent", absent)
    monkeypatch.setattr(cluster.namespaces, "ensure", nothing)
    monkeypatch.setattr(cluster.inventories, "read", lambda app: _empty())
    monkeypatch.setattr(cluster.inventories, "write", nothing)
    monkeypatch.setattr(cluster, "_current", nothing)  # health: the watch holds nothing
    monkeypatch.setattr(cluster.applied, "lookup", lambda resource, key: None)
    monkeypatch.setattr(cluster, "_apply", recorder.apply)
    monkeypatch.setattr(cluster.applied, "write", write)
    return cluster, recorder


async def _empty() -> tuple[dict[str, Any], bool]:
    return {}, True


async def test_a_new_applications_objects_are_applied_together_after_their_namespace(
        member: tuple[MemberCluster, Recorder]) -> None:
    cluster, recorder = member
    manifests = [manifest("Namespace", "shop"),
                 *(manifest("ConfigMap", f"settings-{i}", namespace="shop") for i in range(3)),
                 manifest("Service", "web", namespace="shop"),
                 manifest("Deployment", "web", "apps/v1", namespace="shop")]
    outcome = await cluster._sync(APP, manifests, "shop", prune=True, self_heal=False,
                                  writes=Writes.CHANGES,
                                  rules=Governing(TenantRules(), DEFAULTS_SOURCE),
                                  applied_digest=None)
    assert outcome.applied == 6 and not outcome.errors
    assert recorder.answered[0] == "Namespace/shop"
    assert max(len(batch) for batch in recorder.batches) == 5  # all but the namespace at once
    assert all("Namespace/shop" not in batch for batch in recorder.batches[1:])
    await cluster.close()

"""The HybridCluster controller's pass, in process: a fake write client records every request
and a fake provider holds its calls, so the status-grace path and failures after a status write
are covered without an apiserver or an operator process (kopf's ``k8s_mocked`` style)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from hybridcloud import FINALIZER
from hybridcloud.controllers.config import OperatorConfig
from hybridcloud.controllers.hybridcluster import ClusterController
from hybridcloud.feed import DomainEvent, Feed
from hybridcloud.kube.tenants import TenantBook
from hybridcloud.models import TenantRules
from hybridcloud.providers.base import (
    ClusterSpec,
    ClusterState,
    ObservedCluster,
    PermanentError,
)
from hybridcloud.providers.registry import ProviderRegistry

KEY = ("tenant-a", "web")


class FakeWire:
    """Answers status patches like the apiserver (merge, null deletes, new resourceVersion) and
    records them, with whether the provider's create had finished when each was sent."""

    def __init__(self, provider: FakeProvider, fail_status_writes: bool = False) -> None:
        self.provider = provider
        self.fail_status_writes = fail_status_writes
        self.body: dict[str, Any] = _cluster()
        self.status_writes: list[tuple[dict[str, Any], bool]] = []

    async def request(self, method: str, path: str, body: Any = None, *,
                      content_type: str = "") -> dict[str, Any]:
        assert method == "PATCH" and path.endswith("/status"), (method, path)
        if self.fail_status_writes:
            raise ConnectionError("management apiserver unreachable")
        patch: Mapping[str, Any] = body["status"]
        self.status_writes.append((dict(patch), self.provider.created.is_set()))
        status = {k: v for k, v in {**(self.body.get("status") or {}), **patch}.items()
                  if v is not None}
        meta = self.body["metadata"]
        self.body = {**self.body, "status": status,
                     "metadata": {**meta, "resourceVersion": str(int(meta["resourceVersion"]) + 1)}}
        return self.body


class FakeProvider:
    """A cloud whose create takes ``create_seconds`` and then succeeds or raises ``fail``."""

    name = "local"

    def __init__(self, create_seconds: float = 0.0, fail: Exception | None = None) -> None:
        self.create_seconds = create_seconds
        self.fail = fail
        self.created = threading.Event()
        self.creates = 0

    def describe(self, cluster: ClusterSpec) -> ObservedCluster | None:
        if not self.created.is_set():
            return None
        return ObservedCluster(provider_id="id-1", name=cluster.name,
                               state=ClusterState.CREATING, version="1.37.2")

    def create(self, cluster: ClusterSpec) -> None:
        self.creates += 1
        threading.Event().wait(self.create_seconds)
        if self.fail is not None:
            raise self.fail
        self.created.set()

    def default_version(self, cluster: ClusterSpec) -> str:
        return "1.37.2"


def _cluster() -> dict[str, Any]:
    return {"apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
            "metadata": {"name": KEY[1], "namespace": KEY[0], "uid": "uid-1", "generation": 1,
                         "resourceVersion": "10", "finalizers": [FINALIZER]},
            "spec": {"provider": "local", "region": "home", "version": "1.37",
                     "nodeGroups": [{"name": "workers", "size": 1}]}}


def _controller(tmp_path: Path, provider: FakeProvider, wire: FakeWire,
                status_grace: float) -> tuple[ClusterController, list[DomainEvent]]:
    config = OperatorConfig(status_grace=status_grace, delivery_dir=tmp_path / "delivery",
                            local_dir=tmp_path / "local")
    feed = Feed()
    published: list[DomainEvent] = []
    feed.publish = published.append  # type: ignore[method-assign]
    registry = ProviderRegistry(local_dir=tmp_path / "local",
                                overrides={"local": lambda _credentials: provider})
    client: Any = object()  # no credentials to read for "local", no kubeconfig while creating
    controller = ClusterController(client, wire, config, feed, registry,  # type: ignore[arg-type]
                                   TenantBook(client, TenantRules()))
    controller.bodies[KEY] = wire.body
    return controller, published


async def test_a_quick_create_writes_only_the_status_observed_after_it(tmp_path: Path) -> None:
    provider = FakeProvider(create_seconds=0.0)
    wire = FakeWire(provider)
    controller, _ = _controller(tmp_path, provider, wire, status_grace=5.0)

    await controller.reconcile(KEY)

    assert provider.creates == 1
    assert len(wire.status_writes) == 1  # the intended "creating" status was never written
    written, create_done = wire.status_writes[0]
    assert create_done and written["phase"] == "Creating"
    ready = next(c for c in written["conditions"] if c["type"] == "Ready")
    assert ready["message"] == "waiting for the provider to create the cluster"


async def test_a_slow_create_has_its_status_written_while_it_still_runs(tmp_path: Path) -> None:
    provider = FakeProvider(create_seconds=0.5)
    wire = FakeWire(provider)
    controller, published = _controller(tmp_path, provider, wire, status_grace=0.05)

    await controller.reconcile(KEY)

    assert provider.creates == 1
    (first, done_at_first), (second, _) = wire.status_writes
    assert not done_at_first, "the grace expired: the status goes out before the create ends"
    assert next(c for c in first["conditions"] if c["type"] == "Ready")["message"] == \
        "creating the cluster at the provider"
    assert next(c for c in second["conditions"] if c["type"] == "Ready")["message"] == \
        "waiting for the provider to create the cluster"
    assert [e.type for e in published] == ["cluster.created"]


async def test_a_create_failing_after_the_status_write_ends_stalled(tmp_path: Path) -> None:
    provider = FakeProvider(create_seconds=0.3,
                            fail=PermanentError("quota of clusters reached",
                                                reason="QuotaExceeded"))
    wire = FakeWire(provider)
    controller, published = _controller(tmp_path, provider, wire, status_grace=0.05)

    await controller.reconcile(KEY)

    (creating, _), (failed, _) = wire.status_writes
    assert creating["phase"] == "Creating"
    assert failed["phase"] == "Failed"
    stalled = next(c for c in failed["conditions"] if c["type"] == "Stalled")
    assert (stalled["status"], stalled["reason"], stalled["message"]) == \
        ("True", "QuotaExceeded", "quota of clusters reached")
    assert "Reconciling" not in {c["type"] for c in failed["conditions"]}
    assert [e.type for e in published] == ["cluster.created", "cluster.failed"]
    assert published[-1].warning


async def test_a_failed_status_write_waits_for_the_running_create_before_failing_the_pass(
        tmp_path: Path) -> None:
    provider = FakeProvider(create_seconds=0.3)
    wire = FakeWire(provider, fail_status_writes=True)
    controller, _ = _controller(tmp_path, provider, wire, status_grace=0.05)

    with pytest.raises(ConnectionError):
        await controller.reconcile(KEY)

    # Never a cloud call left running behind a failed pass: the retry would start a second one.
    assert provider.created.is_set() and provider.creates == 1
    await asyncio.sleep(0)


class InMemoryProvider(FakeProvider):
    """A provider declaring that its calls never block; records the thread of each call."""

    nonblocking = True

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()

    def describe(self, cluster: ClusterSpec) -> ObservedCluster | None:
        self.threads.add(threading.get_ident())
        return super().describe(cluster)

    def create(self, cluster: ClusterSpec) -> None:
        self.threads.add(threading.get_ident())
        super().create(cluster)


class ThreadRecordingProvider(InMemoryProvider):
    nonblocking = False  # the default of every SDK-backed adapter


async def test_a_provider_declaring_nonblocking_is_called_on_the_event_loop_thread(
        tmp_path: Path) -> None:
    provider = InMemoryProvider()
    wire = FakeWire(provider)
    controller, _ = _controller(tmp_path, provider, wire, status_grace=5.0)

    await controller.reconcile(KEY)

    assert provider.creates == 1 and provider.threads == {threading.get_ident()}
    assert wire.status_writes[-1][0]["phase"] == "Creating"


async def test_a_blocking_provider_is_called_in_a_provider_thread_never_on_the_loop(
        tmp_path: Path) -> None:
    provider = ThreadRecordingProvider()
    wire = FakeWire(provider)
    controller, _ = _controller(tmp_path, provider, wire, status_grace=5.0)

    await controller.reconcile(KEY)

    assert provider.creates == 1 and provider.threads
    assert threading.get_ident() not in provider.threads

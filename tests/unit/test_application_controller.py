"""The MultiClusterApplication controller's pass, in process (kopf's ``k8s_mocked`` style, like
``test_cluster_controller.py``): a fake write client answers and records every request, fake
sources stand in for git and rendering, and fake members record what each pass asks of them. So
the requeue rules, removal pending and a failure after a status write are covered without an
apiserver, a git server or an operator process."""

from __future__ import annotations

import copy
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from hybridcloud import FINALIZER
from hybridcloud.controllers.app_sources import FetchSlotsBusyError
from hybridcloud.controllers.application import MEMBER_EVENTS_GATHERED, ApplicationController
from hybridcloud.controllers.config import OperatorConfig
from hybridcloud.delivery.githooks import Push
from hybridcloud.delivery.gitpushes import RecordedPush
from hybridcloud.delivery.member import MemberUnreachableError, SyncOutcome
from hybridcloud.feed import DomainEvent, Feed
from hybridcloud.kube.tenants import TenantBook
from hybridcloud.models import TenantRules
from hybridcloud.models.application import Health
from hybridcloud.reconcile.placement import Target

KEY = ("tenant-a", "shop")
POLL, RESYNC = 7.0, 300.0


class FakeWire:
    """Answers finalizer and status patches like the apiserver (merge, null deletes, a new
    resourceVersion) and records them; can be told to fail the next status writes."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.status_writes: list[dict[str, Any]] = []
        self.finalizer_patches = 0
        self.fail_status_writes = False

    async def request(self, method: str, path: str, body: Any = None, *,
                      content_type: str = "") -> dict[str, Any]:
        assert method == "PATCH", (method, path)
        meta = dict(self.body["metadata"])
        if path.endswith("/status"):
            if self.fail_status_writes:
                raise ConnectionError("management apiserver unreachable")
            patch: Mapping[str, Any] = body["status"]
            self.status_writes.append(copy.deepcopy(dict(patch)))
            status = {k: v for k, v in {**(self.body.get("status") or {}), **patch}.items()
                      if v is not None}
            self.body = {**self.body, "status": status}
        else:  # a JSON patch of metadata.finalizers
            self.finalizer_patches += 1
            ops = {op["op"] for op in body}
            meta["finalizers"] = [] if "remove" in ops else [FINALIZER]
        meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)
        self.body = {**self.body, "metadata": meta}
        return copy.deepcopy(self.body)


class FakeMember:
    """One member cluster: syncs succeed healthy, or every call fails as unreachable."""

    def __init__(self, name: str, reachable: bool = True) -> None:
        self.name = name
        self.reachable = reachable
        self.syncs = 0
        self.removals = 0

    def _check(self) -> None:
        if not self.reachable:
            raise MemberUnreachableError(f"cluster {self.name} does not answer")

    async def refusals(self, app: Any, manifests: Any, **_: Any) -> list[str]:
        self._check()
        return []

    async def sync(self, app: Any, manifests: Any, **_: Any) -> SyncOutcome:
        self._check()
        self.syncs += 1
        return SyncOutcome(applied=len(manifests), health=Health.HEALTHY,
                           resources={"ConfigMap": len(manifests)})

    async def remove(self, app: Any) -> int:
        self._check()
        self.removals += 1
        return 1


class FakeMembers:
    def __init__(self, *members: FakeMember) -> None:
        self.by_name = {m.name: m for m in members}

    async def get(self, namespace: str, cluster: str, uid: str) -> FakeMember:
        return self.by_name[cluster]

    async def close(self) -> None:
        return None


class FakeSources:
    """A git source at one revision rendering one ConfigMap per target; ``busy`` makes
    resolving fail the way a namespace whose fetch slots are all taken does."""

    def __init__(self, busy: bool = False) -> None:
        self.busy = busy
        self.resolved = 0
        self.rendered: list[str] = []  # the cluster of each target rendered
        self.pushed: list[tuple[Any, str]] = []  # (application, push token) forced to resolve

    async def resolve(self, key: Any, body: Any, spec: Any) -> str:
        if self.busy:
            raise FetchSlotsBusyError(key[0])
        self.resolved += 1
        return "0123456789abcdef0123456789abcdef01234567"

    async def render(self, key: Any, spec: Any, revision: str, target: Target) -> list[Any]:
        self.rendered.append(target.cluster)
        return [{"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": f"shop-{target.cluster}"}}]

    def succeeded(self, key: Any) -> None:
        return None

    def retry_after(self, key: Any) -> float:
        return POLL

    def forget(self, key: Any) -> None:
        return None

    def push_arrived(self, key: Any, token: str, seen_at: float) -> None:
        self.pushed.append((key, token))


class _Listed:
    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    def to_dict(self) -> dict[str, Any]:
        return self.body


class FakeClient:
    """The management client: lists the namespace's HybridClusters (the first pass primes
    placement with them)."""

    def __init__(self, clusters: list[dict[str, Any]]) -> None:
        self.clusters = clusters

    async def list(self, resource: Any, namespace: str) -> AsyncIterator[_Listed]:
        for body in self.clusters:
            yield _Listed(copy.deepcopy(body))


def hybrid_cluster(name: str, phase: str = "Active", uid: str | None = None) -> dict[str, Any]:
    return {"apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
            "metadata": {"name": name, "namespace": KEY[0], "uid": uid or f"uid-{name}",
                         "resourceVersion": "5"},
            "spec": {"provider": "local", "region": "home", "version": "1.37",
                     "nodeGroups": [{"name": "workers", "size": 1}]},
            "status": {"phase": phase}}


def application(clusters: list[str], status: dict[str, Any] | None = None,
                deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": KEY[1], "namespace": KEY[0], "uid": "app-uid",
                            "generation": 1, "resourceVersion": "10", "finalizers": [FINALIZER]}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    body: dict[str, Any] = {
        "apiVersion": "platform.example.com/v1", "kind": "MultiClusterApplication",
        "metadata": meta,
        "spec": {"source": {"repository": "https://git.example.com/team/shop.git"},
                 "placement": [{"cluster": c} for c in clusters]}}
    if status is not None:
        body["status"] = status
    return body


def deployed_on(*clusters: str) -> dict[str, Any]:
    """A status recording a synced, healthy deployment on each of ``clusters``."""
    return {"phase": "Running", "observedGeneration": 1, "placedClusters": list(clusters),
            "deployments": [{"cluster": c, "status": "Synced", "health": "Healthy",
                             "revision": "0123456789abcdef0123456789abcdef01234567"}
                            for c in clusters]}


def controller_for(tmp_path: Path, body: dict[str, Any], clusters: list[dict[str, Any]],
                   members: FakeMembers, sources: FakeSources | None = None,
                   ) -> tuple[ApplicationController, FakeWire, list[DomainEvent]]:
    config = OperatorConfig(delivery_dir=tmp_path / "delivery", local_dir=tmp_path / "local",
                            delivery_poll_interval=POLL, resync_interval=RESYNC)
    feed = Feed()
    published: list[DomainEvent] = []
    feed.publish = published.append  # type: ignore[method-assign]
    wire = FakeWire(body)
    client: Any = FakeClient(clusters)
    controller = ApplicationController(client, wire, config, feed,  # type: ignore[arg-type]
                                       TenantBook(client, TenantRules()))
    controller.members = members  # type: ignore[assignment]
    controller.sources = sources or FakeSources()  # type: ignore[assignment]
    controller.bodies[KEY] = copy.deepcopy(body)
    return controller, wire, published


def _deployment(status: Mapping[str, Any], cluster: str) -> Mapping[str, Any]:
    return next(d for d in status["deployments"] if d["cluster"] == cluster)


async def test_a_first_pass_delivers_to_every_placed_cluster_and_writes_one_status(
        tmp_path: Path) -> None:
    east, west = FakeMember("east"), FakeMember("west")
    controller, wire, published = controller_for(
        tmp_path, application(["east", "west"]),
        [hybrid_cluster("east"), hybrid_cluster("west")], FakeMembers(east, west))

    delay = await controller.reconcile(KEY)

    assert (east.syncs, west.syncs) == (1, 1)
    assert len(wire.status_writes) == 1
    written = wire.status_writes[0]
    assert sorted(written["placedClusters"]) == ["east", "west"]
    assert {d["status"] for d in written["deployments"]} == {"Synced"}
    assert delay == RESYNC, "synced and healthy everywhere: nothing to poll for"
    assert [e.type for e in published] == ["application.deployed"]


async def test_a_new_application_gets_its_finalizer_before_anything_is_delivered(
        tmp_path: Path) -> None:
    body = application(["east"])
    body["metadata"]["finalizers"] = []
    east = FakeMember("east")
    controller, wire, _ = controller_for(tmp_path, body, [hybrid_cluster("east")],
                                         FakeMembers(east))

    await controller.reconcile(KEY)

    assert wire.finalizer_patches == 1
    assert controller.bodies[KEY]["metadata"]["finalizers"] == [FINALIZER]
    assert east.syncs == 1


async def test_busy_fetch_slots_requeue_soon_without_writing_status_or_touching_members(
        tmp_path: Path) -> None:
    east = FakeMember("east")
    controller, wire, published = controller_for(
        tmp_path, application(["east"]), [hybrid_cluster("east")], FakeMembers(east),
        FakeSources(busy=True))

    delay = await controller.reconcile(KEY)

    assert delay == 1.0, "come back within a second (the poll interval is longer)"
    assert wire.status_writes == []
    assert east.syncs == 0
    assert published == []


async def test_a_failed_sync_on_an_unreachable_member_is_reported_and_polled(
        tmp_path: Path) -> None:
    east, west = FakeMember("east"), FakeMember("west", reachable=False)
    controller, wire, _ = controller_for(
        tmp_path, application(["east", "west"]),
        [hybrid_cluster("east"), hybrid_cluster("west")], FakeMembers(east, west))

    delay = await controller.reconcile(KEY)

    written = wire.status_writes[-1]
    assert _deployment(written, "east")["status"] == "Synced"
    failed = _deployment(written, "west")
    assert failed["status"] == "Failed"
    assert "does not answer" in failed["message"]
    assert delay == POLL, "a failed sync is retried at the poll interval, not the resync"


async def test_removal_from_a_left_cluster_that_does_not_answer_stays_pending_and_is_polled(
        tmp_path: Path) -> None:
    east, west = FakeMember("east"), FakeMember("west", reachable=False)
    controller, wire, _ = controller_for(
        tmp_path, application(["east"], status=deployed_on("east", "west")),
        [hybrid_cluster("east"), hybrid_cluster("west")], FakeMembers(east, west))

    delay = await controller.reconcile(KEY)

    written = controller.bodies[KEY]["status"]
    leaving = _deployment(written, "west")
    assert leaving["status"] == "Removing"
    assert leaving["message"].startswith("removal pending: ")
    assert west.removals == 0
    assert delay == POLL

    west.reachable = True  # the member answers again: the next pass completes the removal
    await controller.reconcile(KEY)

    assert west.removals == 1
    assert [d["cluster"] for d in controller.bodies[KEY]["status"]["deployments"]] == ["east"]
    assert wire.status_writes, "both passes wrote their status"


async def test_removal_from_a_cluster_that_is_gone_is_not_pending(tmp_path: Path) -> None:
    east, west = FakeMember("east"), FakeMember("west", reachable=False)
    # west is no longer a HybridCluster of the namespace: nothing there to clean up.
    controller, _, _ = controller_for(
        tmp_path, application(["east"], status=deployed_on("east", "west")),
        [hybrid_cluster("east")], FakeMembers(east, west))

    delay = await controller.reconcile(KEY)

    status = controller.bodies[KEY]["status"]
    assert [d["cluster"] for d in status["deployments"]] == ["east"]
    assert delay == RESYNC


async def test_deleting_waits_for_a_member_that_does_not_answer_and_keeps_the_finalizer(
        tmp_path: Path) -> None:
    east = FakeMember("east", reachable=False)
    controller, wire, _ = controller_for(
        tmp_path, application(["east"], status=deployed_on("east"), deleting=True),
        [hybrid_cluster("east")], FakeMembers(east))

    delay = await controller.reconcile(KEY)

    assert delay == POLL
    assert wire.finalizer_patches == 0, "the finalizer stays until the member is cleaned"
    status = controller.bodies[KEY]["status"]
    assert status["phase"] == "Deleting"
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["reason"], ready["message"]) == ("Removing", "removing the application from east")

    east.reachable = True
    assert await controller.reconcile(KEY) is None
    assert east.removals == 1
    assert wire.finalizer_patches == 1
    assert KEY not in controller.bodies


async def test_a_failed_status_write_after_delivery_reaches_the_queue_and_the_retry_converges(
        tmp_path: Path) -> None:
    east = FakeMember("east")
    controller, wire, published = controller_for(
        tmp_path, application(["east"]), [hybrid_cluster("east")], FakeMembers(east))
    wire.fail_status_writes = True

    with pytest.raises(ConnectionError):
        await controller.reconcile(KEY)

    assert east.syncs == 1, "delivery happened before the status write failed"
    assert "status" not in controller.bodies[KEY], "no status was recorded as written"
    assert published == [], "no event for a transition that was never stored"

    wire.fail_status_writes = False
    await controller.reconcile(KEY)

    assert east.syncs == 2
    assert _deployment(controller.bodies[KEY]["status"], "east")["status"] == "Synced"
    assert [e.type for e in published] == ["application.deployed"]


async def test_targets_asking_for_the_same_components_and_values_share_one_render(
        tmp_path: Path) -> None:
    """Rendering does not depend on the cluster: an app on three members renders its source
    once per distinct (components, values), not once per member (issue 19)."""
    members = FakeMembers(FakeMember("east"), FakeMember("west"), FakeMember("north"))
    body = application(["east", "west", "north"])
    body["spec"]["placement"][2]["values"] = {"replicas": 3}
    sources = FakeSources()
    controller, _, _ = controller_for(
        tmp_path, body, [hybrid_cluster(c) for c in ("east", "west", "north")], members,
        sources)

    await controller.reconcile(KEY)

    assert sources.rendered == ["east", "north"], "west shares east's render"
    assert [m.syncs for m in members.by_name.values()] == [1, 1, 1]


async def test_a_recorded_push_queues_exactly_the_applications_that_track_it(
        tmp_path: Path) -> None:
    controller, _, _ = controller_for(tmp_path, application(["east"]), [], FakeMembers())
    for namespace, name, repository, revision in (
            ("tenant-b", "same-repo", "git@git.example.com:team/shop", "main"),
            ("tenant-a", "other-branch", "https://git.example.com/team/shop.git", "release"),
            ("tenant-a", "other-repo", "https://git.example.com/team/cart.git", "main")):
        body = application(["east"])
        body["metadata"] |= {"namespace": namespace, "name": name}
        body["spec"]["source"] = {"repository": repository, "revision": revision}
        controller.bodies[(namespace, name)] = body
    queued: list[Any] = []
    controller.queue.add = queued.append  # type: ignore[method-assign]
    controller.pushed(RecordedPush("git-push:1", Push(
        frozenset({"git.example.com/team/shop"}), "refs/heads/main", "main")))
    # KEY names no revision: HEAD, the default branch the push went to.
    assert sorted(queued) == [KEY, ("tenant-b", "same-repo")]
    sources = controller.sources
    assert isinstance(sources, FakeSources)
    assert sorted(sources.pushed) == [(KEY, "git-push:1"), (("tenant-b", "same-repo"),
                                                            "git-push:1")]


async def test_member_reports_of_one_change_make_one_pass_soon_not_one_each(
        tmp_path: Path) -> None:
    """Each member's controllers report a new Deployment's status: the reports of all members
    gather for a moment and the application's pass runs once."""
    controller, _, _ = controller_for(tmp_path, application(["east", "west", "north"]), [],
                                      FakeMembers())
    controller._uids["app-uid"] = KEY
    for _ in range(3):
        controller._changed_on_member("app-uid")
    assert controller.queue.pending == 1
    # Not at once: a pass started by the first report would run again for each later one.
    assert controller.queue._due[KEY] - time.monotonic() > MEMBER_EVENTS_GATHERED / 2
    controller._changed_on_member("another-apps-uid")  # not ours to queue
    assert controller.queue.pending == 1

"""Versions in the pure HybridCluster decisions: upgrades one minor version at a time, the
provider's default when spec.version is left out, and node groups whose size cannot be read."""

from __future__ import annotations

from typing import Any

from hybridcloud.models import HybridClusterSpec
from hybridcloud.providers.base import (
    ClusterState,
    ObservedCluster,
    ObservedNodeGroup,
    TransientError,
)
from hybridcloud.reconcile.cluster import (
    ActionKind,
    ClusterView,
    Timing,
    cluster_spec,
    decide,
    failed,
    needs_default_version,
)

NOW = "2025-01-01T00:00:00Z"
WORKERS = ObservedNodeGroup("workers", 2, 2, ClusterState.ACTIVE)


def view(status: dict[str, Any] | None = None, *, default_version: str | None = None,
         **spec: Any) -> ClusterView:
    base: dict[str, Any] = {"provider": "gcp", "region": "europe-west1",
                            "nodeGroups": [{"name": "workers", "size": 2}]}
    base.update(spec)
    return ClusterView("prod", "team-a", "uid-1234", 1, HybridClusterSpec.model_validate(base),
                       status or {}, default_version=default_version)


def active(version: str, *groups: ObservedNodeGroup) -> ObservedCluster:
    return ObservedCluster("id", "hc-prod", ClusterState.ACTIVE, version=version,
                           endpoint="https://k8s.example", node_groups=groups or (WORKERS,))


def ready(decision: Any) -> dict[str, Any]:
    return next(c for c in decision.status["conditions"] if c["type"] == "Ready")


class TestOneMinorAtATime:
    def test_an_upgrade_two_minors_ahead_goes_to_the_next_minor_first(self) -> None:
        decision = decide(view({"phase": "Active"}, version="v1.30"),
                          active("1.28.15-gke.1020000"), now=NOW)
        assert decision.action is not None and decision.action.kind == ActionKind.UPGRADE
        assert decision.action.version == "1.29"
        assert decision.status["version"] == "v1.28.15-gke.1020000"
        assert "on the way to 1.30" in ready(decision)["message"]

    def test_status_shows_the_intermediate_version_and_the_next_step_follows(self) -> None:
        decision = decide(view({"phase": "Updating"}, version="v1.30"),
                          active("1.29.10-gke.1071000"), now=NOW)
        assert decision.status["version"] == "v1.29.10-gke.1071000"
        assert decision.action is not None and decision.action.version == "1.30"
        assert decide(view({"phase": "Updating"}, version="v1.30"),
                      active("1.30.6-gke.1125000"), now=NOW).action is None

    def test_a_patch_target_one_minor_ahead_is_sent_as_asked(self) -> None:
        decision = decide(view({"phase": "Active"}, version="v1.29.2"), active("1.28.5"),
                          now=NOW)
        assert decision.action is not None and decision.action.version == "1.29.2"


class TestDefaultVersion:
    def test_a_cluster_without_version_is_created_at_the_providers_default_and_records_it(
            self) -> None:
        first = view()
        assert needs_default_version(first)
        decision = decide(view(default_version="1.30.6-gke.1125000"), None, now=NOW)
        assert decision.action is not None and decision.action.kind == ActionKind.CREATE
        assert decision.status["version"] == "v1.30.6-gke.1125000"
        assert cluster_spec(view(default_version="1.30.6-gke.1125000")).version == "1.30"
        assert not needs_default_version(view(decision.status))

    def test_the_recorded_version_is_kept_when_the_providers_default_moves_on(self) -> None:
        recorded = {"phase": "Creating", "version": "v1.30.6-gke.1125000"}
        later = view(recorded, default_version="1.31.2-gke.1518000")
        assert cluster_spec(later).version == "1.30"
        decision = decide(later, active("1.30.6-gke.1125000"), now=NOW)
        assert decision.action is None and decision.status["phase"] == "Active"

    def test_without_a_version_whatever_runs_is_kept_even_after_a_cloud_auto_upgrade(
            self) -> None:
        decision = decide(view({"phase": "Active", "version": "v1.30.6"}), active("1.31.2"),
                          now=NOW)
        assert decision.action is None and decision.status["version"] == "v1.31.2"


class TestNodeCountsUnknown:
    def test_a_group_whose_size_cannot_be_read_is_never_resized_and_stalls_saying_why(
            self) -> None:
        unknown = ObservedNodeGroup("workers", 3, 0, ClusterState.ACTIVE,
                                    size_unknown="grant compute.instanceGroupManagers.get")
        decision = decide(view({"phase": "Active"}, version="1.30"), active("1.30.6", unknown),
                          now=NOW)
        assert decision.action is None
        stalled = next(c for c in decision.status["conditions"] if c["type"] == "Stalled")
        assert stalled["reason"] == "NodeCountUnknown"
        assert "node group workers" in stalled["message"]
        assert "compute.instanceGroupManagers.get" in stalled["message"]

    def test_an_autoscaled_group_of_unknown_size_is_left_to_its_autoscaler(self) -> None:
        group = {"name": "workers", "size": 2,
                 "autoScaling": {"enabled": True, "minSize": 1, "maxSize": 5}}
        unknown = ObservedNodeGroup("workers", 3, 3, ClusterState.ACTIVE, min_size=1,
                                    max_size=5, size_unknown="cannot read")
        decision = decide(view({"phase": "Active"}, version="1.30", nodeGroups=[group]),
                          active("1.30.6", unknown), now=NOW)
        assert decision.action is None and decision.status["phase"] == "Active"


def test_throttling_without_retry_after_retries_after_the_poll_interval() -> None:
    timing = Timing(poll=7.0)
    without = failed(view({"phase": "Creating"}, version="1.30"),
                     TransientError("429 RESOURCE_EXHAUSTED"), timing=timing, now=NOW)
    assert without.requeue_after == 7.0 and without.status["phase"] == "Creating"
    with_header = failed(view({"phase": "Creating"}, version="1.30"),
                         TransientError("429", retry_after=30.0), timing=timing, now=NOW)
    assert with_header.requeue_after == 30.0


def test_a_deletion_the_provider_failed_stalls_with_its_message_then_is_retried() -> None:
    doomed = ObservedCluster("id", "hc-prod", ClusterState.FAILED,
                             message="Resource DELETE failed: volume in use", delete_failed=True)
    deleting = ClusterView("prod", "team-a", "uid-1234", 1, view(version="1.30").spec,
                           {"phase": "Deleting"}, deleting=True)
    first = decide(deleting, doomed, timing=Timing(stalled=60.0), now=NOW)
    stalled = next(c for c in first.status["conditions"] if c["type"] == "Stalled")
    assert (stalled["reason"], stalled["message"]) == ("DeleteFailed",
                                                       "Resource DELETE failed: volume in use")
    assert first.action is None and first.requeue_after == 60.0
    assert first.transition == "cluster.failed"
    again = decide(ClusterView("prod", "team-a", "uid-1234", 1, deleting.spec, first.status,
                               deleting=True), doomed, now=NOW)
    assert again.action is not None and again.action.kind == ActionKind.DELETE
    # A cluster that failed before (or while) being deleted otherwise is simply deleted.
    failed_before = ObservedCluster("id", "hc-prod", ClusterState.FAILED, message="ERROR")
    assert decide(deleting, failed_before, now=NOW).action is not None

"""The pure HybridCluster decisions: one action at a time, honest status, no needless writes."""

from __future__ import annotations

from typing import Any

import pytest

from hybridcloud.models import HybridClusterSpec
from hybridcloud.providers.base import (
    ClusterState,
    ObservedCluster,
    ObservedNodeGroup,
    PermanentError,
    TransientError,
)
from hybridcloud.reconcile.cluster import (
    ActionKind,
    ClusterView,
    cluster_spec,
    decide,
    failed,
    provider_name,
)

NOW = "2025-01-01T00:00:00Z"


def view(status: dict[str, Any] | None = None, *, generation: int = 1, deleting: bool = False,
         paused: bool = False, **spec: Any) -> ClusterView:
    base: dict[str, Any] = {"provider": "aws", "region": "us-west-2", "version": "v1.28.0",
                            "nodeGroups": [{"name": "workers", "size": 2}]}
    base.update(spec)
    return ClusterView("prod", "team-a", "uid-1234", generation,
                       HybridClusterSpec.model_validate(base), status or {}, deleting, paused)


def active(*groups: ObservedNodeGroup, version: str = "1.28.0") -> ObservedCluster:
    return ObservedCluster("arn:cluster", "hc-prod", ClusterState.ACTIVE, version=version,
                           endpoint="https://k8s.example", node_groups=groups or (
                               ObservedNodeGroup("workers", 2, 2, ClusterState.ACTIVE),))


def conditions(decision: Any) -> dict[str, str]:
    return {c["type"]: c["status"] for c in decision.status["conditions"]}


def test_provider_names_are_deterministic_short_and_unique_per_object() -> None:
    first = provider_name("Very_Long.Cluster-Name-" * 3, "uid-1")
    assert first == provider_name("Very_Long.Cluster-Name-" * 3, "uid-1")
    assert first != provider_name("Very_Long.Cluster-Name-" * 3, "uid-2")
    assert len(first) <= 40 and first.startswith("hc-") and first == first.lower()


def test_a_new_cluster_records_its_provider_name_and_asks_for_one_create() -> None:
    decision = decide(view(), None, now=NOW)
    assert decision.action is not None and decision.action.kind == ActionKind.CREATE
    assert decision.status["providerName"] == provider_name("prod", "uid-1234")
    assert decision.status["phase"] == "Creating"
    assert conditions(decision)["Reconciling"] == "True"
    assert decision.transition == "cluster.created"


def test_creation_in_progress_reissues_the_idempotent_create_so_providers_can_continue() -> None:
    observed = ObservedCluster("id", "hc", ClusterState.CREATING)
    decision = decide(view({"phase": "Creating"}), observed, now=NOW)
    assert decision.action is not None and decision.action.kind == ActionKind.CREATE
    assert decision.transition is None


def test_an_active_converged_cluster_is_ready_and_a_second_pass_changes_nothing() -> None:
    first = decide(view({"phase": "Creating"}), active(), now=NOW)
    assert first.status["phase"] == "Active" and first.action is None
    assert conditions(first) == {"Ready": "True", "InfrastructureReady": "True",
                                 "ControlPlaneReady": "True", "NodePoolsReady": "True"}
    assert first.status["nodes"] == {"total": 2, "ready": 2, "master": 0, "worker": 2}
    assert first.transition == "cluster.ready"
    second = decide(view(first.status), active(), now="2030-01-01T00:00:00Z")
    assert second.status == first.status
    assert second.transition is None


def test_a_size_change_scales_the_group_and_reports_updating() -> None:
    converged = decide(view({"phase": "Creating"}), active(), now=NOW).status
    decision = decide(view(converged, generation=2,
                           nodeGroups=[{"name": "workers", "size": 5}]), active(), now=NOW)
    assert decision.action is not None and decision.action.kind == ActionKind.UPDATE_NODE_GROUP
    assert decision.action.node_group is not None and decision.action.node_group.size == 5
    assert decision.status["phase"] == "Updating"
    assert decision.transition == "cluster.scaled"


def test_autoscaled_groups_follow_bounds_not_size() -> None:
    spec = {"nodeGroups": [{"name": "workers", "size": 3, "autoScaling": {
        "enabled": True, "minSize": 1, "maxSize": 5}}]}
    observed = active(ObservedNodeGroup("workers", 4, 4, ClusterState.ACTIVE, 1, 5))
    assert decide(view({"phase": "Active"}, **spec), observed, now=NOW).action is None
    moved = active(ObservedNodeGroup("workers", 4, 4, ClusterState.ACTIVE, 2, 5))
    action = decide(view({"phase": "Active"}, **spec), moved, now=NOW).action
    assert action is not None and action.kind == ActionKind.UPDATE_NODE_GROUP


def test_added_and_removed_groups_are_created_and_deleted_one_at_a_time() -> None:
    two = [{"name": "workers", "size": 2}, {"name": "batch", "size": 1}]
    create = decide(view({"phase": "Active"}, nodeGroups=two), active(), now=NOW).action
    assert create is not None and create.kind == ActionKind.CREATE_NODE_GROUP
    extra = active(ObservedNodeGroup("workers", 2, 2, ClusterState.ACTIVE),
                   ObservedNodeGroup("old", 1, 1, ClusterState.ACTIVE))
    delete = decide(view({"phase": "Active"}), extra, now=NOW).action
    assert delete is not None and delete.kind == ActionKind.DELETE_NODE_GROUP
    assert delete.node_group_name == "old"


def test_control_plane_groups_are_never_managed_as_worker_groups() -> None:
    groups = [{"name": "masters", "size": 3, "role": "control-plane"},
              {"name": "workers", "size": 2}]
    assert decide(view({"phase": "Active"}, nodeGroups=groups), active(), now=NOW).action is None


def test_a_newer_version_upgrades_and_a_downgrade_stalls() -> None:
    upgrade = decide(view({"phase": "Active"}, version="v1.29.1"), active(), now=NOW).action
    assert upgrade is not None and upgrade.kind == ActionKind.UPGRADE
    assert upgrade.version == "1.29.1"
    assert decide(view({"phase": "Active"}, version="v1.28"), active(), now=NOW).action is None
    downgrade = decide(view({"phase": "Active"}, version="v1.27.0"), active(), now=NOW)
    assert downgrade.status["phase"] == "Failed"
    assert conditions(downgrade)["Stalled"] == "True"


def test_transient_errors_keep_the_phase_and_retry_after_the_providers_delay() -> None:
    decision = failed(view({"phase": "Creating"}), TransientError("throttled", retry_after=7))
    assert decision.status["phase"] == "Creating"
    assert conditions(decision)["Reconciling"] == "True"
    assert "Stalled" not in conditions(decision)
    assert decision.requeue_after == 7


def test_permanent_errors_fail_and_stall_with_the_providers_message() -> None:
    decision = failed(view({"phase": "Creating"}), PermanentError("flavor m1.huge not found",
                                                                   reason="InvalidFlavor"))
    assert decision.status["phase"] == "Failed"
    stalled = next(c for c in decision.status["conditions"] if c["type"] == "Stalled")
    assert (stalled["reason"], stalled["message"]) == ("InvalidFlavor", "flavor m1.huge not found")
    assert decision.transition == "cluster.failed"


def test_a_failed_cluster_is_replaced_once_the_spec_changes() -> None:
    broken = ObservedCluster("id", "hc", ClusterState.FAILED, message="CREATE_FAILED: quota")
    stuck = decide(view({"phase": "Failed", "observedGeneration": 1}), broken, now=NOW)
    assert stuck.action is None and stuck.status["phase"] == "Failed"
    fixed = decide(view({"phase": "Failed", "observedGeneration": 1}, generation=2), broken,
                   now=NOW)
    assert fixed.action is not None and fixed.action.kind == ActionKind.DELETE


@pytest.mark.parametrize("state", [None, ClusterState.ACTIVE])
def test_pause_blocks_every_cloud_write(state: ClusterState | None) -> None:
    observed = active() if state else None
    decision = decide(view({"phase": "Active"}, paused=True, version="v1.29.0"), observed,
                      now=NOW)
    assert decision.action is None
    assert conditions(decision)["Paused"] == "True"


def test_deletion_deletes_at_the_provider_then_releases_the_finalizer() -> None:
    deleting = decide(view({"phase": "Active"}, deleting=True), active(), now=NOW)
    assert deleting.action is not None and deleting.action.kind == ActionKind.DELETE
    assert not deleting.release_finalizer
    waiting = decide(view({"phase": "Deleting"}, deleting=True),
                     ObservedCluster("id", "hc", ClusterState.DELETING), now=NOW)
    assert waiting.action is not None and waiting.action.kind == ActionKind.DELETE
    assert not waiting.release_finalizer
    done = decide(view({"phase": "Deleting"}, deleting=True), None, now=NOW)
    assert done.release_finalizer and done.transition == "cluster.deleted"


def test_orphan_policy_releases_without_touching_the_provider() -> None:
    decision = decide(view({"phase": "Active"}, deleting=True, deletionPolicy="Orphan"),
                      active(), now=NOW)
    assert decision.action is None and decision.release_finalizer


def test_cluster_spec_carries_tags_options_and_bounds() -> None:
    spec = cluster_spec(view(aws={"roleArn": "arn:role"}, nodeGroups=[{
        "name": "workers", "size": 2, "autoScaling": {"enabled": True, "minSize": 1,
                                                       "maxSize": 4}}]))
    assert spec.version == "1.28.0" and spec.options == {"roleArn": "arn:role"}
    assert spec.tags["hybridcloud-uid"] == "uid-1234"
    assert (spec.node_groups[0].min_size, spec.node_groups[0].max_size) == (1, 4)


def test_errors_keep_the_paused_condition_consistent_with_the_pause_annotation() -> None:
    paused = decide(view({"phase": "Active"}, paused=True), active(), now=NOW)
    still = failed(view(paused.status, paused=True), TransientError("throttled"))
    assert [c for c in still.status["conditions"] if c["type"] == "Paused"] == \
        [c for c in paused.status["conditions"] if c["type"] == "Paused"]
    resumed = failed(view(paused.status), TransientError("throttled"))
    assert "Paused" not in conditions(resumed)

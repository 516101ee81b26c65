"""The application controller's per-pass decisions, without I/O (reconcile/application_outcome)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hybridcloud.models.application import DeploymentState, Health
from hybridcloud.reconcile.application import ClusterOutcome
from hybridcloud.reconcile.application_outcome import (
    Timing,
    outcome,
    removal_pending,
    requeue_after,
)
from hybridcloud.reconcile.placement import ClusterFacts

TIMING = Timing(poll=5.0, resync=300.0)


@dataclass
class Result:
    applied: int = 0
    pruned: int = 0
    out_of_sync: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    health: Health = Health.HEALTHY
    resources: dict[str, int] = field(default_factory=dict)
    digest: str | None = None


def test_a_clean_sync_records_the_new_revision_and_says_objects_were_applied() -> None:
    got = outcome("east", None, Result(applied=2), "new", "old", None)
    assert (got.state, got.revision, got.message, got.synced_now) == \
        (DeploymentState.SYNCED, "new", None, True)


def test_errors_and_refusals_fail_the_cluster_keep_the_old_revision_and_list_at_most_five() -> None:
    got = outcome("east", ("web",), Result(refused=["r1", "r2", "r3"], errors=["e1", "e2", "e3"]),
                  "new", "old", None)
    assert got.state == DeploymentState.FAILED and got.revision == "old"
    assert got.message == "r1; r2; r3; e1; e2" and got.components == ("web",)


def test_drift_left_alone_is_out_of_sync_and_says_why_it_was_held() -> None:
    got = outcome("east", None, Result(out_of_sync=["Deployment/a"]), "new", "old", "paused")
    assert got.state == DeploymentState.OUT_OF_SYNC and got.revision == "old"
    assert got.message == "1 object(s) differ from git: Deployment/a; not applied: paused"
    assert not got.synced_now


def test_requeue_polls_while_a_sync_failed_or_a_synced_app_is_not_healthy_yet() -> None:
    failed = ClusterOutcome("east", DeploymentState.FAILED, Health.UNKNOWN)
    rolling = ClusterOutcome("east", DeploymentState.SYNCED, Health.PROGRESSING)
    healthy = ClusterOutcome("east", DeploymentState.SYNCED, Health.HEALTHY)
    assert requeue_after([failed], [], None, TIMING) == 5.0
    assert requeue_after([rolling], [], None, TIMING) == 5.0
    assert requeue_after([healthy], [], None, TIMING) == 300.0


def test_a_rollout_the_member_watches_follow_is_checked_at_the_rollout_interval() -> None:
    """Health changes arrive as member watch events; the rollout check only catches a missed
    one. A failure on another member still polls."""
    timing = Timing(poll=5.0, resync=300.0, rollout=30.0)
    failed = ClusterOutcome("west", DeploymentState.FAILED, Health.UNKNOWN)
    rolling = ClusterOutcome("east", DeploymentState.SYNCED, Health.PROGRESSING)
    degraded = ClusterOutcome("east", DeploymentState.SYNCED, Health.DEGRADED)
    assert requeue_after([rolling], [], None, timing) == 30.0
    assert requeue_after([degraded], [], None, timing) == 30.0
    assert requeue_after([rolling, failed], [], None, timing) == 5.0
    assert requeue_after([rolling], [], None, Timing(poll=5.0, resync=20.0, rollout=30.0)) == 20.0


def test_requeue_waits_for_the_resync_on_what_only_a_user_can_resolve() -> None:
    drifted = ClusterOutcome("east", DeploymentState.OUT_OF_SYNC, Health.DEGRADED)
    assert requeue_after([drifted], [], None, TIMING) == 300.0
    assert requeue_after([], ["west"], "paused", TIMING) == 300.0  # a held removal
    assert requeue_after([], ["west"], None, TIMING) == 5.0  # a removal under way


def test_removal_stays_pending_only_while_the_cluster_still_serves() -> None:
    active = ClusterFacts("west", "Active", "local")
    assert removal_pending(active, "timeout") == "removal pending: timeout"
    assert removal_pending(ClusterFacts("west", "Updating", "local"), "x") == "removal pending: x"
    assert removal_pending(None, "gone") is None
    assert removal_pending(ClusterFacts("west", "Failed", "local"), "x") is None
    assert removal_pending(ClusterFacts("west", "Active", "local", deleting=True), "x") is None

"""Application status: conditions, phase and domain events from one pass's observation."""

from __future__ import annotations

from typing import Any

from hybridcloud.events.transitions import recorded
from hybridcloud.models.application import DeploymentState, Health
from hybridcloud.reconcile.application import ClusterOutcome, Observation, derive_status
from hybridcloud.reconcile.placement import Placement, Target

NOW = "2026-01-01T00:00:00Z"
LATER = "2026-01-01T00:05:00Z"
SHA = "a" * 40
PLACED = Placement((Target("east", None, {}),), True, "Placed", "placed on east")


def outcome(health: Health = Health.HEALTHY, state: DeploymentState = DeploymentState.SYNCED,
            **fields: Any) -> ClusterOutcome:
    return ClusterOutcome("east", state, health, revision=SHA, **fields)


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def test_a_healthy_synced_app_is_ready_and_deployed() -> None:
    decision = derive_status(None, Observation(1, revision=SHA, placement=PLACED, outcomes=[
        outcome(resources={"deployments": 1}, synced_now=True)]), now=NOW)
    status = decision.status
    assert status["phase"] == "Deployed" and status["sourceRevision"] == SHA
    assert conditions(status) == {"Ready": ("True", "Ready"), "Synced": ("True", "Synced"),
                                  "PlacementReady": ("True", "Placed")}
    assert status["deployments"] == [{"cluster": "east", "status": "Synced",
                                       "health": "Healthy", "lastSync": NOW, "revision": SHA,
                                       "resources": {"deployments": 1}}]
    assert status["placedClusters"] == ["east"] and status["observedGeneration"] == 1
    assert decision.transition == "application.deployed"


def test_rolling_out_is_reconciling_and_progressing() -> None:
    status = derive_status(None, Observation(2, revision=SHA, placement=PLACED, outcomes=[
        outcome(Health.PROGRESSING)]), now=NOW).status
    assert status["phase"] == "Progressing"
    assert conditions(status)["Reconciling"] == ("True", "Progressing")
    assert conditions(status)["Ready"] == ("False", "Progressing")


def test_a_converged_pass_changes_nothing_and_keeps_last_sync() -> None:
    first = derive_status(None, Observation(1, revision=SHA, placement=PLACED, outcomes=[
        outcome(synced_now=True)]), now=NOW)
    again = derive_status(first.status, Observation(1, revision=SHA, placement=PLACED,
                                                    outcomes=[outcome()]), now=LATER)
    assert again.status == first.status and again.transition is None


def test_impossible_placement_stalls_and_fails_with_the_reason() -> None:
    impossible = Placement((), False, "ConstraintsUnsatisfiable", "region_diversity needs 3")
    decision = derive_status(None, Observation(1, revision=SHA, placement=impossible), now=NOW)
    found = conditions(decision.status)
    assert found["PlacementReady"] == ("False", "ConstraintsUnsatisfiable")
    assert found["Stalled"] == ("True", "ConstraintsUnsatisfiable")
    assert found["Synced"] == ("False", "PlacementNotReady")
    assert decision.status["phase"] == "Failed" and decision.transition == "application.failed"


def test_a_render_error_keeps_the_clusters_as_recorded_and_names_the_file() -> None:
    ready = derive_status(None, Observation(1, revision=SHA, placement=PLACED, outcomes=[
        outcome(synced_now=True)]), now=NOW).status
    broken = derive_status(ready, Observation(
        1, revision="b" * 40, placement=PLACED, render_error="svc.yaml:4: invalid YAML",
        outcomes=[outcome()]), now=LATER)
    synced = next(c for c in broken.status["conditions"] if c["type"] == "Synced")
    assert (synced["reason"], synced["message"]) == ("RenderFailed", "svc.yaml:4: invalid YAML")
    assert broken.status["deployments"][0]["lastSync"] == NOW
    assert broken.status["deployments"][0]["revision"] == SHA
    assert conditions(broken.status)["Stalled"] == ("True", "RenderFailed")


def test_a_transient_source_error_is_reconciling_not_stalled_but_a_missing_revision_is() -> None:
    flaky = derive_status(None, Observation(1, source_error=("SourceUnavailable", "timeout"),
                                            source_transient=True, placement=PLACED),
                          now=NOW).status
    assert "Stalled" not in conditions(flaky)
    assert conditions(flaky)["Synced"] == ("False", "SourceUnavailable")
    assert conditions(flaky)["Reconciling"] == ("True", "SourceUnavailable")
    missing = derive_status(None, Observation(1, source_error=("RevisionNotFound", "no v9"),
                                              placement=PLACED), now=NOW).status
    assert conditions(missing)["Stalled"] == ("True", "RevisionNotFound")


def test_apply_failures_and_drift_are_not_synced() -> None:
    failed = derive_status(None, Observation(1, revision=SHA, placement=PLACED, outcomes=[
        outcome(Health.UNKNOWN, DeploymentState.FAILED, message="cannot reach")]), now=NOW)
    assert conditions(failed.status)["Synced"] == ("False", "ApplyFailed")
    assert failed.status["phase"] == "Degraded"
    assert failed.transition == "application.degraded"  # Degraded, not Failed
    drifted = derive_status(None, Observation(1, revision=SHA, placement=PLACED, outcomes=[
        outcome(state=DeploymentState.OUT_OF_SYNC, message="1 object(s) differ")]), now=NOW)
    assert conditions(drifted.status)["Synced"] == ("False", "OutOfSync")


def test_a_new_revision_is_an_update_event_once_it_is_healthy() -> None:
    # Announced when the rollout is done (its status is "healthy", like deployed), not when the
    # new pods start: tests/unit/test_application_transitions.py follows a whole rollout.
    first = derive_status(None, Observation(1, revision=SHA, placement=PLACED, outcomes=[
        outcome(synced_now=True)]), now=NOW)
    # The controller records each announced transition with the status (what is compared).
    ready = recorded(None, first.status, first.transition, now=NOW)
    new = "c" * 40
    rolling = derive_status(ready, Observation(1, revision=new, placement=PLACED, outcomes=[
        ClusterOutcome("east", DeploymentState.SYNCED, Health.PROGRESSING, revision=new,
                       synced_now=True)]), now=LATER)
    assert rolling.transition is None
    assert rolling.status["sourceRevision"] == new
    healthy = ClusterOutcome("east", DeploymentState.SYNCED, Health.HEALTHY, revision=new)
    done = derive_status(recorded(ready, rolling.status, None, now=LATER), Observation(
        1, revision=new, placement=PLACED, outcomes=[healthy]), now=LATER)
    assert done.transition == "application.updated"


def test_an_invalid_spec_is_reported_on_both_conditions() -> None:
    status = derive_status(None, Observation(3, spec_error="spec.source: required"),
                           now=NOW).status
    found = conditions(status)
    assert found["Synced"] == ("False", "InvalidSpec")
    assert found["PlacementReady"] == ("False", "InvalidSpec")
    assert status["phase"] == "Failed"


def test_deleting_is_reconciling_until_every_cluster_is_clean() -> None:
    status = derive_status(None, Observation(1, deleting=True, removing=["east"]),
                           now=NOW).status
    assert status["phase"] == "Deleting"
    assert conditions(status)["Reconciling"] == ("True", "Deleting")


def test_removing_from_a_cluster_that_left_the_placement_is_progress() -> None:
    status = derive_status(None, Observation(1, revision=SHA, placement=PLACED, outcomes=[
        outcome()], removing=["west"]), now=NOW).status
    assert conditions(status)["Synced"] == ("False", "Removing")
    assert status["phase"] == "Progressing"

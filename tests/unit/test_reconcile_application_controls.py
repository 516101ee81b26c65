"""What a pass may write (pause, manual sync, sync requests) and how held work shows in status."""

from __future__ import annotations

from typing import Any

import pytest

from hybridcloud.models.application import DeploymentState, Health
from hybridcloud.reconcile.application import (
    MANUAL_MESSAGE,
    PAUSED_MESSAGE,
    ClusterOutcome,
    DeliveryMode,
    Observation,
    Writes,
    carried,
    delivery_mode,
    derive_status,
)
from hybridcloud.reconcile.placement import Placement, Target

NOW = "2026-01-01T00:00:00Z"
SHA = "a" * 40
PLACED = Placement((Target("east", None, {}),), True, "Placed", "placed on east")
PAUSED = {"platform.example.com/paused": "true"}


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def synced_east(**fields: Any) -> ClusterOutcome:
    return ClusterOutcome("east", DeploymentState.SYNCED, Health.HEALTHY, revision=SHA, **fields)


# -- delivery mode ---------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["true", "True", "1", "yes"])
def test_the_pause_annotation_stops_every_write(value: str) -> None:
    annotations = {"platform.example.com/paused": value, "platform.example.com/sync": "go"}
    for automated in (True, False):
        mode = delivery_mode(annotations, automated=automated)
        assert mode == DeliveryMode(Writes.NONE, paused=True, hold=PAUSED_MESSAGE)


@pytest.mark.parametrize("value", ["false", "", "no"])
def test_other_pause_values_do_not_pause(value: str) -> None:
    mode = delivery_mode({"platform.example.com/paused": value}, automated=True)
    assert mode == DeliveryMode(Writes.CHANGES)


def test_manual_sync_writes_nothing_until_a_new_sync_value() -> None:
    assert delivery_mode(None, automated=False) == DeliveryMode(Writes.NONE, hold=MANUAL_MESSAGE)
    requested = {"platform.example.com/sync": "2026-01-01"}
    assert delivery_mode(requested, automated=False) == DeliveryMode(
        Writes.ALL, sync_request="2026-01-01")
    done = {**requested, "platform.example.com/synced": "2026-01-01"}
    assert delivery_mode(done, automated=False).writes == Writes.NONE
    assert delivery_mode(done, automated=True).writes == Writes.CHANGES


def test_a_sync_request_on_an_automated_app_reverts_all_drift() -> None:
    mode = delivery_mode({"platform.example.com/sync": "1"}, automated=True)
    assert (mode.writes, mode.sync_request) == (Writes.ALL, "1")


# -- status while paused or held -------------------------------------------------------------

def test_a_paused_app_shows_paused_and_keeps_its_other_conditions() -> None:
    status = derive_status(None, Observation(1, revision=SHA, placement=PLACED,
                                             outcomes=[synced_east()], paused=True,
                                             hold=PAUSED_MESSAGE), now=NOW).status
    found = conditions(status)
    assert found["Paused"] == ("True", "Paused") and found["Ready"] == ("True", "Ready")
    paused = next(c for c in status["conditions"] if c["type"] == "Paused")
    assert paused["message"] == PAUSED_MESSAGE
    resumed = derive_status(status, Observation(1, revision=SHA, placement=PLACED,
                                                outcomes=[synced_east()]), now=NOW).status
    assert "Paused" not in conditions(resumed)


def test_a_held_removal_stays_recorded_and_is_not_progress() -> None:
    before = derive_status(None, Observation(1, revision=SHA, placement=PLACED, outcomes=[
        synced_east(), ClusterOutcome("west", DeploymentState.SYNCED, Health.HEALTHY,
                                      revision=SHA, resources={"deployments": 1})]),
        now=NOW).status
    status = derive_status(before, Observation(
        2, revision=SHA, placement=PLACED, outcomes=[synced_east()], removing=["west"],
        paused=True, hold=PAUSED_MESSAGE), now=NOW).status
    assert status["placedClusters"] == ["east"]
    west = next(d for d in status["deployments"] if d["cluster"] == "west")
    assert west == {"cluster": "west", "status": "Removing", "health": "Healthy",
                    "revision": SHA, "resources": {"deployments": 1},
                    "message": f"not removed: {PAUSED_MESSAGE}"}
    found = conditions(status)
    assert found["Synced"] == ("False", "OutOfSync") and "Reconciling" not in found
    # A pass that applies nothing carries the record on, so the removal is never forgotten.
    again = derive_status(status, Observation(2, source_error=("SourceUnavailable", "timeout"),
                                              source_transient=True, placement=PLACED,
                                              outcomes=carried(status)),
                          now=NOW).status
    assert [d["cluster"] for d in again["deployments"]] == ["east", "west"]
    assert again["placedClusters"] == ["east"]


def test_a_failed_removal_is_recorded_with_its_reason_and_retried() -> None:
    status = derive_status(None, Observation(
        1, revision=SHA, placement=PLACED, outcomes=[synced_east()], removing=["west"],
        removal_notes={"west": "removal pending: connection refused"}), now=NOW).status
    west = next(d for d in status["deployments"] if d["cluster"] == "west")
    assert (west["status"], west["message"]) == ("Removing", "removal pending: connection "
                                                              "refused")
    assert conditions(status)["Reconciling"] == ("True", "Progressing")


def test_deleting_a_paused_app_waits_without_reconciling() -> None:
    status = derive_status(None, Observation(1, deleting=True, removing=["east"], paused=True,
                                             hold=PAUSED_MESSAGE), now=NOW).status
    found = conditions(status)
    assert status["phase"] == "Deleting" and "Reconciling" not in found
    paused = next(c for c in status["conditions"] if c["type"] == "Paused")
    assert paused["message"].endswith("deletion waits until it is removed")


def test_changes_held_by_manual_sync_are_not_reconciling_and_say_why() -> None:
    held = ClusterOutcome("east", DeploymentState.OUT_OF_SYNC, Health.MISSING,
                          message=f"3 object(s) differ from git: …; not applied: {MANUAL_MESSAGE}")
    status = derive_status(None, Observation(1, revision=SHA, placement=PLACED, outcomes=[held],
                                             hold=MANUAL_MESSAGE), now=NOW).status
    found = conditions(status)
    assert found["Synced"] == ("False", "OutOfSync") and "Reconciling" not in found
    assert found["Ready"] == ("False", "OutOfSync")
    assert status["deployments"][0]["message"].endswith(MANUAL_MESSAGE)


def test_a_rollout_under_way_while_paused_is_not_reported_as_reconciling() -> None:
    rolling = ClusterOutcome("east", DeploymentState.SYNCED, Health.PROGRESSING, revision=SHA)
    paused = derive_status(None, Observation(1, revision=SHA, placement=PLACED,
                                             outcomes=[rolling], paused=True,
                                             hold=PAUSED_MESSAGE), now=NOW).status
    assert "Reconciling" not in conditions(paused)
    running = derive_status(None, Observation(1, revision=SHA, placement=PLACED,
                                              outcomes=[rolling]), now=NOW).status
    assert conditions(running)["Reconciling"] == ("True", "Progressing")

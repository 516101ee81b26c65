"""Which ``application.*`` event a pass announces: one per transition of what receivers were
told, not one per flip of Ready or the phase while a rollout runs (issue 17).

Each step goes through :func:`derive_status` and then :func:`recorded`, exactly as the
application controller composes them, so the history the next pass compares with is real.
"""

from __future__ import annotations

from typing import Any

from hybridcloud.events.transitions import APPLICATION_KIND, events_of, recorded
from hybridcloud.models.application import DeploymentState, Health
from hybridcloud.reconcile.application import ClusterOutcome, Observation, derive_status
from hybridcloud.reconcile.placement import Placement, Target

NOW = "2026-01-01T00:00:00Z"
FIRST, SECOND = "a" * 40, "b" * 40
PLACED = Placement((Target("east", None, {}),), True, "Placed", "placed on east")


class App:
    """An application's status across passes, and the events its passes announced."""

    def __init__(self) -> None:
        self.status: dict[str, Any] | None = None
        self.announced: list[str | None] = []

    def apply_pass(self, health: Health, revision: str = FIRST, *, synced_now: bool = False,
                   state: DeploymentState = DeploymentState.SYNCED,
                   deleting: bool = False) -> str | None:
        outcome = ClusterOutcome("east", state, health, revision=revision,
                                 synced_now=synced_now)
        decision = derive_status(self.status, Observation(
            1, revision=revision, placement=PLACED, outcomes=[outcome], deleting=deleting),
            now=NOW)
        self.status = recorded(self.status, decision.status, decision.transition, now=NOW)
        self.announced.append(decision.transition)
        return decision.transition

    def events(self) -> list[str]:
        return [t for t in self.announced if t is not None]


def deployed_at_first() -> App:
    app = App()
    assert app.apply_pass(Health.PROGRESSING, synced_now=True) is None
    assert app.apply_pass(Health.HEALTHY) == "application.deployed"
    return app


def test_a_new_commit_whose_first_pass_still_sees_healthy_pods_is_announced_once() -> None:
    # A fast member: the pass that applies the new commit reads the old, healthy pods; the next
    # one sees the new pods starting (Ready False), the one after that healthy again.
    app = deployed_at_first()
    assert app.apply_pass(Health.HEALTHY, SECOND, synced_now=True) == "application.updated"
    assert app.apply_pass(Health.PROGRESSING, SECOND) is None
    assert app.apply_pass(Health.HEALTHY, SECOND) is None
    assert app.events() == ["application.deployed", "application.updated"]


def test_a_new_commit_is_announced_as_updated_when_its_rollout_is_healthy() -> None:
    app = deployed_at_first()
    assert app.apply_pass(Health.PROGRESSING, SECOND, synced_now=True) is None
    assert app.apply_pass(Health.HEALTHY, SECOND) == "application.updated"
    assert app.apply_pass(Health.HEALTHY, SECOND) is None
    assert app.events() == ["application.deployed", "application.updated"]


def test_a_degraded_app_flapping_through_progressing_is_announced_degraded_once() -> None:
    app = deployed_at_first()
    assert app.apply_pass(Health.DEGRADED) == "application.degraded"
    assert app.apply_pass(Health.PROGRESSING) is None
    assert app.apply_pass(Health.DEGRADED) is None
    assert app.apply_pass(Health.HEALTHY) == "application.deployed"
    assert app.apply_pass(Health.PROGRESSING) is None
    assert app.apply_pass(Health.HEALTHY) is None
    assert app.events() == ["application.deployed", "application.degraded",
                            "application.deployed"]


def test_an_unreachable_member_degrades_and_its_return_is_the_recovery_deployed() -> None:
    app = deployed_at_first()
    assert app.apply_pass(Health.UNKNOWN, state=DeploymentState.FAILED) == "application.degraded"
    assert app.apply_pass(Health.UNKNOWN, state=DeploymentState.FAILED) is None
    assert app.apply_pass(Health.HEALTHY) == "application.deployed"


def test_a_new_commit_while_degraded_recovers_as_deployed() -> None:
    app = deployed_at_first()
    assert app.apply_pass(Health.DEGRADED) == "application.degraded"
    assert app.apply_pass(Health.HEALTHY, SECOND, synced_now=True) == "application.deployed"


def test_deleting_announces_nothing_whatever_it_was() -> None:
    app = deployed_at_first()
    assert app.apply_pass(Health.HEALTHY, deleting=True) is None
    assert app.status is not None and app.status["phase"] == "Deleting"


def test_a_status_written_before_transitions_were_recorded_is_not_announced_again() -> None:
    # An application deployed by an operator that recorded no history: its next pass at the
    # same revision is no news, a new revision is.
    old = {"phase": "Deployed", "sourceRevision": FIRST, "observedGeneration": 1}
    app = App()
    app.status = old
    assert app.apply_pass(Health.HEALTHY) is None
    assert app.apply_pass(Health.HEALTHY, SECOND, synced_now=True) == "application.updated"


def test_the_events_of_a_life_carry_the_version_and_status_receivers_expect() -> None:
    app = deployed_at_first()
    app.apply_pass(Health.HEALTHY, SECOND, synced_now=True)
    app.apply_pass(Health.PROGRESSING, SECOND)
    app.apply_pass(Health.HEALTHY, SECOND)
    app.apply_pass(Health.DEGRADED, SECOND)
    app.apply_pass(Health.HEALTHY, SECOND)
    body = {"metadata": {"name": "shop", "namespace": "team-a", "uid": "u-1"},
            "status": app.status}
    events = events_of(APPLICATION_KIND, body)
    assert [e.type for e in events] == ["application.deployed", "application.updated",
                                        "application.degraded", "application.deployed"]
    assert [e.data["version"] for e in events] == [FIRST, SECOND, SECOND, SECOND]
    assert [e.data["status"] for e in events] == ["healthy", "healthy", "degraded", "healthy"]
    assert [e.seq for e in events] == [1, 2, 3, 4]

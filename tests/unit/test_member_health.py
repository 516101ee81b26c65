"""Member health decisions: grace period, hysteresis, status overlay and failover placement."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from hybridcloud.api.routes.multicluster import application_counts, cluster_counts
from hybridcloud.controllers.member_loss import MemberLoss
from hybridcloud.delivery.member import MemberUnreachableError
from hybridcloud.models import DeploymentState, Health, MultiClusterApplication
from hybridcloud.reconcile.health import (
    MEMBER_UNREACHABLE,
    NODES_NOT_READY,
    REMOVAL_WAITS,
    MemberHealth,
    ProbeResult,
    Timing,
    Verdict,
    judge,
    overlay,
    unhealthy_since,
    unreachable_outcomes,
    verdict_patch,
)
from hybridcloud.reconcile.placement import ClusterFacts, place

TIMING = Timing(interval=5, timeout=5, grace=40, recover_after=3)  # unhealthy after 25 s
DOWN = ProbeResult(False, "timed out")
UP = ProbeResult(True, None, 3, 3)
NO_NODES_READY = ProbeResult(True, None, 3, 0)


def run(results: list[tuple[float, ProbeResult]],
        state: MemberHealth | None = None) -> tuple[MemberHealth, list[str]]:
    state = state or MemberHealth()
    transitions = []
    for now, result in results:
        judgement = judge(state, result, now, TIMING)
        state = judgement.state
        if judgement.transition:
            transitions.append(judgement.transition)
    return state, transitions


# -- judging probes ---------------------------------------------------------------------------

def test_the_threshold_leaves_room_for_two_probe_intervals_and_a_timeout() -> None:
    assert TIMING.unhealthy_after == 25.0
    assert Timing(interval=30, timeout=5, grace=40).unhealthy_after == 0.0
    # A 2 s timeout with 1 s probes skips a tick: probes of a frozen member start 2 s apart.
    assert Timing(interval=1, timeout=2, grace=10).unhealthy_after == 5.0


def test_the_detection_bound_is_the_grace_period_while_the_fleet_round_fits() -> None:
    assert TIMING.detection_bound == 40.0
    # 5,000 members at 450 probes/s: an 11.1 s round. The failure must last less long, so a
    # frozen member is still marked within the grace period.
    loaded = TIMING.under_load(5000, 450.0)
    assert loaded.round_time == pytest.approx(5000 / 450)
    assert loaded.unhealthy_after == pytest.approx(40 - 2 * 5000 / 450 - 5)
    assert loaded.detection_bound == pytest.approx(40.0)
    # A prober that keeps up measures members / interval: nothing changes.
    assert TIMING.under_load(1000, 200.0).unhealthy_after == 25.0


def test_the_detection_bound_exceeds_the_grace_period_only_when_one_failed_probe_is_too_late(
) -> None:
    # 5,000 members at 100 probes/s: a 50 s round. Even a single failed probe is seen late.
    slow = TIMING.under_load(5000, 100.0)
    assert slow.unhealthy_after == 0.0
    assert slow.detection_bound == pytest.approx(50 + 50 + 5)
    # The largest round that holds a 40 s grace with a 5 s timeout: (40 - 5) / 2.
    assert TIMING.under_load(5000, 5000 / 17.5).detection_bound == pytest.approx(40.0)
    assert TIMING.under_load(0, 0.0) == TIMING


def test_a_loaded_prober_marks_a_frozen_member_within_the_grace_period() -> None:
    loaded = TIMING.under_load(5000, 400.0)  # a 12.5 s round: probes of one member 12.5 s apart
    state, frozen_at, marked_at = MemberHealth(), 3.0, None
    # The first probe after the freeze starts up to one round later; then one per round.
    for now in [frozen_at + loaded.round_time * k for k in range(1, 6)]:
        judgement = judge(state, DOWN, now, loaded)
        state = judgement.state
        if judgement.transition:
            marked_at = now + loaded.timeout  # the probe that decided took its whole timeout
            break
    assert marked_at is not None and marked_at - frozen_at <= loaded.grace


def test_a_healthy_member_never_changes_anything() -> None:
    state, transitions = run([(t, UP) for t in range(0, 600, 5)])
    assert state.verdict is None and transitions == []


def test_failures_shorter_than_the_grace_margin_are_not_reported() -> None:
    state, transitions = run([(0, DOWN), (5, DOWN), (20, DOWN), (24, UP), (25, DOWN)])
    assert state.verdict is None and transitions == []


def test_a_member_failing_for_grace_minus_two_intervals_and_a_timeout_is_unreachable_once(
) -> None:
    state, transitions = run([(t, DOWN) for t in range(0, 60, 5)])
    assert transitions == ["cluster.unreachable"]
    assert state.verdict is not None and state.verdict.reason == MEMBER_UNREACHABLE
    assert "timed out" in state.verdict.message and state.verdict.nodes_ready == 0


def test_all_nodes_not_ready_is_its_own_reason_with_the_ready_count() -> None:
    state, transitions = run([(t, NO_NODES_READY) for t in range(0, 35, 5)])
    assert transitions == ["cluster.unreachable"]
    assert state.verdict == Verdict(NODES_NOT_READY, "none of the member's 3 nodes is Ready", 0)


def test_a_member_without_nodes_is_not_judged_by_its_nodes() -> None:
    state, _ = run([(t, ProbeResult(True, None, 0, 0)) for t in range(0, 60, 5)])
    assert state.verdict is None


def test_recovery_needs_consecutive_good_probes_so_a_flapping_member_stays_unhealthy() -> None:
    down, _ = run([(t, DOWN) for t in range(0, 35, 5)])
    flapping, transitions = run([(40, UP), (45, UP), (50, DOWN), (55, UP), (60, UP)], down)
    assert flapping.verdict is not None and transitions == []
    recovered, transitions = run([(65, UP)], flapping)
    assert recovered.verdict is None and transitions == ["cluster.recovered"]


def test_a_changed_reason_is_a_new_verdict_but_a_changed_error_text_is_not() -> None:
    down, _ = run([(t, DOWN) for t in range(0, 35, 5)])
    same, transitions = run([(40, ProbeResult(False, "ConnectError"))], down)
    assert transitions == [] and same.verdict == down.verdict
    nodes, transitions = run([(45, NO_NODES_READY)], same)
    assert transitions == ["cluster.unreachable"]
    assert nodes.verdict is not None and nodes.verdict.reason == NODES_NOT_READY


# -- status ------------------------------------------------------------------------------------

ACTIVE_STATUS: dict[str, Any] = {
    "phase": "Active", "nodes": {"total": 3, "ready": 3, "master": 1, "worker": 2},
    "conditions": [{"type": "Ready", "status": "True", "reason": "Active",
                    "message": "cluster is ready", "lastTransitionTime": "2026-01-01T00:00:00Z",
                    "observedGeneration": 1}]}
VERDICT = Verdict(MEMBER_UNREACHABLE, "the member's API does not answer: timed out", 0)


def test_overlay_marks_ready_false_with_reason_message_and_ready_nodes() -> None:
    status = overlay(ACTIVE_STATUS, VERDICT, 1, now="2026-01-02T00:00:00Z")
    ready = status["conditions"][0]
    assert (ready["status"], ready["reason"]) == ("False", MEMBER_UNREACHABLE)
    assert ready["message"] == VERDICT.message
    assert ready["lastTransitionTime"] == "2026-01-02T00:00:00Z"
    assert status["nodes"] == {"total": 3, "ready": 0, "master": 1, "worker": 2}
    assert status["phase"] == "Active"
    assert unhealthy_since(status) == 1767312000.0


def test_overlay_marks_an_updating_cluster_whose_nodes_are_not_ready() -> None:
    updating = {**ACTIVE_STATUS, "phase": "Updating"}
    status = overlay(updating, Verdict(NODES_NOT_READY, "none Ready", 0), 1)
    assert status["conditions"][0]["reason"] == NODES_NOT_READY
    assert unhealthy_since(status) is not None


def test_overlay_without_verdict_or_on_a_failed_cluster_changes_nothing() -> None:
    assert overlay(ACTIVE_STATUS, None, 1) == ACTIVE_STATUS
    failed = {**ACTIVE_STATUS, "phase": "Failed"}
    assert overlay(failed, VERDICT, 1) == failed
    assert unhealthy_since(ACTIVE_STATUS) is None


def test_overlaid_status_is_stable_so_repeated_passes_write_nothing() -> None:
    once = overlay(ACTIVE_STATUS, VERDICT, 1, now="2026-01-02T00:00:00Z")
    assert overlay(once, VERDICT, 1, now="2026-01-03T00:00:00Z") == once
    assert verdict_patch(once, VERDICT, 1) == []


def test_verdict_patch_touches_only_the_ready_condition_and_nodes() -> None:
    ops = verdict_patch(ACTIVE_STATUS, VERDICT, 1, now="2026-01-02T00:00:00Z")
    assert ops[0] == {"op": "test", "path": "/status/conditions/0/type", "value": "Ready"}
    assert ops[1]["path"] == "/status/conditions/0"
    assert ops[1]["value"]["reason"] == MEMBER_UNREACHABLE
    assert ops[2] == {"op": "add", "path": "/status/nodes",
                      "value": {"total": 3, "ready": 0, "master": 1, "worker": 2}}


def test_deployments_on_an_unhealthy_member_are_degraded_keeping_what_was_recorded() -> None:
    previous = {"deployments": [{"cluster": "a", "status": "Synced", "health": "Healthy",
                                 "revision": "abc"}]}
    kept, new = unreachable_outcomes(["a", "b"], previous)
    assert (kept.state, kept.health, kept.revision) == (DeploymentState.SYNCED, Health.DEGRADED,
                                                        "abc")
    assert (new.state, new.health) == (DeploymentState.PENDING, Health.DEGRADED)
    assert "unhealthy" in (kept.message or "") and "removal pending" in REMOVAL_WAITS


# -- failover placement ------------------------------------------------------------------------

def spec(**fields: Any) -> Any:
    body = {"source": {"repository": "file:///repo.git"}, **fields}
    return MultiClusterApplication.model_validate({"spec": body}).spec


def cluster(name: str, region: str, unhealthy_since: float | None = None,
            **labels: str) -> ClusterFacts:
    return ClusterFacts(name=name, phase="Active", provider="local", region=region,
                        labels=labels, unhealthy_since=unhealthy_since)


DIVERSE = {"strategy": "availability",
           "constraints": [{"type": "region_diversity", "minRegions": 2}],
           "failover": {"gracePeriodSeconds": 60}}


def fleet(down_since: float | None) -> dict[str, ClusterFacts]:
    return {"a": cluster("a", "r1"), "b": cluster("b", "r2", down_since),
            "c": cluster("c", "r2")}


def test_an_app_stays_on_an_unhealthy_member_during_the_failover_period() -> None:
    result = place(spec(placementPolicy=DIVERSE), fleet(1000.0), {"a": None, "b": None},
                   now=1030.0)
    assert result.ready and result.clusters == ["a", "b"]
    assert result.recheck_after == 30.0


def test_after_the_failover_period_the_app_moves_keeping_region_diversity() -> None:
    result = place(spec(placementPolicy=DIVERSE), fleet(1000.0), {"a": None, "b": None},
                   now=1060.0)
    assert result.ready and sorted(result.clusters) == ["a", "c"]
    assert result.recheck_after is None


def test_an_unhealthy_member_gets_no_new_applications() -> None:
    result = place(spec(placementPolicy=DIVERSE), fleet(1000.0), {}, now=1001.0)
    assert sorted(result.clusters) == ["a", "c"]


def test_failover_disabled_keeps_the_app_on_the_unhealthy_member() -> None:
    policy = {**DIVERSE, "failover": {"enabled": False}}
    result = place(spec(placementPolicy=policy), fleet(0.0), {"a": None, "b": None},
                   now=10_000.0)
    assert result.clusters == ["a", "b"] and result.recheck_after is None


def test_the_default_failover_period_is_two_minutes() -> None:
    policy = {k: v for k, v in DIVERSE.items() if k != "failover"}
    stays = place(spec(placementPolicy=policy), fleet(0.0), {"a": None, "b": None}, now=119.0)
    moves = place(spec(placementPolicy=policy), fleet(0.0), {"a": None, "b": None}, now=120.0)
    assert stays.clusters == ["a", "b"] and sorted(moves.clusters) == ["a", "c"]


def test_explicit_placement_moves_only_to_a_cluster_the_selector_allows() -> None:
    clusters = {"a": cluster("a", "r1", 0.0, pool="main"), "b": cluster("b", "r2", pool="main"),
                "c": cluster("c", "r3", pool="spare")}
    app = spec(placement=[{"cluster": "a"}],
               placementPolicy={"clusterSelector": {"matchLabels": {"pool": "spare"}},
                                "clusterCount": 1, "failover": {"gracePeriodSeconds": 10}})
    result = place(app, clusters, {"a": None}, now=100.0)
    assert result.ready and result.clusters == ["c"]
    assert result.targets[0].stands_in_for == "a"


def test_explicit_placement_without_policy_stays_on_an_unhealthy_member() -> None:
    clusters = {"a": cluster("a", "r1", 0.0), "b": cluster("b", "r2")}
    result = place(spec(placement=[{"cluster": "a"}]), clusters, {"a": None}, now=10_000.0)
    assert result.ready and result.clusters == ["a"]


def test_the_app_returns_to_its_explicit_cluster_once_the_member_is_healthy() -> None:
    clusters = {"a": cluster("a", "r1", pool="main"), "c": cluster("c", "r3", pool="spare")}
    app = spec(placement=[{"cluster": "a"}],
               placementPolicy={"clusterSelector": {"matchLabels": {"pool": "spare"}},
                                "clusterCount": 1})
    result = place(app, clusters, {"c": None}, now=100.0)
    assert result.clusters == ["a"]


def test_a_recovered_member_does_not_pull_a_policy_placed_app_back() -> None:
    healthy = {name: dataclasses.replace(f, unhealthy_since=None)
               for name, f in fleet(None).items()}
    result = place(spec(placementPolicy=DIVERSE), healthy, {"a": None, "c": None}, now=5.0)
    assert sorted(result.clusters) == ["a", "c"]


# -- cutting member calls short ----------------------------------------------------------------

async def test_a_member_call_in_flight_ends_when_the_member_is_found_unhealthy() -> None:
    loss = MemberLoss()
    hanging = asyncio.get_running_loop().create_future()
    call = asyncio.create_task(loss.guard("ns", "north", hanging))
    await asyncio.sleep(0)
    loss.lost("ns", "north")
    with pytest.raises(MemberUnreachableError, match="found unhealthy"):
        await call
    assert hanging.cancelled()
    loss.found("ns", "north")

    async def answer() -> str:
        return "ok"

    assert await loss.guard("ns", "north", answer()) == "ok"


async def test_a_member_call_started_after_the_member_was_lost_is_not_sent() -> None:
    loss = MemberLoss()
    loss.lost("ns", "north")
    started: list[str] = []

    async def call() -> str:
        started.append("sent")
        return "ok"

    with pytest.raises(MemberUnreachableError, match="found unhealthy"):
        await loss.guard("ns", "north", call())
    assert started == []


async def test_losing_one_member_leaves_the_calls_to_the_others_running() -> None:
    loss = MemberLoss()
    south = asyncio.get_running_loop().create_future()
    north = asyncio.get_running_loop().create_future()
    to_south = asyncio.create_task(loss.guard("ns", "south", south))
    to_north = asyncio.create_task(loss.guard("ns", "north", north))
    await asyncio.sleep(0)
    loss.lost("ns", "north")
    south.set_result("answered")
    assert await to_south == "answered"
    with pytest.raises(MemberUnreachableError):
        await to_north


async def test_cancelling_the_pass_cancels_its_member_call_and_is_not_reported_as_loss() -> None:
    loss = MemberLoss()
    hanging = asyncio.get_running_loop().create_future()
    call = asyncio.create_task(loss.guard("ns", "north", hanging))
    await asyncio.sleep(0)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert hanging.cancelled()


# -- GET /v1/multi-cluster/status --------------------------------------------------------------

def test_multi_cluster_status_counts_unhealthy_members_offline_and_their_apps_degraded() -> None:
    def obj(status: dict[str, Any]) -> dict[str, Any]:
        return {"metadata": {"name": "x"}, "status": status}

    unreachable = overlay(ACTIVE_STATUS, VERDICT, 1)
    no_nodes = overlay(ACTIVE_STATUS, Verdict(NODES_NOT_READY, "none Ready", 0), 1)
    counts = cluster_counts([obj(ACTIVE_STATUS), obj(unreachable), obj(no_nodes),
                             obj({"phase": "Failed"})])
    assert (counts.total, counts.healthy, counts.offline, counts.degraded) == (4, 1, 3, 0)
    apps = application_counts([obj({"phase": "Degraded"}), obj({"phase": "Deployed"})])
    assert (apps.degraded, apps.healthy) == (1, 1)

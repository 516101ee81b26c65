"""Member health: what a run of probes of one member means, as pure functions.

The prober (``controllers/health.py``) asks every Active member for ``/readyz`` and its nodes'
readiness every few seconds and feeds each :class:`ProbeResult` to :func:`judge`. Rules:

- A member is *unhealthy* when its API does not answer (``MemberUnreachable``) or answers but
  none of its nodes is Ready (``NodesNotReady``). One failed probe is not enough: the failure must
  last ``unhealthy_after`` seconds (timed from the start of each probe), chosen so that
  ``Ready=False`` is written within the grace period of the problem starting: the first failing
  probe starts up to one interval after it, the probe that crosses the threshold up to one
  probe gap after that (an interval, or more when the timeout is longer), and it takes up to
  one timeout to fail.
- Hysteresis on the way back: an unhealthy member is healthy again only after
  ``recover_after`` consecutive good probes, so a member answering every other probe does not
  flap its applications back and forth.
- Nothing is written while the verdict stays the same: a healthy fleet's probes write nothing.

:func:`overlay` puts a verdict onto the status the cluster controller decided (it is the only
writer of HybridCluster status); :func:`unhealthy_since` reads it back for placement.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ..conditions import READY, Desired
from ..conditions import apply as apply_conditions
from ..conditions import get as get_condition
from ..models.application import DeploymentState, Health
from .application import ClusterOutcome, carried

MEMBER_UNREACHABLE = "MemberUnreachable"
NODES_NOT_READY = "NodesNotReady"
UNHEALTHY_REASONS = frozenset({MEMBER_UNREACHABLE, NODES_NOT_READY})
# Phases in which a member is probed and a verdict shown (others already say what is wrong).
PROBED_PHASES = frozenset({"Active", "Updating"})


@dataclass(frozen=True)
class ProbeResult:
    """One probe of one member."""

    reachable: bool
    error: str | None = None  # why it was not reachable (never quotes a credential)
    nodes_total: int = 0
    nodes_ready: int = 0
    nodes_listed: bool = True  # False: only /readyz was asked; the node counts are unknown

    @property
    def problem(self) -> tuple[str, str] | None:
        """(reason, message) when this probe found the member unhealthy."""
        if not self.reachable:
            return MEMBER_UNREACHABLE, f"the member's API does not answer: {self.error}"
        if self.nodes_total > 0 and self.nodes_ready == 0:
            return NODES_NOT_READY, f"none of the member's {self.nodes_total} nodes is Ready"
        return None


@dataclass(frozen=True)
class Verdict:
    """A member found unhealthy: what its status says until it recovers."""

    reason: str
    message: str
    nodes_ready: int


@dataclass(frozen=True)
class Timing:
    interval: float = 5.0
    timeout: float = 5.0
    grace: float = 40.0
    recover_after: int = 3
    # Seconds one round of the whole fleet takes at the prober's measured throughput (members
    # / probes per second); 0 until measured. At fleet scale a CPU-bound prober cannot probe
    # every member each interval, and a member's probes are then this far apart.
    round_time: float = 0.0

    @property
    def first_probe_delay(self) -> float:
        """Longest time from a problem starting to the start of the first probe that sees it."""
        return max(self.interval, self.round_time)

    @property
    def probe_gap(self) -> float:
        """Longest time between two probe starts: a probe outlasting the interval skips ticks,
        and a fleet larger than the prober's throughput stretches every member's interval."""
        return max(self.interval * max(1, math.ceil(self.timeout / self.interval)),
                   self.round_time)

    @property
    def unhealthy_after(self) -> float:
        return max(0.0, self.grace - self.first_probe_delay - self.probe_gap - self.timeout)

    @property
    def detection_bound(self) -> float:
        """Longest time from a member failing to its verdict: the first failing probe starts
        within one delay, the failure must last ``unhealthy_after``, the probe crossing that
        starts within one more gap and fails within one timeout. Equal to the grace period
        while the fleet's round fits in it; above it only when even a single failed probe
        (``unhealthy_after`` = 0) cannot be seen in time — the prober warns and exports it."""
        return self.first_probe_delay + self.probe_gap + self.timeout + self.unhealthy_after

    def under_load(self, members: int, probes_per_second: float) -> Timing:
        """This timing with the round time of ``members`` at the measured throughput."""
        if members <= 0 or probes_per_second <= 0:
            return replace(self, round_time=0.0)
        return replace(self, round_time=members / probes_per_second)


@dataclass(frozen=True)
class MemberHealth:
    """What the prober remembers of one member between probes."""

    failing_since: float | None = None  # monotonic time of the first failed probe in a row
    good_streak: int = 0
    verdict: Verdict | None = None


@dataclass(frozen=True)
class Judgement:
    state: MemberHealth
    transition: str | None = None  # "cluster.unreachable" / "cluster.recovered"

    @property
    def changed(self) -> bool:
        return self.transition is not None


def judge(state: MemberHealth, result: ProbeResult, now: float, timing: Timing) -> Judgement:
    """The member's health after ``result`` (probed at monotonic time ``now``)."""
    problem = result.problem
    if problem is None:
        if state.verdict is None:
            return Judgement(MemberHealth(good_streak=state.good_streak + 1))
        streak = state.good_streak + 1
        if streak >= timing.recover_after:
            return Judgement(MemberHealth(good_streak=streak), "cluster.recovered")
        return Judgement(replace(state, failing_since=None, good_streak=streak))
    reason, message = problem
    since = state.failing_since if state.failing_since is not None else now
    verdict = Verdict(reason, message, result.nodes_ready if result.reachable else 0)
    if state.verdict is not None:
        # Still unhealthy: the stored verdict is updated only when the reason changes, so a
        # frozen member's varying error texts do not cause a status write per probe.
        kept = state.verdict if state.verdict.reason == reason else verdict
        transition = None if kept is state.verdict else "cluster.unreachable"
        return Judgement(MemberHealth(since, 0, kept), transition)
    if now - since >= timing.unhealthy_after:
        return Judgement(MemberHealth(since, 0, verdict), "cluster.unreachable")
    return Judgement(MemberHealth(since, 0, None))


def overlay(status: Mapping[str, Any], verdict: Verdict | None, generation: int | None,
            now: str | None = None) -> dict[str, Any]:
    """``status`` as the cluster controller decided it, with an unhealthy member's verdict on
    top: ``Ready=False`` with the probe's reason and message, and ``nodes.ready`` as the member
    reports it. Only an Active or Updating cluster is marked."""
    result = dict(status)
    if verdict is None or status.get("phase") not in PROBED_PHASES:
        return result
    result["conditions"] = apply_conditions(
        status.get("conditions"), [Desired(READY, False, verdict.reason, verdict.message)],
        generation=generation, now=now)
    nodes = dict(status.get("nodes") or {})
    nodes["ready"] = verdict.nodes_ready
    result["nodes"] = nodes
    return result


def verdict_patch(status: Mapping[str, Any], verdict: Verdict,
                  generation: int | None, now: str | None = None) -> list[dict[str, Any]]:
    """JSON-patch ops writing only ``verdict`` (the Ready condition and ``nodes.ready``) onto a
    stored ``status``, so the prober need not wait for a full cluster pass (whose provider call
    may itself wait on the unreachable member). Empty when there is nothing to change."""
    wanted = overlay(status, verdict, generation, now)
    if wanted == dict(status):
        return []
    conditions = list(status.get("conditions") or [])
    ready = next(c for c in wanted["conditions"] if c.get("type") == READY)
    index = next((i for i, c in enumerate(conditions) if c.get("type") == READY), None)
    if index is None:
        ops: list[dict[str, Any]] = [
            {"op": "add", "path": "/status/conditions", "value": [*conditions, ready]}]
    else:
        ops = [{"op": "test", "path": f"/status/conditions/{index}/type", "value": READY},
               {"op": "replace", "path": f"/status/conditions/{index}", "value": ready}]
    ops.append({"op": "add", "path": "/status/nodes", "value": wanted["nodes"]})
    return ops


def unhealthy_since(status: Mapping[str, Any] | None) -> float | None:
    """When (epoch seconds) the member behind this HybridCluster status was found unhealthy,
    or None while it is healthy (or neither Active nor Updating)."""
    if not status or status.get("phase") not in PROBED_PHASES:
        return None
    ready = get_condition(status.get("conditions"), READY)
    if ready is None or ready.get("status") != "False" or \
            ready.get("reason") not in UNHEALTHY_REASONS:
        return None
    try:
        return datetime.fromisoformat(str(ready.get("lastTransitionTime"))).timestamp()
    except ValueError:
        return 0.0  # unreadable: unhealthy for long enough


REMOVAL_WAITS = ("removal pending: the member does not answer; the application is removed when it "
                 "does")


def unreachable_outcomes(clusters: Sequence[str],
                         previous: Mapping[str, Any]) -> list[ClusterOutcome]:
    """The deployments on members found unhealthy, as of this pass: whatever was last recorded
    (state, revision, objects) with health ``Degraded``, since nothing there can be observed."""
    recorded = {o.cluster: o for o in carried(previous)}
    outcomes = []
    for cluster in clusters:
        last = recorded.get(cluster)
        message = f"cluster {cluster}'s member is unhealthy; the application's state there is " \
            "unknown"
        if last is None:
            outcomes.append(ClusterOutcome(cluster, DeploymentState.PENDING, Health.DEGRADED,
                                           message=message))
        else:
            outcomes.append(replace(last, health=Health.DEGRADED, message=message,
                                    synced_now=False))
    return outcomes

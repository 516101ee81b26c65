"""The application controller's per-pass decisions, pure: what one member's sync result means
for its deployment record, when the next pass runs, and whether a removal may wait.

The controller (``controllers/application.py``) performs the I/O and hands the results here;
``reconcile.application.derive_status`` then turns the outcomes into status.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..models.application import DeploymentState, Health
from .application import ClusterOutcome
from .placement import ClusterFacts, serving

# How many refused objects, errors or differing objects a deployment message names at most.
LISTED = 5


class SyncResult(Protocol):
    """What a member sync reports (``delivery.member.SyncOutcome``)."""

    @property
    def applied(self) -> int: ...
    @property
    def pruned(self) -> int: ...
    @property
    def out_of_sync(self) -> list[str]: ...
    @property
    def errors(self) -> list[str]: ...
    @property
    def refused(self) -> list[str]: ...
    @property
    def health(self) -> Health: ...
    @property
    def resources(self) -> dict[str, int]: ...
    @property
    def digest(self) -> str | None: ...


@dataclass(frozen=True)
class Timing:
    poll: float  # something moves without the user: look again soon
    resync: float  # converged, or waiting for the user: drift detection only
    # A synced app not healthy yet: the member's watch events bring each health change at once
    # (a pass follows within MEMBER_EVENTS_GATHERED), so this only catches one a watch missed.
    rollout: float | None = None  # None: as ``poll``


def outcome(cluster: str, components: tuple[str, ...] | None, result: SyncResult,
            revision: str, old_revision: str | None, hold: str | None) -> ClusterOutcome:
    """The deployment record of ``cluster`` after a sync that reported ``result``; the applied
    revision moves only when the cluster is in sync. ``hold`` says why changes were not
    written (paused, manual sync)."""
    if result.refused or result.errors:
        state = DeploymentState.FAILED
        message: str | None = "; ".join([*result.refused, *result.errors][:LISTED])
    elif result.out_of_sync:
        state = DeploymentState.OUT_OF_SYNC
        message = f"{len(result.out_of_sync)} object(s) differ from git: " + \
            ", ".join(result.out_of_sync[:LISTED]) + (f"; not applied: {hold}" if hold else "")
    else:
        state, message = DeploymentState.SYNCED, None
    applied_revision = revision if state == DeploymentState.SYNCED else old_revision
    return ClusterOutcome(cluster, state, result.health, components, applied_revision,
                          result.resources, message,
                          synced_now=bool(result.applied or result.pruned), digest=result.digest)


def requeue_after(outcomes: Sequence[ClusterOutcome], removing: Sequence[str],
                  hold: str | None, timing: Timing, *, unhealthy: Collection[str] = (),
                  recheck_after: float | None = None) -> float:
    """Poll while something converges on its own (a removal that is not held, a failed sync);
    look again after ``timing.rollout`` while a synced app is not healthy yet (its members'
    watches report the rollout as it moves); otherwise wait for the resync. Differences only a
    user can resolve (drift without self-heal, held changes) are not polled, nor are members
    the health prober finds unhealthy: placement's ``recheck_after`` (their failover time)
    brings the next pass forward instead. (Polling every rollout each ``poll`` seconds made 124
    passes per application and member while 500 applications rolled out in issue 19's
    delivery at scale, most of the operator's work, all of it finding nothing new.)"""
    watched = [o for o in outcomes if o.cluster not in unhealthy]
    if (bool(removing) and hold is None) or any(
            o.state == DeploymentState.FAILED for o in watched):
        delay = timing.poll
    elif any(o.state == DeploymentState.SYNCED and o.health != Health.HEALTHY for o in watched):
        delay = min(timing.resync, timing.poll if timing.rollout is None else timing.rollout)
    else:
        delay = timing.resync
    return min(delay, recheck_after or delay)


def removal_pending(facts: ClusterFacts | None, problem: str) -> str | None:
    """Why removing the app from a cluster is still pending after ``problem``, or None when the
    cluster is gone or no longer serving: then nothing can (or needs to) be cleaned up there."""
    if facts is None or not serving(facts.phase, facts.deleting):
        return None
    return f"removal pending: {problem}"


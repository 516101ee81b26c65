"""MultiClusterApplication status: what one delivery pass observed → conditions, phase, events.

Pure: the controller gathers an :class:`Observation` (spec problems, source and render results,
the placement, per-cluster outcomes) and :func:`derive_status` turns it into the status to
write. Conditions follow kstatus: ``Ready`` summarises ``PlacementReady`` and ``Synced`` plus
live health; ``Reconciling`` is present while objects roll out or clusters are being cleaned
up; ``Stalled`` while the app cannot progress without a change from the user (invalid spec, a
broken manifest, a revision or path that does not exist, impossible placement, objects the
tenant's rules refuse: ``PolicyViolation``). A transient source error (the API or git server
in trouble, :class:`~hybridcloud.delivery.errors.TransientDeliveryError`) is ``Reconciling``
with its reason while it is retried.

:func:`delivery_mode` decides from the annotations and ``syncPolicy.automated`` what a pass may
write to member clusters: nothing while paused (``Paused`` condition) or while automated sync is
off and no sync was requested; everything that differs from git when a sync was requested.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .. import GROUP, PAUSED_ANNOTATION
from ..annotations import is_paused as is_paused  # re-exported: the controller reads it here
from ..conditions import PAUSED, READY, RECONCILING, STALLED, Desired
from ..conditions import apply as apply_conditions
from ..member_writes import Writes as Writes  # re-exported: delivery modes are built of it
from ..models.application import ApplicationPhase, DeploymentState, Health
from . import application_conditions as why
from .application_conditions import PLACEMENT_READY, POLICY_VIOLATION, SYNCED
from .placement import Placement

SYNC_ANNOTATION = f"{GROUP}/sync"  # a new value requests one sync
# The sync annotation value already carried out; kept on the object so a restart of the
# operator never repeats (or invents) a manual sync.
SYNCED_ANNOTATION = f"{GROUP}/synced"
PAUSED_MESSAGE = f"annotation {PAUSED_ANNOTATION} is set; nothing is written to member clusters"
MANUAL_MESSAGE = f"automated sync is off; set annotation {SYNC_ANNOTATION} to a new value to sync"


@dataclass(frozen=True)
class DeliveryMode:
    writes: Writes
    paused: bool = False
    sync_request: str | None = None  # the sync annotation value this pass carries out
    hold: str | None = None  # why changes are not written (shown to users)


def delivery_mode(annotations: Mapping[str, str] | None, *, automated: bool) -> DeliveryMode:
    annotations = annotations or {}
    if is_paused(annotations):
        return DeliveryMode(Writes.NONE, paused=True, hold=PAUSED_MESSAGE)
    requested = annotations.get(SYNC_ANNOTATION)
    if requested is not None and requested != annotations.get(SYNCED_ANNOTATION):
        return DeliveryMode(Writes.ALL, sync_request=requested)
    if automated:
        return DeliveryMode(Writes.CHANGES)
    return DeliveryMode(Writes.NONE, hold=MANUAL_MESSAGE)


@dataclass(frozen=True)
class ClusterOutcome:
    """One cluster after this pass."""

    cluster: str
    state: DeploymentState
    health: Health
    components: tuple[str, ...] | None = None
    revision: str | None = None
    resources: Mapping[str, int] | None = None
    message: str | None = None
    synced_now: bool = False  # objects were applied in this pass
    digest: str | None = None  # of the rendering last applied here in full (manifestDigest)


@dataclass(frozen=True)
class Observation:
    generation: int
    deleting: bool = False
    spec_error: str | None = None
    source_error: tuple[str, str] | None = None  # (reason, message)
    # The source error may go away by itself (server trouble): Reconciling, not Stalled.
    source_transient: bool = False
    revision: str | None = None
    render_error: str | None = None
    policy_error: str | None = None  # the tenant's rules refuse objects of the render
    placement: Placement | None = None
    outcomes: Sequence[ClusterOutcome] = ()
    removing: Sequence[str] = ()  # clusters the app is being removed from
    removal_notes: Mapping[str, str] = field(default_factory=dict)  # cluster → why pending
    paused: bool = False
    hold: str | None = None  # nothing is written to members, for this reason


@dataclass(frozen=True)
class StatusDecision:
    status: dict[str, Any]
    transition: str | None  # application.deployed / .updated / .failed


def carried(previous: Mapping[str, Any]) -> list[ClusterOutcome]:
    """The clusters as recorded, unchanged: used when this pass applies nothing."""
    outcomes = []
    for record in previous.get("deployments") or []:
        components = record.get("components")
        outcomes.append(ClusterOutcome(
            record["cluster"], DeploymentState(record.get("status", DeploymentState.PENDING)),
            Health(record.get("health", Health.UNKNOWN)),
            tuple(components) if components is not None else None, record.get("revision"),
            record.get("resources"), record.get("message"),
            digest=record.get("manifestDigest")))
    return outcomes


def _short(revision: str | None) -> str:
    return revision[:12] if revision else "unknown"


def _deployment(outcome: ClusterOutcome, previous: Mapping[str, Any] | None,
                now: str) -> dict[str, Any]:
    record: dict[str, Any] = {"cluster": outcome.cluster, "status": str(outcome.state),
                              "health": str(outcome.health)}
    last_sync = now if outcome.synced_now else (previous or {}).get("lastSync")
    if last_sync:
        record["lastSync"] = last_sync
    if outcome.revision:
        record["revision"] = outcome.revision
    if outcome.components is not None:
        record["components"] = list(outcome.components)
    if outcome.resources is not None:
        record["resources"] = dict(outcome.resources)
    if outcome.message:
        record["message"] = outcome.message[:2048]
    if outcome.digest:
        record["manifestDigest"] = outcome.digest
    return record


def _removing(cluster: str, previous: Mapping[str, Any] | None,
              obs: Observation) -> dict[str, Any]:
    record = {key: value for key, value in (previous or {}).items()
              if key in ("lastSync", "revision", "components", "resources", "health",
                         "manifestDigest")}
    note = obs.removal_notes.get(cluster) or (f"not removed: {obs.hold}" if obs.hold
                                              else "removing the application")
    return {"cluster": cluster, "status": str(DeploymentState.REMOVING),
            "health": record.pop("health", str(Health.UNKNOWN)), **record,
            "message": note[:2048]}


def _synced(obs: Observation) -> Desired:
    if obs.spec_error:
        return Desired(SYNCED, False, why.INVALID_SPEC, obs.spec_error)
    if obs.source_error:
        return Desired(SYNCED, False, obs.source_error[0], obs.source_error[1])
    if obs.render_error:
        return Desired(SYNCED, False, why.RENDER_FAILED, obs.render_error)
    if obs.policy_error:
        return Desired(SYNCED, False, POLICY_VIOLATION, obs.policy_error)
    if obs.placement is not None and not obs.placement.ready:
        return Desired(SYNCED, False, why.PLACEMENT_NOT_READY,
                       "nothing is applied until the placement can be satisfied")
    failed = [o for o in obs.outcomes if o.state == DeploymentState.FAILED]
    if failed:
        return Desired(SYNCED, False, why.APPLY_FAILED,
                       "; ".join(f"{o.cluster}: {o.message}" for o in failed))
    drifted = [o for o in obs.outcomes if o.state == DeploymentState.OUT_OF_SYNC]
    if drifted:
        return Desired(SYNCED, False, why.OUT_OF_SYNC,
                       "; ".join(f"{o.cluster}: {o.message}" for o in drifted))
    if obs.removing:
        if obs.hold:
            return Desired(SYNCED, False, why.OUT_OF_SYNC, f"to be removed from "
                           f"{', '.join(obs.removing)} but not removed: {obs.hold}")
        return Desired(SYNCED, False, why.REMOVING,
                       f"removing the application from {', '.join(obs.removing)}")
    clusters = ", ".join(o.cluster for o in obs.outcomes) or "no cluster"
    return Desired(SYNCED, True, why.SYNCED_REASON, f"revision {_short(obs.revision)} applied to "
                   f"{clusters}")


def _placement(obs: Observation) -> Desired | None:
    if obs.spec_error:
        return Desired(PLACEMENT_READY, False, why.INVALID_SPEC, obs.spec_error)
    if obs.placement is None:
        return None
    return Desired(PLACEMENT_READY, obs.placement.ready, obs.placement.reason,
                   obs.placement.message)


def _stalled(obs: Observation, synced: Desired, placement: Desired | None) -> Desired | None:
    if obs.spec_error or obs.render_error or obs.policy_error:
        return Desired(STALLED, True, synced.reason, synced.message)
    if obs.source_error and not obs.source_transient:
        return Desired(STALLED, True, synced.reason, synced.message)
    if placement is not None and placement.status is False:
        return Desired(STALLED, True, placement.reason, placement.message)
    return None


def derive_status(previous: Mapping[str, Any] | None, obs: Observation, *,
                  now: str) -> StatusDecision:
    previous = previous or {}
    old_records = {d.get("cluster"): d for d in previous.get("deployments") or []}
    # Records carried over unchanged may include clusters the app is still leaving.
    leaving = [o.cluster for o in obs.outcomes if o.state == DeploymentState.REMOVING]
    obs = replace(obs, outcomes=[o for o in obs.outcomes if o.state != DeploymentState.REMOVING],
                  removing=list(dict.fromkeys([*obs.removing, *leaving])))
    deployments = [_deployment(o, old_records.get(o.cluster), now) for o in obs.outcomes]
    # A cluster still carrying the app stays recorded until it is clean, so the next pass (or
    # the next operator) knows to remove it there.
    placed = {o.cluster for o in obs.outcomes}
    deployments += [_removing(c, old_records.get(c), obs) for c in obs.removing
                    if c not in placed]
    synced = _synced(obs)
    placement = _placement(obs)
    stalled = _stalled(obs, synced, placement)
    unhealthy = [o for o in obs.outcomes if o.health != Health.HEALTHY]
    progressing = [o for o in unhealthy if o.health in (Health.PROGRESSING, Health.UNKNOWN,
                                                        Health.MISSING)]
    if stalled is not None:
        ready = Desired(READY, False, stalled.reason, stalled.message)
    elif placement is not None and placement.status is not True:
        ready = Desired(READY, False, placement.reason, placement.message)
    elif synced.status is not True:
        ready = Desired(READY, False, synced.reason, synced.message)
    elif unhealthy:
        ready = Desired(READY, False, why.PROGRESSING if len(progressing) == len(unhealthy)
                        else why.DEGRADED, "; ".join(f"{o.cluster}: {o.health}"
                                                   + (f" ({o.message})" if o.message else "")
                                                   for o in unhealthy))
    elif not obs.outcomes:
        ready = Desired(READY, False, why.NOT_PLACED, "the application is on no cluster")
    else:
        ready = Desired(READY, True, why.READY, f"revision {_short(obs.revision)} healthy on "
                        f"{', '.join(o.cluster for o in obs.outcomes)}")
    wanted = [c for c in (ready, synced, placement) if c is not None]
    # Only what moves without the user is progress: not held removals or changes (paused,
    # manual sync), not objects missing because they were never applied, nothing while paused.
    rolling = [o for o in progressing if o.state != DeploymentState.OUT_OF_SYNC]
    removing = bool(obs.removing) and not obs.hold
    retrying = obs.source_error if obs.source_transient else None
    busy = stalled is None and not obs.paused and (
        bool(rolling) or removing or obs.deleting or retrying is not None)
    if busy and retrying is not None and not obs.deleting:
        wanted.append(Desired(RECONCILING, True, retrying[0], retrying[1]))
    elif busy:
        wanted.append(Desired(RECONCILING, True, why.DELETING if obs.deleting else why.PROGRESSING,
                              ready.message if not obs.deleting else "removing from clusters"))
    if stalled is not None:
        wanted.append(stalled)
    if obs.paused:
        wanted.append(Desired(PAUSED, True, why.PAUSED, PAUSED_MESSAGE + (
            "; deletion waits until it is removed" if obs.deleting else "")))
    remove = [t for t, on in ((RECONCILING, busy), (STALLED, stalled is not None),
                              (PAUSED, obs.paused)) if not on]
    conditions = apply_conditions(previous.get("conditions"), wanted,
                                  generation=obs.generation, remove=remove, now=now)
    phase = _phase(obs, ready, stalled)
    status: dict[str, Any] = {"phase": str(phase), "observedGeneration": obs.generation,
                              "conditions": conditions,
                              "placedClusters": [o.cluster for o in obs.outcomes],
                              "deployments": deployments}
    revision = obs.revision or previous.get("sourceRevision")
    if revision:
        status["sourceRevision"] = revision
    return StatusDecision(status, _transition(previous, status))


def _phase(obs: Observation, ready: Desired, stalled: Desired | None) -> ApplicationPhase:
    if obs.deleting:
        return ApplicationPhase.DELETING
    if stalled is not None:
        return ApplicationPhase.FAILED
    if ready.status is True:
        return ApplicationPhase.DEPLOYED
    if any(o.state == DeploymentState.FAILED or o.health == Health.DEGRADED
           for o in obs.outcomes):
        return ApplicationPhase.DEGRADED
    if obs.outcomes or obs.removing:
        return ApplicationPhase.PROGRESSING
    return ApplicationPhase.PENDING


def _announced(previous: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The last transition announced (event type, revision), from the history recorded in
    status. A status without history (a first pass, or one written before transitions were
    recorded) counts as having announced its phase's event, if any."""
    history = previous.get("transitions") or []
    if history:
        return history[-1].get("type"), history[-1].get("revision")
    return _PHASE_EVENT.get(str(previous.get("phase"))), previous.get("sourceRevision")


_PHASE_EVENT: dict[str, str] = {ApplicationPhase.DEPLOYED: why.DEPLOYED_EVENT,
                ApplicationPhase.DEGRADED: why.DEGRADED_EVENT,
                ApplicationPhase.FAILED: why.FAILED_EVENT}
_HEALTHY_EVENTS = (why.DEPLOYED_EVENT, why.UPDATED_EVENT)


def _transition(previous: Mapping[str, Any], status: Mapping[str, Any]) -> str | None:
    """The event this status is, compared with the last one ANNOUNCED, not with the last phase
    written: during one rollout Ready and the phase flip (Deployed, Progressing while the new
    pods start, Deployed again), and each flip back must not be announced again. So: Failed or
    Degraded once until something else was announced; Deployed at a revision already announced
    healthy is nothing, at a new revision ``updated``, after a failure or first ``deployed``."""
    phase = status["phase"]
    announced, announced_revision = _announced(previous)
    if phase in (ApplicationPhase.FAILED, ApplicationPhase.DEGRADED):
        event = why.FAILED_EVENT if phase == ApplicationPhase.FAILED else why.DEGRADED_EVENT
        return event if announced != event else None
    if phase != ApplicationPhase.DEPLOYED:
        return None
    if announced not in _HEALTHY_EVENTS:
        return why.DEPLOYED_EVENT
    revision = status.get("sourceRevision")
    if revision and str(revision)[:100] != announced_revision:
        return why.UPDATED_EVENT
    return None

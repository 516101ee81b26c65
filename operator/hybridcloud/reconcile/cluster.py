"""HybridCluster lifecycle decisions: (object, what the provider reports) → one action + status.

Pure: no I/O, no clock except the ``now`` argument. The controller observes, calls
:func:`decide`, performs at most one provider action, and writes the returned status only when
it differs from the stored one (so a converged cluster costs no writes).

One action per pass keeps every cloud happy (GKE and AKS allow a single operation per cluster at
a time) and makes each step observable in status before the next one starts.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from ..conditions import PAUSED, READY, RECONCILING, STALLED, Desired
from ..conditions import apply as apply_conditions
from ..conditions import get as get_condition
from ..models import ClusterPhase, DeletionPolicy, HybridClusterSpec, NodeRole
from ..providers.base import (
    ClusterSpec,
    ClusterState,
    NodeGroupSpec,
    ObservedCluster,
    PermanentError,
    ProviderError,
    Taint,
    TransientError,
)
from . import cluster_conditions as why
from .cluster_conditions import CONTROL_PLANE_READY, INFRASTRUCTURE_READY, NODE_POOLS_READY
from .versions import minor_of, same_minor_or_patch, upgrade_step, version_tuple

Phase = ClusterPhase

_NAME_BUDGET = 40  # the tightest provider limit (GKE cluster names)


class ActionKind(StrEnum):
    CREATE = "create"
    CREATE_NODE_GROUP = "create_node_group"
    UPDATE_NODE_GROUP = "update_node_group"
    DELETE_NODE_GROUP = "delete_node_group"
    UPGRADE = "upgrade"
    DELETE = "delete"


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    node_group: NodeGroupSpec | None = None
    node_group_name: str | None = None
    version: str | None = None
    final_version: str | None = None  # where an upgrade stepping one minor at a time ends

    def describe(self) -> str:
        target = self.node_group.name if self.node_group else self.node_group_name
        detail = f" {target}" if target else ""
        text = f"{self.kind.value}{detail}" + (f" to {self.version}" if self.version else "")
        if self.final_version and self.final_version != self.version:
            text += f" (one minor version at a time, on the way to {self.final_version})"
        return text


@dataclass(frozen=True)
class ClusterView:
    """What the decision needs from the HybridCluster object."""

    name: str
    namespace: str
    uid: str
    generation: int
    spec: HybridClusterSpec
    status: Mapping[str, Any]
    deleting: bool = False
    paused: bool = False
    # The provider's default version, asked for only while spec.version is unset and no
    # version has been recorded in status yet (see :func:`desired_version`).
    default_version: str | None = None


@dataclass(frozen=True)
class Decision:
    status: dict[str, Any]
    action: Action | None = None
    requeue_after: float | None = None
    release_finalizer: bool = False  # deletion finished (or orphaned): let the object go
    transition: str | None = None  # domain event name, e.g. "cluster.ready"


@dataclass(frozen=True)
class Timing:
    poll: float = 10.0  # while the provider is working
    resync: float = 300.0  # when converged: drift detection
    stalled: float = 300.0  # permanent errors: credentials may be fixed in a Secret


# -- desired state -----------------------------------------------------------------------------

def provider_name(name: str, uid: str) -> str:
    """Deterministic provider-side name: stable across restarts, unique per object (uid), and
    valid for every cloud (lowercase, starts with a letter, at most 40 characters)."""
    suffix = hashlib.sha256(uid.encode()).hexdigest()[:8]
    stem = re.sub(r"[^a-z0-9-]", "-", name.lower()).strip("-")
    stem = stem[: _NAME_BUDGET - len(suffix) - 4].rstrip("-")
    return f"hc-{stem}-{suffix}" if stem else f"hc-{suffix}"


def owner_tags(view: ClusterView) -> dict[str, str]:
    return {
        "hybridcloud-managed": "true",
        "hybridcloud-namespace": view.namespace,
        "hybridcloud-name": view.name,
        "hybridcloud-uid": view.uid,
    }


def _node_group(group: Any) -> NodeGroupSpec:
    scaling = group.auto_scaling
    bounded = scaling is not None and scaling.enabled
    return NodeGroupSpec(
        name=group.name, size=group.size, role=str(group.role),
        instance_type=group.instance_type, disk_size=group.disk_size,
        labels=dict(group.labels or {}),
        taints=tuple(Taint(t.key, str(t.effect), t.value) for t in group.taints or ()),
        min_size=scaling.min_size if bounded and scaling else None,
        max_size=scaling.max_size if bounded and scaling else None,
    )


def needs_default_version(view: ClusterView) -> bool:
    """True when the controller must ask the provider for its default version: the user named
    none and none was recorded yet (once recorded, it is never asked again)."""
    return view.spec.version is None and not view.status.get("version") and not view.deleting


def desired_version(view: ClusterView) -> str:
    """``spec.version``; without one, the minor version recorded in status (the provider's
    default chosen at creation, or what runs now), so the operator never upgrades behind the
    user's back — not even a patch release — when the provider's default moves on."""
    if view.spec.version is not None:
        return view.spec.version.removeprefix("v")
    return minor_of(str(view.status.get("version") or view.default_version or ""))


def cluster_spec(view: ClusterView) -> ClusterSpec:
    spec = view.spec
    options_model = getattr(spec, str(spec.provider), None)
    networking = spec.networking
    return ClusterSpec(
        name=str(view.status.get("providerName") or provider_name(view.name, view.uid)),
        region=spec.region or "local",
        version=desired_version(view),
        node_groups=tuple(_node_group(group) for group in spec.node_groups),
        cluster_cidr=networking.cluster_cidr if networking else None,
        service_cidr=networking.service_cidr if networking else None,
        cni=networking.cni if networking else None,
        addons=tuple(spec.addons or ()),
        options=options_model.to_kube() if options_model is not None else {},
        tags=owner_tags(view),
    )


# -- decisions ---------------------------------------------------------------------------------

def next_action(desired: ClusterSpec, observed: ObservedCluster) -> Action | None:
    """The single next step that brings an ACTIVE cluster closer to the spec, or None."""
    if observed.version and not same_minor_or_patch(desired.version, observed.version):
        if version_tuple(desired.version) < version_tuple(observed.version):
            raise PermanentError(
                f"downgrade from {observed.version} to {desired.version} is not supported",
                reason=why.DOWNGRADE_NOT_SUPPORTED)
        step = upgrade_step(desired.version, observed.version)
        return Action(ActionKind.UPGRADE, version=step, final_version=desired.version)
    workers = [g for g in desired.node_groups if g.role != NodeRole.CONTROL_PLANE]
    for group in workers:
        if observed.node_group(group.name) is None:
            return Action(ActionKind.CREATE_NODE_GROUP, node_group=group)
    wanted = {g.name for g in workers}
    for seen in observed.node_groups:
        if seen.role != NodeRole.CONTROL_PLANE and seen.name not in wanted:
            return Action(ActionKind.DELETE_NODE_GROUP, node_group_name=seen.name)
    for group in workers:
        current = observed.node_group(group.name)
        assert current is not None  # every desired group exists: checked above
        if group.autoscaling:
            # The autoscaler owns the size inside the bounds; only the bounds are ours.
            drifted = (current.min_size, current.max_size) != (group.min_size, group.max_size)
        elif current.size_unknown:
            # Resizing on a guess would resize on every pass; say what is missing instead.
            raise PermanentError(f"node group {group.name}: {current.size_unknown}",
                                 reason=why.NODE_COUNT_UNKNOWN)
        else:
            drifted = current.size != group.size
        if drifted:
            return Action(ActionKind.UPDATE_NODE_GROUP, node_group=group)
    return None


def node_counts(observed: ObservedCluster | None) -> dict[str, int]:
    if observed is None:
        return {"total": 0, "ready": 0, "master": 0, "worker": 0}
    workers = sum(g.size for g in observed.node_groups if g.role != NodeRole.CONTROL_PLANE)
    ready_workers = sum(g.ready for g in observed.node_groups if g.role != NodeRole.CONTROL_PLANE)
    masters = observed.master_count
    ready_masters = masters if observed.state in (ClusterState.ACTIVE, ClusterState.UPDATING) \
        else 0
    return {"total": workers + masters, "ready": ready_workers + ready_masters,
            "master": masters, "worker": workers}


def _node_pools_ready(desired: ClusterSpec, observed: ObservedCluster | None) -> tuple[bool, str]:
    if observed is None:
        return False, "no node groups yet"
    for group in desired.node_groups:
        if group.role == NodeRole.CONTROL_PLANE:
            continue
        seen = observed.node_group(group.name)
        if seen is None:
            return False, f"node group {group.name} does not exist yet"
        floor = group.min_size if group.autoscaling and group.min_size is not None else group.size
        if seen.ready < min(floor, seen.size) or seen.state != ClusterState.ACTIVE:
            return False, f"node group {group.name}: {seen.ready}/{seen.size} nodes ready"
    return True, "all node groups ready"


def _observed_fields(observed: ObservedCluster | None) -> dict[str, Any]:
    if observed is None:
        return {"nodes": node_counts(None)}
    fields: dict[str, Any] = {"providerID": observed.provider_id, "nodes": node_counts(observed),
                              "nodeGroups": [
                                  {"name": g.name, "size": g.size, "ready": g.ready,
                                   **({"providerID": g.provider_id} if g.provider_id else {})}
                                  for g in observed.node_groups]}
    if observed.endpoint:
        fields["endpoint"] = observed.endpoint
    if observed.version:
        fields["version"] = f"v{observed.version.removeprefix('v')}"
    return fields


def _status(view: ClusterView, phase: str, desired: list[Desired], remove: list[str],
            extra: Mapping[str, Any], now: str | None) -> dict[str, Any]:
    status = {key: value for key, value in view.status.items()
              if key not in ("phase", "observedGeneration", "conditions")}
    status.update(extra)
    if "version" not in status and view.spec.version is None and view.default_version:
        # Recorded before the create, like providerName: later passes keep this version.
        status["version"] = f"v{view.default_version.removeprefix('v')}"
    status["providerName"] = view.status.get("providerName") or provider_name(view.name, view.uid)
    status["phase"] = str(phase)  # a plain string: status is serialised as JSON and YAML
    status["observedGeneration"] = view.generation
    status["conditions"] = apply_conditions(view.status.get("conditions"), desired,
                                            generation=view.generation, remove=remove, now=now)
    return status


def _paused(view: ClusterView) -> list[Desired]:
    if not view.paused:
        return []
    return [Desired(PAUSED, True, why.PAUSED,
                    "annotation platform.example.com/paused is set; no cloud changes are made")]


def decide(view: ClusterView, observed: ObservedCluster | None, *, timing: Timing = Timing(),
           now: str | None = None) -> Decision:
    """Next step and resulting status for a cluster whose provider reports ``observed``."""
    desired = cluster_spec(view)
    if view.deleting:
        return _decide_deletion(view, observed, timing, now)
    paused = _paused(view)
    remove_paused = [] if view.paused else [PAUSED]
    previous = view.status.get("phase")

    if observed is None or observed.state == ClusterState.CREATING:
        # Re-issued while the provider works: adapters treat a repeat as "continue" (EKS adds
        # node groups once its control plane is up, Magnum once the cluster is complete).
        action = None if view.paused else Action(ActionKind.CREATE)
        message = "waiting for the provider to create the cluster" if observed \
            else "creating the cluster at the provider"
        status = _status(view, Phase.CREATING, [
            Desired(READY, False, why.CREATING, message),
            Desired(RECONCILING, True, why.CREATING, message),
            Desired(INFRASTRUCTURE_READY, False, why.PROVISIONING, message),
            Desired(CONTROL_PLANE_READY, False, why.PROVISIONING, message),
            Desired(NODE_POOLS_READY, False, why.PROVISIONING, message), *paused,
        ], [STALLED, *remove_paused], _observed_fields(observed), now)
        transition = why.CREATED_EVENT if previous in (None, Phase.PENDING) else None
        return Decision(status, action, timing.poll, transition=transition)

    if observed.state == ClusterState.FAILED:
        message = observed.message or "the provider reports the cluster as failed"
        stalled_at = view.status.get("observedGeneration")
        if previous == Phase.FAILED and stalled_at != view.generation and not view.paused:
            # The spec changed since the failure: replace the failed cluster.
            return Decision(_status(view, Phase.CREATING, [
                Desired(READY, False, why.RECREATING, "replacing the failed cluster"),
                Desired(RECONCILING, True, why.RECREATING, "replacing the failed cluster"),
                *paused], [STALLED, *remove_paused], _observed_fields(observed), now),
                Action(ActionKind.DELETE), timing.poll)
        return failed(view, PermanentError(message, reason=why.PROVIDER_FAILED), observed,
                      timing=timing, now=now)

    if view.spec.version is None and observed.version:
        # No version asked for: whatever runs is right (even after the cloud auto-upgraded).
        desired = replace(desired, version=minor_of(observed.version) or desired.version)
    ready, pools_message = _node_pools_ready(desired, observed)
    try:
        action = None if observed.state != ClusterState.ACTIVE or view.paused \
            else next_action(desired, observed)
    except PermanentError as exc:
        return failed(view, exc, observed, timing=timing, now=now)
    busy = observed.state in (ClusterState.UPDATING, ClusterState.DELETING) or action is not None
    conditions = [
        Desired(INFRASTRUCTURE_READY, True, why.PROVISIONED, "provider resources exist"),
        Desired(CONTROL_PLANE_READY, bool(observed.endpoint),
                why.ENDPOINT_AVAILABLE if observed.endpoint else why.NO_ENDPOINT,
                observed.endpoint or "no API endpoint reported yet"),
        Desired(NODE_POOLS_READY, ready, why.NODES_READY if ready else why.SCALING, pools_message),
    ]
    if busy or not ready:
        reason = why.UPDATING if previous in (Phase.ACTIVE, Phase.UPDATING) else why.CREATING
        what = action.describe() if action else (
            "waiting for the provider" if busy else pools_message)
        phase = Phase.UPDATING if reason == why.UPDATING else Phase.CREATING
        status = _status(view, phase, [Desired(READY, False, reason, what),
                                       Desired(RECONCILING, True, reason, what),
                                       *conditions, *paused],
                         [STALLED, *remove_paused], _observed_fields(observed), now)
        transition = None
        if action is not None and action.kind == ActionKind.UPDATE_NODE_GROUP:
            transition = why.SCALED_EVENT
        elif phase == Phase.UPDATING and previous == Phase.ACTIVE:
            transition = why.UPDATING_EVENT
        return Decision(status, action, timing.poll, transition=transition)
    status = _status(view, Phase.ACTIVE, [Desired(READY, True, why.ACTIVE, "cluster is ready"),
                                          *conditions, *paused],
                     [RECONCILING, STALLED, *remove_paused], _observed_fields(observed), now)
    transition = None if previous == Phase.ACTIVE else (
        why.UPDATED_EVENT if previous == Phase.UPDATING else why.READY_EVENT)
    return Decision(status, None, timing.resync, transition=transition)


def failed(view: ClusterView, error: ProviderError, observed: ObservedCluster | None = None,
           *, timing: Timing = Timing(), now: str | None = None) -> Decision:
    """Status for a provider error: transient keeps the phase and retries, permanent stalls."""
    extra = _observed_fields(observed) if observed is not None else {}
    previous = str(view.status.get("phase") or Phase.CREATING)
    if previous == Phase.PENDING:
        previous = Phase.CREATING
    paused = _paused(view)
    unpaused = [] if view.paused else [PAUSED]
    if isinstance(error, TransientError):
        phase = previous if previous != Phase.FAILED else Phase.CREATING
        status = _status(view, phase, [
            Desired(READY, False, error.reason, error.message),
            Desired(RECONCILING, True, error.reason, f"retrying: {error.message}"), *paused,
        ], [STALLED, *unpaused], extra, now)
        return Decision(status, None, error.retry_after or timing.poll)
    phase = Phase.DELETING if view.deleting else Phase.FAILED
    status = _status(view, phase, [
        Desired(READY, False, error.reason, error.message),
        Desired(STALLED, True, error.reason, error.message), *paused,
    ], [RECONCILING, *unpaused], extra, now)
    transition = why.FAILED_EVENT if view.status.get("phase") != phase else None
    return Decision(status, None, timing.stalled, transition=transition)


def _decide_deletion(view: ClusterView, observed: ObservedCluster | None, timing: Timing,
                     now: str | None) -> Decision:
    orphan = view.spec.deletion_policy == DeletionPolicy.ORPHAN
    if observed is None or orphan:
        message = "provider cluster kept (deletionPolicy: Orphan)" if orphan and observed \
            else "provider resources are gone"
        status = _status(view, Phase.DELETING, [Desired(READY, False, why.DELETED, message)],
                         [RECONCILING, STALLED], {}, now)
        return Decision(status, None, None, release_finalizer=True, transition=why.DELETED_EVENT)
    reported = (get_condition(view.status.get("conditions"), STALLED) or {}).get("reason")
    if observed.delete_failed and reported != why.DELETE_FAILED:
        # The provider accepted the deletion and then failed it (Magnum DELETE_FAILED): say so
        # with its message, and retry on the next pass after the stalled interval.
        failure = observed.message or "the provider reports the deletion as failed"
        status = _status(view, Phase.DELETING, [Desired(READY, False, why.DELETE_FAILED, failure),
                                            Desired(STALLED, True, why.DELETE_FAILED, failure)],
                         [RECONCILING], _observed_fields(observed), now)
        return Decision(status, None, timing.stalled, transition=why.FAILED_EVENT)
    message = "deleting the cluster at the provider"
    # Repeated until the provider reports nothing: some deletions take several steps (EKS node
    # groups before the cluster, Magnum templates after it); adapters make repeats no-ops.
    action = None if view.paused else Action(ActionKind.DELETE)
    status = _status(view, Phase.DELETING, [Desired(READY, False, why.DELETING, message),
                                        Desired(RECONCILING, True, why.DELETING, message)],
                     [STALLED], _observed_fields(observed), now)
    transition = why.DELETING_EVENT if view.status.get("phase") != Phase.DELETING else None
    return Decision(status, action, timing.poll, transition=transition)

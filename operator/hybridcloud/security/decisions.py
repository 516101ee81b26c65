"""Pure decisions of the SecurityPolicy controller: which clusters, what the tenant may target,
and the status (per-cluster records and kstatus conditions) a pass leads to."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import conditions
from ..models.securitypolicy import ClusterPolicyState, PolicyTargets
from ..reconcile import tenancy
from ..reconcile.placement import ClusterFacts, matches

USABLE_PHASES = ("Active", "Updating")
INVALID_SPEC = "InvalidSpec"
POLICY_VIOLATION = tenancy.POLICY_VIOLATION
APPLY_FAILED = "ApplyFailed"
CLUSTER_NOT_READY = "ClusterNotReady"
CLUSTER_NOT_FOUND = "ClusterNotFound"


@dataclass(frozen=True)
class Targets:
    """Clusters to write to now, and targeted clusters that cannot be written yet (and why)."""

    ready: list[str]
    waiting: dict[str, tuple[str, str]]  # cluster → (reason, message)


def target_clusters(targets: PolicyTargets, facts: Mapping[str, ClusterFacts]) -> Targets:
    """The namespace's clusters the policy targets: explicit names, a label selector, or all."""
    waiting: dict[str, tuple[str, str]] = {}
    if targets.clusters is not None:
        names = list(targets.clusters)
        for name in names:
            if name not in facts:
                waiting[name] = (CLUSTER_NOT_FOUND, f"cluster {name} not found in the "
                                 "policy's namespace")
    else:
        names = [name for name, fact in facts.items()
                 if matches(targets.cluster_selector, fact.labels)]
    ready = []
    for name in sorted(names):
        fact = facts.get(name)
        if fact is None:
            continue
        if fact.deleting or fact.phase not in USABLE_PHASES:
            waiting[name] = (CLUSTER_NOT_READY, f"cluster {name} is "
                             f"{'being deleted' if fact.deleting else fact.phase or 'Pending'}")
        else:
            ready.append(name)
    return Targets(ready, waiting)


def namespace_refusals(governing: tenancy.Governing, namespaces: Iterable[str]) -> list[str]:
    """Target namespaces the tenant may not write to on members (so may not police either):
    the same rule as for delivery, so a policy can never reach another tenant's workloads or
    the platform's and the system's namespaces."""
    refused = []
    for index, name in enumerate(namespaces):
        why = tenancy.namespace_refusal(governing, name)
        if why is not None:
            refused.append(f"spec.targets.namespaces[{index}]: {why}")
    return refused


@dataclass(frozen=True)
class ClusterOutcome:
    cluster: str
    state: ClusterPolicyState
    reason: str | None = None
    message: str | None = None

    def to_status(self, generation: int) -> dict[str, Any]:
        record: dict[str, Any] = {"cluster": self.cluster, "state": str(self.state),
                                  "observedGeneration": generation}
        if self.reason:
            record["reason"] = self.reason
        if self.message:
            record["message"] = self.message[:4096]
        return record


def derive_status(previous: Mapping[str, Any] | None, *, generation: int, policy_name: str,
                  outcomes: Sequence[ClusterOutcome], stalled: tuple[str, str] | None = None,
                  enabled: bool = True, now: str | None = None) -> dict[str, Any]:
    """The status a pass leads to. ``stalled`` = (reason, message) when the spec cannot be
    applied at all (invalid, or targets the tenant may not police)."""
    failed = [o for o in outcomes if o.state == ClusterPolicyState.FAILED]
    pending = [o for o in outcomes if o.state == ClusterPolicyState.PENDING]
    desired: list[conditions.Desired] = []
    remove: list[str] = []
    if stalled is not None:
        desired += [conditions.Desired(conditions.READY, False, stalled[0], stalled[1]),
                    conditions.Desired(conditions.STALLED, True, stalled[0], stalled[1])]
        remove.append(conditions.RECONCILING)
    elif failed:
        # Bounded: the condition's message field holds at most 32768 characters.
        message = "; ".join(f"cluster {o.cluster}: {o.message}" for o in failed)[:8192]
        desired.append(conditions.Desired(conditions.READY, False, APPLY_FAILED, message))
        desired.append(conditions.Desired(conditions.RECONCILING, True, APPLY_FAILED, message))
        remove.append(conditions.STALLED)
    elif pending:
        message = "; ".join(o.message or o.cluster for o in pending)[:8192]
        desired.append(conditions.Desired(conditions.READY, False, CLUSTER_NOT_READY, message))
        desired.append(conditions.Desired(conditions.RECONCILING, True, CLUSTER_NOT_READY,
                                          message))
        remove.append(conditions.STALLED)
    else:
        done = [o.cluster for o in outcomes]
        reason, message = ("Disabled", "removed from every cluster") if not enabled else (
            "Applied", f"enforced on {len(done)} cluster(s): {', '.join(done)}" if done
            else "no target cluster yet")
        desired.append(conditions.Desired(conditions.READY, True, reason, message))
        remove += [conditions.RECONCILING, conditions.STALLED]
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "policyName": policy_name,
        "conditions": conditions.apply((previous or {}).get("conditions"), desired,
                                       generation=generation, remove=remove, now=now),
        "clusters": [o.to_status(generation) for o in sorted(outcomes, key=lambda o: o.cluster)],
    }
    return status

"""Placement: which member clusters an application goes to, with which components and values.

Pure: cluster facts (phase, region, provider, labels) and the clusters the app is on now go in,
a :class:`Placement` comes out. Rules:

- Only ``Active`` clusters whose member is healthy are eligible for new placement. A member the
  health prober finds unreachable (or without Ready nodes) keeps the apps already on it for the
  policy's failover grace period (``placementPolicy.failover``), then they move like from a
  failed cluster; with failover disabled, or without a policy, they stay.
- Only ``Active`` clusters are eligible for new placement. A cluster the app is already on that
  is merely ``Updating`` (being scaled or upgraded) keeps it: a node-pool resize must not move
  an application away.
- Explicit ``placement`` entries are honoured while their cluster is eligible; when it is not,
  and a ``placementPolicy`` exists, an eligible cluster matching the policy's selector stands in
  for it (same components and values) — failover. When the explicit cluster is back, the app
  returns to it.
- The policy then adds clusters: ``spread`` takes every eligible cluster; ``availability`` and
  ``pack`` take ``clusterCount`` clusters (default: what the constraints need, or the explicit
  entries, or 1). ``availability`` prefers new regions and providers beyond the constraints;
  ``pack`` adds diversity only while a constraint still needs it.
- Clusters the app is on now are preferred over equal alternatives, so a placement is stable
  and only moves when it must.
- Constraints (``region_diversity``, ``provider_diversity``) are checked on the final set. When
  they cannot be met the placement is not ready, with a message saying what is missing; the
  controller then applies nothing new anywhere (no half-applied app).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..merging import deep_merge as deep_merge  # re-exported: placement merges values
from ..models.application import (
    ConstraintType,
    FailoverPolicy,
    HybridApplicationSpec,
    PlacementPolicy,
    PlacementStrategy,
)
from ..models.cluster import ClusterPhase
from ..models.common import LabelSelector

ACTIVE = ClusterPhase.ACTIVE
UPDATING = ClusterPhase.UPDATING
NO_REGION = "default"


@dataclass(frozen=True)
class ClusterFacts:
    """What placement needs to know about one HybridCluster."""

    name: str
    phase: str | None
    provider: str
    region: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    deleting: bool = False
    unhealthy_since: float | None = None  # epoch seconds the member was found unhealthy

    @property
    def region_key(self) -> str:
        return self.region or NO_REGION


@dataclass(frozen=True)
class Target:
    """The application (or some components) on one cluster."""

    cluster: str
    components: tuple[str, ...] | None  # None: every component
    values: Mapping[str, Any]
    stands_in_for: str | None = None  # the explicit cluster this one replaces


@dataclass(frozen=True)
class Placement:
    targets: tuple[Target, ...]
    ready: bool
    reason: str
    message: str
    # Seconds until an unhealthy member's failover period ends and placement must be decided
    # again (None: nothing pending).
    recheck_after: float | None = None

    @property
    def clusters(self) -> list[str]:
        return [target.cluster for target in self.targets]


# -- helpers -----------------------------------------------------------------------------------

def serving(phase: str | None, deleting: bool = False) -> bool:
    """Whether a cluster in ``phase`` runs and answers: applications already on it stay there,
    the API may read and scale its workloads, and removing an app from it can wait for it.
    (New placement takes only ``Active`` clusters; see :func:`place`.)"""
    return not deleting and phase in (ACTIVE, UPDATING)


def matches(selector: LabelSelector | None, labels: Mapping[str, str]) -> bool:
    """Kubernetes label-selector semantics; no selector matches everything."""
    if selector is None:
        return True
    for key, value in (selector.match_labels or {}).items():
        if labels.get(key) != value:
            return False
    for requirement in selector.match_expressions or []:
        operator = str(requirement.operator)
        values = set(requirement.values or [])
        present = requirement.key in labels
        if operator == "In" and not (present and labels[requirement.key] in values):
            return False
        if operator == "NotIn" and present and labels[requirement.key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _needs(policy: PlacementPolicy | None) -> tuple[int, int]:
    """(minimum regions, minimum providers) the constraints ask for."""
    regions = providers = 1
    for constraint in (policy.constraints if policy else None) or []:
        if constraint.type == ConstraintType.REGION_DIVERSITY and constraint.min_regions:
            regions = max(regions, constraint.min_regions)
        if constraint.type == ConstraintType.PROVIDER_DIVERSITY and constraint.min_providers:
            providers = max(providers, constraint.min_providers)
    return regions, providers


def _describe(facts: ClusterFacts | None, name: str) -> str:
    if facts is None:
        return f"cluster {name} does not exist"
    if facts.deleting:
        return f"cluster {name} is being deleted"
    if facts.unhealthy_since is not None:
        return f"cluster {name}'s member is unhealthy"
    return f"cluster {name} is {facts.phase or 'not ready yet'}"


class _Chooser:
    """Greedy selection preferring what a constraint needs, then stability, then diversity."""

    def __init__(self, clusters: Mapping[str, ClusterFacts], current: Iterable[str],
                 policy: PlacementPolicy | None) -> None:
        self.clusters = clusters
        self.current = set(current)
        self.min_regions, self.min_providers = _needs(policy)
        self.strategy = policy.strategy if policy else PlacementStrategy.AVAILABILITY

    def best(self, chosen: Sequence[str], pool: Iterable[str],
             sticky: Iterable[str] = ()) -> str | None:
        preferred = set(sticky)
        regions = {self.clusters[name].region_key for name in chosen}
        providers = {self.clusters[name].provider for name in chosen}

        def score(name: str) -> tuple[int, int, int, int]:
            facts = self.clusters[name]
            new_region = facts.region_key not in regions
            new_provider = facts.provider not in providers
            helps = (new_region and len(regions) < self.min_regions) or \
                (new_provider and len(providers) < self.min_providers)
            diversity = int(new_region) + int(new_provider)
            if self.strategy == PlacementStrategy.PACK:
                diversity = -diversity
            stays = name in preferred or name in self.current
            return (int(helps), int(name in preferred), int(stays), diversity)

        ranked = sorted(pool)  # ties are broken by name: deterministic
        return max(ranked, key=score, default=None)


# -- the decision --------------------------------------------------------------------------------

def failover_grace(policy: PlacementPolicy | None) -> float | None:
    """Seconds an app stays on an unhealthy member; None: it stays (no policy, or disabled)."""
    if policy is None:
        return None
    failover = policy.failover or FailoverPolicy()
    return float(failover.grace_period_seconds) if failover.enabled else None


def place(spec: HybridApplicationSpec, clusters: Mapping[str, ClusterFacts],
          current: Mapping[str, tuple[str, ...] | None] | None = None,
          now: float = 0.0) -> Placement:
    """Choose the clusters for ``spec``. ``current`` maps clusters the app is on now to their
    components (None: all); ``now`` (epoch seconds) times unhealthy members' failover."""
    current = current or {}
    policy = spec.placement_policy
    explicit = spec.placement or []
    grace = failover_grace(policy)
    waits: list[float] = []

    def eligible(name: str) -> bool:
        facts = clusters.get(name)
        if facts is None or not serving(facts.phase, facts.deleting):
            return False
        if facts.unhealthy_since is not None:
            if name not in current:
                return False
            if grace is None:
                return True
            remaining = facts.unhealthy_since + grace - now
            if remaining > 0:
                waits.append(remaining)
            return remaining > 0
        return facts.phase == ACTIVE or name in current

    selector = policy.cluster_selector if policy else None
    candidates = {name for name, facts in clusters.items()
                  if eligible(name) and matches(selector, facts.labels)} if policy else set()
    chooser = _Chooser(clusters, current, policy)
    targets: list[Target] = []
    problems: list[str] = []
    reserved = {entry.cluster for entry in explicit}

    for entry in explicit:
        components = tuple(entry.components) if entry.components is not None else None
        values = deep_merge(spec.values, entry.values)
        if eligible(entry.cluster):
            targets.append(Target(entry.cluster, components, values))
            continue
        pool = candidates - reserved - {t.cluster for t in targets}
        sticky = [name for name, held in current.items() if held == components]
        stand_in = chooser.best([t.cluster for t in targets], pool, sticky)
        if stand_in is None:
            problems.append(f"{_describe(clusters.get(entry.cluster), entry.cluster)} and no "
                            "eligible cluster can stand in for it")
            continue
        targets.append(Target(stand_in, components, values, stands_in_for=entry.cluster))

    if policy is not None:
        min_regions, min_providers = _needs(policy)
        if policy.strategy == PlacementStrategy.SPREAD:
            wanted = len(candidates | {t.cluster for t in targets})
        else:
            wanted = max(policy.cluster_count or len(explicit) or 1, min_regions, min_providers)
        pool = candidates - {t.cluster for t in targets}
        while len(targets) < wanted and pool:
            name = chooser.best([t.cluster for t in targets], pool)
            assert name is not None  # pool is not empty
            pool.discard(name)
            targets.append(Target(name, None, dict(spec.values or {})))
        if not targets and not problems:
            return Placement((), False, "NoEligibleClusters",
                             _no_candidates_message(policy, clusters))
        problems.extend(_constraint_problems(policy, targets, clusters, candidates))
        if policy.cluster_count and len(targets) < policy.cluster_count and not problems:
            problems.append(f"clusterCount is {policy.cluster_count} but only {len(targets)} "
                            "eligible cluster(s) exist")

    recheck = min(waits) if waits else None
    if problems:
        reason = "ConstraintsUnsatisfiable" if any("diversity" in p for p in problems) \
            else "ClusterUnavailable" if any("stand in" in p for p in problems) \
            else "InsufficientClusters"
        return Placement(tuple(targets), False, reason, "; ".join(problems), recheck)
    names = ", ".join(t.cluster + (f" (for {t.stands_in_for})" if t.stands_in_for else "")
                      for t in targets)
    return Placement(tuple(targets), True, "Placed", f"placed on {names}", recheck)


def _constraint_problems(policy: PlacementPolicy, targets: Sequence[Target],
                         clusters: Mapping[str, ClusterFacts],
                         candidates: Iterable[str]) -> list[str]:
    min_regions, min_providers = _needs(policy)
    chosen = [clusters[t.cluster] for t in targets]
    available = [clusters[name] for name in candidates]
    problems = []
    regions = sorted({facts.region_key for facts in chosen})
    if len(regions) < min_regions:
        known = sorted({facts.region_key for facts in available} | set(regions))
        problems.append(f"region_diversity needs {min_regions} regions but eligible clusters "
                        f"span {len(known)} ({', '.join(known) or 'none'})")
    providers = sorted({facts.provider for facts in chosen})
    if len(providers) < min_providers:
        known = sorted({facts.provider for facts in available} | set(providers))
        problems.append(f"provider_diversity needs {min_providers} providers but eligible "
                        f"clusters span {len(known)} ({', '.join(known) or 'none'})")
    return problems


def _no_candidates_message(policy: PlacementPolicy,
                           clusters: Mapping[str, ClusterFacts]) -> str:
    if not clusters:
        return "no HybridClusters exist in this namespace"
    active = [f for f in clusters.values()
              if f.phase == ACTIVE and not f.deleting and f.unhealthy_since is None]
    if not active:
        return "no HybridCluster is Active"
    if policy.cluster_selector is not None:
        return f"no Active HybridCluster matches clusterSelector ({len(active)} Active)"
    return "no eligible HybridCluster"

"""How a :class:`ClusterSpec` maps onto EKS request fields, and EKS's answers back.

Pure functions: no requests are made here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hybridcloud.providers.base import ClusterState, NodeGroupSpec, ObservedNodeGroup

CLUSTER_STATES = {"CREATING": ClusterState.CREATING, "PENDING": ClusterState.CREATING,
                  "ACTIVE": ClusterState.ACTIVE, "UPDATING": ClusterState.UPDATING,
                  "DELETING": ClusterState.DELETING, "FAILED": ClusterState.FAILED}
_GROUP_STATES = {"CREATING": ClusterState.CREATING, "ACTIVE": ClusterState.ACTIVE,
                 "DEGRADED": ClusterState.ACTIVE, "UPDATING": ClusterState.UPDATING,
                 "DELETING": ClusterState.DELETING, "CREATE_FAILED": ClusterState.FAILED,
                 "DELETE_FAILED": ClusterState.FAILED}
_TAINT_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE",
                  "NoExecute": "NO_EXECUTE"}


def minor(version: str) -> str:
    """EKS versions are "major.minor": "v1.28.3" → "1.28"."""
    return ".".join(version.removeprefix("v").split(".")[:2])


def scaling(group: NodeGroupSpec, current: Mapping[str, int] | None = None) -> dict[str, int]:
    if group.min_size is not None and group.max_size is not None:
        desired = group.size if current is None else current.get("desiredSize", group.size)
        desired = min(max(desired, group.min_size), group.max_size)
        return {"minSize": group.min_size, "maxSize": max(group.max_size, 1),
                "desiredSize": desired}
    return {"minSize": group.size, "maxSize": max(group.size, 1), "desiredSize": group.size}


def taints(group: NodeGroupSpec) -> list[dict[str, str]]:
    return [{"key": t.key, "effect": _TAINT_EFFECTS.get(t.effect, t.effect),
             **({"value": t.value} if t.value is not None else {})} for t in group.taints]


def label_and_taint_changes(group: NodeGroupSpec, current: Mapping[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    have: Mapping[str, str] = current.get("labels") or {}
    add = {k: v for k, v in group.labels.items() if have.get(k) != v}
    remove = [k for k in have if k not in group.labels]
    if add or remove:
        changes["labels"] = {"addOrUpdateLabels": add, "removeLabels": remove}
    want, had = taints(group), list(current.get("taints") or [])
    gone = [t for t in had if not any(t["key"] == w["key"] and t["effect"] == w["effect"]
                                      for w in want)]
    if [t for t in want if t not in had] or gone:
        changes["taints"] = {"addOrUpdateTaints": [t for t in want if t not in had],
                             "removeTaints": gone}
    return changes


def option(options: Mapping[str, object], key: str) -> str | None:
    value = options.get(key)
    return value if isinstance(value, str) and value else None


def options_list(options: Mapping[str, object], key: str) -> list[str]:
    value = options.get(key)
    return [str(item) for item in value] if isinstance(value, list | tuple) else []


def observed_group(group: Mapping[str, Any]) -> ObservedNodeGroup:
    scaling_config = group.get("scalingConfig") or {}
    size = int(scaling_config.get("desiredSize", 0))
    low, high = scaling_config.get("minSize"), scaling_config.get("maxSize")
    healthy = group.get("status") == "ACTIVE" and not (group.get("health") or {}).get("issues")
    autoscaled = low is not None and high is not None and not low == high == size
    return ObservedNodeGroup(
        name=group["nodegroupName"], size=size,
        ready=size if healthy else 0,  # EKS reports no per-node readiness
        state=_GROUP_STATES.get(group.get("status", ""), ClusterState.UPDATING),
        min_size=low if autoscaled else None, max_size=high if autoscaled else None,
        provider_id=group.get("nodegroupArn"))

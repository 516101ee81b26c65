"""Custom resources → the contract's REST shapes (snake_case, lower-case status words)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class NodeSummary(BaseModel):
    total: int = 0
    ready: int = 0
    master: int = 0
    worker: int = 0


class ClusterSummary(BaseModel):
    id: str = Field(description="Cluster ID (the HybridCluster name).")
    name: str
    namespace: str
    provider: str
    region: str | None
    status: str = Field(description="pending, creating, active, updating, deleting or failed.")
    version: str
    nodes: NodeSummary
    created_at: str | None
    updated_at: str | None


class ClusterList(BaseModel):
    clusters: list[ClusterSummary]
    total: int
    page: int
    per_page: int


def _updated_at(obj: dict[str, Any]) -> str | None:
    conditions = (obj.get("status") or {}).get("conditions") or []
    times: list[str | None] = [c.get("lastTransitionTime") for c in conditions]
    stamps = [t for t in times if t is not None]
    created: str | None = obj["metadata"].get("creationTimestamp")
    return max(stamps) if stamps else created


def cluster_summary(obj: dict[str, Any]) -> ClusterSummary:
    spec, status, meta = obj["spec"], obj.get("status") or {}, obj["metadata"]
    return ClusterSummary(
        id=meta["name"], name=meta["name"], namespace=meta.get("namespace", ""),
        provider=spec["provider"], region=spec.get("region"),
        status=str(status.get("phase") or "Pending").lower(),
        version=status.get("version") or spec["version"],
        nodes=NodeSummary(**(status.get("nodes") or {})),
        created_at=meta.get("creationTimestamp"), updated_at=_updated_at(obj),
    )

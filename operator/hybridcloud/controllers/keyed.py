"""What both controllers share: the latest object per (namespace, name) and the work queue that
reconciles them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..reconcile.health import unhealthy_since
from ..reconcile.placement import ClusterFacts
from .queue import WorkQueue

Key = tuple[str, str]


class QueuedController:
    bodies: dict[Key, dict[str, Any]]
    queue: WorkQueue[Key]

    def start(self) -> None:
        self.queue.start()

    def recheck_all(self) -> None:
        """A tenant policy changed: what every object may do (limits, writes) may have too."""
        for key in list(self.bodies):
            self.queue.add(key)


def cluster_facts(body: Mapping[str, Any]) -> ClusterFacts:
    """What placement and targeting need of a HybridCluster object."""
    meta = body["metadata"]
    spec = body.get("spec") or {}
    return ClusterFacts(name=meta["name"], phase=(body.get("status") or {}).get("phase"),
                        provider=str(spec.get("provider", "")), region=spec.get("region"),
                        labels=dict(meta.get("labels") or {}),
                        deleting=bool(meta.get("deletionTimestamp")),
                        unhealthy_since=unhealthy_since(body.get("status")))

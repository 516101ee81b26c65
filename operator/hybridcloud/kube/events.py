"""A feed sink writing Kubernetes Events (core/v1) for domain transitions."""

from __future__ import annotations

from typing import Any

from ..feed import DomainEvent
from .wire import KubeWire, object_path

COMPONENT = "hybridcloud-operator"

# Domain events that are not worth a Kubernetes Event: the start of a creation is already
# visible as the object itself (and its status); each Event is one more apiserver write.
SILENT = frozenset({"cluster.created"})


class KubernetesEventSink:
    """Posts one Event per transition. Subscribe it with a small concurrency: Events are
    notifications, so a burst of transitions (a fleet converging) must not crowd reconciles out
    of the connection pool."""

    CONCURRENCY = 4

    def __init__(self, wire: KubeWire) -> None:
        self.wire = wire

    async def __call__(self, event: DomainEvent) -> None:
        if event.type in SILENT:
            return
        await self.wire.request("POST", object_path("v1", "events", event.subject.namespace),
                                manifest(event))


def manifest(event: DomainEvent) -> dict[str, Any]:
    subject = event.subject
    stamp = event.timestamp.replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"generateName": f"{subject.name}.", "namespace": subject.namespace},
        "involvedObject": {"apiVersion": subject.api_version, "kind": subject.kind,
                           "name": subject.name, "namespace": subject.namespace,
                           "uid": subject.uid},
        "reason": event.reason, "message": event.message[:1024],
        "type": "Warning" if event.warning else "Normal",
        "source": {"component": COMPONENT}, "reportingComponent": COMPONENT,
        "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
    }

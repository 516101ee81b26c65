"""A feed sink writing Kubernetes Events (core/v1) for domain transitions."""

from __future__ import annotations

from lightkube import AsyncClient
from lightkube.models.core_v1 import EventSource, ObjectReference
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Event

from ..feed import DomainEvent

COMPONENT = "hybridcloud-operator"


# Domain events that are not worth a Kubernetes Event: the start of a creation is already
# visible as the object itself (and its status); each Event is one more apiserver write.
SILENT = frozenset({"cluster.created"})


class KubernetesEventSink:
    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def __call__(self, event: DomainEvent) -> None:
        if event.type in SILENT:
            return
        subject = event.subject
        stamp = event.timestamp.replace(microsecond=0)
        await self.client.create(Event(
            metadata=ObjectMeta(generateName=f"{subject.name}.", namespace=subject.namespace),
            involvedObject=ObjectReference(apiVersion=subject.api_version, kind=subject.kind,
                                           name=subject.name, namespace=subject.namespace,
                                           uid=subject.uid),
            reason=event.reason, message=event.message[:1024],
            type="Warning" if event.warning else "Normal",
            source=EventSource(component=COMPONENT), reportingComponent=COMPONENT,
            firstTimestamp=stamp, lastTimestamp=stamp, count=1,
        ))

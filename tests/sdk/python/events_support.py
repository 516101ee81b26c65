"""Helpers for the event-stream tests: clusters created over REST while a stream listens. The
API derives events from the transitions the operator records in a cluster's status; these tests
run no operator, so the maker records ``cluster.created`` the way the operator does."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from lightkube import Client

from hybridcloud_sdk import HybridCloudClient, StreamEvent
from tests.integration.test_events_stream import transition

VERSION = "v1.37.2"
POOLS = {"node_pools": [{"name": "workers", "size": 1}]}


class ClusterMaker:
    """Creates clusters every half second until stopped: a subscription that connects at an
    unknown moment still sees one created after it connected."""

    def __init__(self, client: HybridCloudClient, prefix: str, kube: Client,
                 namespace: str) -> None:
        self.client, self.prefix, self.made = client, prefix, list[str]()
        self.kube, self.namespace = kube, namespace
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.5) and len(self.made) < 20:
            name = f"{self.prefix}{len(self.made)}"
            self.client.clusters.create(name=name, provider="local", version=VERSION,
                                        configuration=POOLS)
            transition(self.kube, self.namespace, name, "cluster.created", "Pending")
            self.made.append(name)

    def __enter__(self) -> ClusterMaker:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()


def first_created(events: Iterator[StreamEvent], prefix: str) -> StreamEvent:
    for event in events:
        if event.event == "cluster.created" and \
                str(event.data.get("cluster_id", "")).startswith(prefix):
            return event
    raise AssertionError("the stream ended without a cluster.created event")

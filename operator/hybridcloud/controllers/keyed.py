"""What both controllers share: the latest object per (namespace, name) and the work queue that
reconciles them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

import httpx2
from lightkube import ApiError, AsyncClient, KubeConfig

from ..kube import objects
from ..kube.counted import counted
from ..kube.member_credentials import MemberClients
from ..kube.resources import HybridClusterResource
from ..reconcile.health import unhealthy_since
from ..reconcile.placement import ClusterFacts
from .queue import WorkQueue

Key = tuple[str, str]


class Bodies(MutableMapping[Key, dict[str, Any]]):
    """The newest body of each object, keyed (namespace, name), with each namespace's objects
    indexed: a pass that needs its namespace's clusters (quotas) reads those, not a copy of the
    whole fleet (issue 19's 20k-cluster profile: that copy, made on every pass, was 83% of the
    operator's time)."""

    def __init__(self) -> None:
        self._all: dict[Key, dict[str, Any]] = {}
        self._by_namespace: dict[str, dict[str, dict[str, Any]]] = {}

    def __getitem__(self, key: Key) -> dict[str, Any]:
        return self._all[key]

    def get(self, key: Key, default: Any = None) -> Any:
        return self._all.get(key, default)

    def __setitem__(self, key: Key, body: dict[str, Any]) -> None:
        self._all[key] = body
        self._by_namespace.setdefault(key[0], {})[key[1]] = body

    def __delitem__(self, key: Key) -> None:
        del self._all[key]
        names = self._by_namespace[key[0]]
        del names[key[1]]
        if not names:
            del self._by_namespace[key[0]]

    def __iter__(self) -> Iterator[Key]:
        return iter(self._all)

    def __len__(self) -> int:
        return len(self._all)

    def in_namespace(self, namespace: str) -> list[dict[str, Any]]:
        return list(self._by_namespace.get(namespace, {}).values())


class QueuedController:
    bodies: MutableMapping[Key, dict[str, Any]]
    queue: WorkQueue[Key]

    def start(self) -> None:
        self.queue.start()

    def remember(self, event_type: str | None, body: Mapping[str, Any]) -> Key | None:
        """Keep the newest body of a watch event; the key when it is news to act on, None for
        a deletion (forgotten, and dropped from the queue) or a stale or repeated body."""
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        if event_type == "DELETED":
            self.bodies.pop(key, None)
            self.queue.forget(key)
            return None
        if not objects.newer(body, self.bodies.get(key), strictly=True):
            return None
        self.bodies[key] = dict(body)
        return key

    def requeue_namespace(self, namespace: str) -> None:
        """The namespace's clusters changed: every object there may place or target anew."""
        for key in self.bodies:
            if key[0] == namespace:
                self.queue.add(key)

    def recheck_all(self) -> None:
        """A tenant policy changed: what every object may do (limits, writes) may have too."""
        for key in list(self.bodies):
            self.queue.add(key)


def member_refusal(exc: BaseException) -> str:
    """Why a member turned a request down, for status: its admission or validation message, or
    that it could not be reached; never a credential or an address."""
    if isinstance(exc, ApiError):
        return str(exc.status.message or exc.status.reason or "refused")
    if isinstance(exc, httpx2.HTTPError):
        return f"cannot reach the cluster: {type(exc).__name__}"
    return str(exc)


async def prime_clusters(client: AsyncClient, namespace: str, primed: set[str],
                         observe_cluster: Callable[[str, dict[str, Any]], None]) -> None:
    """List the namespace's clusters once (the first pass there must see all of them, not just
    those whose watch events arrived first)."""
    if namespace in primed:
        return
    async for item in client.list(HybridClusterResource, namespace=namespace):
        observe_cluster("ADDED", dict(item.to_dict()))  # type: ignore[no-untyped-call]
    primed.add(namespace)


def cluster_facts(body: Mapping[str, Any]) -> ClusterFacts:
    """What placement and targeting need of a HybridCluster object."""
    meta = body["metadata"]
    spec = body.get("spec") or {}
    return ClusterFacts(name=meta["name"], phase=(body.get("status") or {}).get("phase"),
                        provider=str(spec.get("provider", "")), region=spec.get("region"),
                        labels=dict(meta.get("labels") or {}),
                        deleting=bool(meta.get("deletionTimestamp")),
                        unhealthy_since=unhealthy_since(body.get("status")))


# Per namespace: cluster name → (resourceVersion of the event it came from, its facts).
ClusterBook = dict[str, dict[str, tuple[int, ClusterFacts]]]


def track_cluster(clusters: ClusterBook, uids: dict[Key, str], event_type: str | None,
                  body: Mapping[str, Any],
                  ) -> tuple[ClusterFacts | None, ClusterFacts | None] | None:
    """Record one HybridCluster watch event in ``clusters`` and ``uids`` (member credentials
    are keyed by the uid); returns the cluster's facts before and after, or None for an event
    older than what is known (a re-list racing a newer event), which changes nothing."""
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    known = clusters.setdefault(namespace, {})
    before = known.get(name)
    if event_type == "DELETED":
        known.pop(name, None)
        uids.pop((namespace, name), None)
    else:
        revision = int(meta.get("resourceVersion") or 0)
        if before is not None and before[0] > revision:
            return None
        known[name] = (revision, cluster_facts(body))
        uids[(namespace, name)] = meta["uid"]
    after = known.get(name)
    return (before[1] if before else None), (after[1] if after else None)


def facts_of(clusters: ClusterBook, namespace: str) -> dict[str, ClusterFacts]:
    """The namespace's clusters by name, as placement and targeting take them."""
    return {name: facts for name, (_, facts) in clusters.get(namespace, {}).items()}


def platform_member_clients(client: AsyncClient, namespace: str, field_manager: str,
                            timeout: float) -> MemberClients[AsyncClient]:
    """lightkube clients for members, from the platform's copy of each member credential in
    ``namespace``, writing as ``field_manager``; closed when the credential changes."""

    def build(_: str, config: KubeConfig) -> AsyncClient:
        return counted(AsyncClient(config=config, field_manager=field_manager,
                                   timeout=httpx2.Timeout(timeout)))

    async def close(member: AsyncClient) -> None:
        await member.close()

    return MemberClients(client, namespace, build, close)

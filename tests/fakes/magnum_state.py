"""What the fake Magnum "cloud" holds: cluster templates, clusters, node groups, and the
asynchronous operations (Heat stacks in real Magnum) that move them between statuses.

Nothing runs in the background: every API request first calls :meth:`MagnumCloud.advance`, which
completes the operations whose delay has passed, so a test sees ``CREATE_IN_PROGRESS`` for
``delay`` seconds and then ``CREATE_COMPLETE`` exactly as a client polling real Magnum would.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fakes.keystone import PROJECT_ID, USER_ID
from tests.fakes.magnum_pki import ClusterCA
from tests.fakes.server import Response


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def error(status: int, detail: str) -> Response:
    """Magnum's parsable-error body (the SDK does not parse it; adapters must)."""
    return Response(status, {"errors": [{
        "request_id": "", "code": "client" if status < 500 else "server", "status": status,
        "title": detail.split(".")[0], "detail": detail, "links": []}]})


class MagnumError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.response = error(status, detail)


def busy(cluster: Cluster, operation: str) -> MagnumError:
    return MagnumError(400, f'{operation} a cluster when status is "{cluster.status}" '
                            "is not supported.")


@dataclass
class Template:
    uuid: str
    name: str
    attrs: dict[str, Any]  # every ClusterTemplate API field except uuid/name

    def render(self, base_url: str) -> dict[str, Any]:
        return {"uuid": self.uuid, "name": self.name, **self.attrs,
                "links": [{"href": f"{base_url}/v1/clustertemplates/{self.uuid}", "rel": "self"}]}

    @property
    def kube_tag(self) -> str | None:
        value = (self.attrs.get("labels") or {}).get("kube_tag")
        return str(value) if value is not None else None


@dataclass
class NodeGroup:
    uuid: str
    name: str
    cluster_id: str
    role: str
    is_default: bool
    node_count: int
    flavor_id: str | None
    image_id: str | None
    docker_volume_size: int | None
    labels: dict[str, str]
    min_node_count: int = 1
    max_node_count: int | None = None
    status: str = "CREATE_IN_PROGRESS"
    status_reason: str | None = None
    version: str | None = None
    stack_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    SUMMARY = ("uuid", "name", "flavor_id", "node_count", "role", "is_default", "image_id",
               "status", "stack_id")

    def render(self, base_url: str, *, summary: bool = False) -> dict[str, Any]:
        body = {name: getattr(self, name) for name in (
            "uuid", "name", "cluster_id", "role", "is_default", "node_count", "flavor_id",
            "image_id", "docker_volume_size", "labels", "min_node_count", "max_node_count",
            "status", "status_reason", "version", "stack_id")}
        body.update(project_id=PROJECT_ID, node_addresses=[], id=abs(hash(self.uuid)) % 10**6)
        if summary:
            return {key: body[key] for key in self.SUMMARY}
        link = f"{base_url}/v1/clusters/{self.cluster_id}/nodegroups/{self.uuid}"
        return {**body, "links": [{"href": link, "rel": "self"}]}


@dataclass
class Cluster:
    uuid: str
    name: str
    cluster_template_id: str
    attrs: dict[str, Any]  # keypair, labels, flavor_id, master_flavor_id, create_timeout, …
    ca: ClusterCA
    status: str = "CREATE_IN_PROGRESS"
    status_reason: str | None = None
    api_address: str | None = None
    coe_version: str | None = None
    stack_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: str = field(default_factory=now_iso)
    updated_at: str | None = None
    nodegroups: list[NodeGroup] = field(default_factory=list)

    SUMMARY = ("uuid", "name", "cluster_template_id", "keypair", "docker_volume_size", "labels",
               "master_flavor_id", "flavor_id", "create_timeout", "node_count", "master_count",
               "status", "status_reason", "health_status", "stack_id", "project_id", "links")

    @property
    def node_count(self) -> int:  # Magnum sums the worker node groups
        return sum(ng.node_count for ng in self.nodegroups if ng.role != "master")

    @property
    def master_count(self) -> int:
        return sum(ng.node_count for ng in self.nodegroups if ng.role == "master")

    def nodegroup(self, ident: str) -> NodeGroup | None:
        return next((ng for ng in self.nodegroups if ident in (ng.uuid, ng.name)), None)

    def render(self, base_url: str, *, summary: bool = False) -> dict[str, Any]:
        healthy = self.status.endswith("_COMPLETE")
        body: dict[str, Any] = {
            "uuid": self.uuid, "name": self.name, "cluster_template_id": self.cluster_template_id,
            **self.attrs,
            "node_count": self.node_count, "master_count": self.master_count,
            "status": self.status, "status_reason": self.status_reason,
            "health_status": "HEALTHY" if healthy else "UNKNOWN", "health_status_reason": {},
            "api_address": self.api_address, "coe_version": self.coe_version,
            "container_version": "1.12.6" if self.api_address else None,
            "discovery_url": None, "stack_id": self.stack_id,
            "node_addresses": [f"10.0.0.{10 + i}" for i in range(self.node_count)]
            if self.api_address else [],
            "master_addresses": [f"10.0.0.{2 + i}" for i in range(self.master_count)]
            if self.api_address else [],
            "project_id": PROJECT_ID, "user_id": USER_ID, "faults": {},
            "created_at": self.created_at, "updated_at": self.updated_at,
            "links": [{"href": f"{base_url}/v1/clusters/{self.uuid}", "rel": "self"}],
        }
        if summary:
            return {key: body.get(key) for key in self.SUMMARY}
        return body


@dataclass
class Operation:
    ready_at: float
    complete: Callable[[], None]
    order: int


class MagnumCloud:
    """The project's Magnum resources plus the pending asynchronous operations on them."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.templates: dict[str, Template] = {}
        self.clusters: dict[str, Cluster] = {}
        self._operations: list[Operation] = []
        self._sequence = itertools.count()
        self._addresses = itertools.count(10)
        # Set by a test: the next cluster create, update or delete ends in *_FAILED with this
        # reason (as a Heat stack failure would leave it).
        self.fail_next_create: str | None = None
        self.fail_next_update: str | None = None
        self.fail_next_delete: str | None = None
        self._paused = False

    # -- asynchronous operations -------------------------------------------------------------
    def schedule(self, complete: Callable[[], None]) -> None:
        self._operations.append(Operation(time.monotonic() + self.delay, complete,
                                          next(self._sequence)))

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Hold every operation in progress, so a test can observe the intermediate status
        however slowly it runs (a loaded CI machine can take longer than ``delay``)."""
        self._paused = True
        try:
            yield
        finally:
            self._paused = False

    def advance(self) -> None:
        """Complete every operation whose delay has passed, oldest first."""
        if self._paused:
            return
        now = time.monotonic()
        due = sorted((op for op in self._operations if op.ready_at <= now),
                     key=lambda op: op.order)
        for op in due:
            self._operations.remove(op)
            op.complete()

    # -- lookups ---------------------------------------------------------------------------
    def find_cluster(self, ident: str) -> list[Cluster]:
        if ident in self.clusters:
            return [self.clusters[ident]]
        return [c for c in self.clusters.values() if c.name == ident]

    def find_template(self, ident: str) -> list[Template]:
        if ident in self.templates:
            return [self.templates[ident]]
        return [t for t in self.templates.values() if t.name == ident]

    def template_in_use(self, template: Template) -> bool:
        return any(c.cluster_template_id == template.uuid for c in self.clusters.values())

    # -- lifecycle transitions ---------------------------------------------------------------
    def start_create(self, cluster: Cluster, kube_tag: str | None) -> None:
        failure, self.fail_next_create = self.fail_next_create, None

        def complete() -> None:
            if cluster.uuid not in self.clusters or cluster.status != "CREATE_IN_PROGRESS":
                return  # deleted meanwhile
            cluster.updated_at = now_iso()
            if failure:
                cluster.status, cluster.status_reason = "CREATE_FAILED", failure
                for ng in cluster.nodegroups:
                    ng.status, ng.status_reason = "CREATE_FAILED", failure
                return
            cluster.status = "CREATE_COMPLETE"
            cluster.status_reason = "Stack CREATE completed successfully"
            cluster.api_address = f"https://172.24.4.{next(self._addresses)}:6443"
            cluster.coe_version = kube_tag
            for ng in cluster.nodegroups:
                ng.status, ng.version = "CREATE_COMPLETE", kube_tag

        self.schedule(complete)

    def start_update(self, cluster: Cluster, nodegroup: NodeGroup | None,
                     ng_status: str = "UPDATE_IN_PROGRESS",
                     finish: Callable[[], None] | None = None) -> None:
        """Cluster (and optionally one node group) go *_IN_PROGRESS, then complete."""
        cluster.status, cluster.status_reason = "UPDATE_IN_PROGRESS", None
        cluster.updated_at = now_iso()
        if nodegroup is not None:
            nodegroup.status = ng_status
        failure, self.fail_next_update = self.fail_next_update, None

        def complete() -> None:
            if cluster.uuid not in self.clusters:
                return
            if failure:
                cluster.status, cluster.status_reason = "UPDATE_FAILED", failure
                if nodegroup is not None:
                    nodegroup.status = ng_status.replace("IN_PROGRESS", "FAILED")
                    nodegroup.status_reason = failure
                return
            if finish is not None:
                finish()
            if nodegroup is not None and nodegroup in cluster.nodegroups:
                nodegroup.status = ng_status.replace("IN_PROGRESS", "COMPLETE")
            cluster.status = "UPDATE_COMPLETE"
            cluster.status_reason = "Stack UPDATE completed successfully"
            cluster.updated_at = now_iso()

        self.schedule(complete)

    def start_delete(self, cluster: Cluster) -> None:
        cluster.status, cluster.status_reason = "DELETE_IN_PROGRESS", None
        for ng in cluster.nodegroups:
            ng.status = "DELETE_IN_PROGRESS"

        failure, self.fail_next_delete = self.fail_next_delete, None

        def complete() -> None:
            if failure:
                cluster.status, cluster.status_reason = "DELETE_FAILED", failure
                for ng in cluster.nodegroups:
                    ng.status = "DELETE_FAILED"
                return
            self.clusters.pop(cluster.uuid, None)

        self.schedule(complete)

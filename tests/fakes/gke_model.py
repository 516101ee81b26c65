"""In-memory GKE for the wire fake: clusters, node pools, their managed instance groups, and
long-running operations that finish after a configurable delay.

GKE runs one operation at a time per cluster; a second mutating call while one runs fails with
400 FAILED_PRECONDITION, exactly what adapters have to cope with. Enum values are kept as names
here and encoded as numbers on the wire when the client asks for ``enum-encoding=int``.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

CLUSTER_STATUS = {"PROVISIONING": 1, "RUNNING": 2, "RECONCILING": 3, "STOPPING": 4, "ERROR": 5,
                  "DEGRADED": 6}
POOL_STATUS = {"PROVISIONING": 1, "RUNNING": 2, "RUNNING_WITH_ERROR": 3, "RECONCILING": 4,
               "STOPPING": 5, "ERROR": 6}
OPERATION_STATUS = {"PENDING": 1, "RUNNING": 2, "DONE": 3, "ABORTING": 4}
OPERATION_TYPE = {"CREATE_CLUSTER": 1, "DELETE_CLUSTER": 2, "UPGRADE_MASTER": 3,
                  "UPGRADE_NODES": 4, "UPDATE_CLUSTER": 6, "CREATE_NODE_POOL": 7,
                  "DELETE_NODE_POOL": 8, "SET_NODE_POOL_SIZE": 14}
TAINT_EFFECT = {"NO_SCHEDULE": 1, "PREFER_NO_SCHEDULE": 2, "NO_EXECUTE": 3}

# What the fake "region" offers, newest last; a request for "1.30" gets the newest 1.30 patch.
VERSIONS = ("1.28.15-gke.1020000", "1.29.10-gke.1071000", "1.30.6-gke.1125000",
            "1.31.2-gke.1518000")
SHARED_CORE_VCPUS = {"e2-micro": 2, "e2-small": 2, "e2-medium": 2}
MACHINE_TYPE = re.compile(r"^[a-z0-9]+-[a-z]+-[0-9]+$")
RESOURCE_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")
ZONE = re.compile(r"^[a-z]+-[a-z]+[0-9]+-[a-z]$")
FAKE_CA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCmZha2UtZ2tlLWNhCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K"


class RpcError(Exception):
    """A google.rpc.Status the HTTP layer renders as ``{"error": {code, message, status,
    details}}``; ``reason`` becomes the ``google.rpc.ErrorInfo`` detail GKE attaches."""

    def __init__(self, code: int, status: str, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message
        self.reason = reason or status


def enum_name(table: dict[str, int], value: Any) -> str:
    """Clients send enums as numbers (``enum-encoding=int``) or names; keep the name."""
    if isinstance(value, int):
        return next((name for name, number in table.items() if number == value), str(value))
    return str(value)


def enum_out(table: dict[str, int], name: str, numeric: bool) -> int | str:
    return table.get(name, 0) if numeric else name


def resolve_version(wanted: str) -> str:
    if wanted in ("", "-", "latest"):
        return VERSIONS[-1]
    matches = [v for v in VERSIONS if v == wanted or v.startswith((wanted + ".", wanted + "-"))]
    if not matches:
        raise RpcError(400, "INVALID_ARGUMENT", f'Version "{wanted}" is unsupported.')
    return matches[-1]


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def vcpus(machine_type: str) -> int:
    return SHARED_CORE_VCPUS.get(machine_type) or int(machine_type.rsplit("-", 1)[1])


@dataclass
class InstanceGroup:
    """The Compute Engine managed instance group GKE keeps per node pool and zone."""

    project: str
    zone: str
    name: str
    target: int
    running: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"kind": "compute#instanceGroupManager", "name": self.name, "zone": self.zone,
                "targetSize": self.target,
                "currentActions": {"none": min(self.running, self.target),
                                   "creating": max(0, self.target - self.running),
                                   "deleting": max(0, self.running - self.target)},
                "status": {"isStable": self.running == self.target}}


@dataclass
class NodePool:
    name: str
    config: dict[str, Any]
    initial_node_count: int
    autoscaling: dict[str, Any]
    management: dict[str, Any]
    version: str
    status: str
    groups: list[InstanceGroup]

    @property
    def machine_type(self) -> str:
        return str(self.config.get("machineType") or "e2-medium")

    def to_json(self, base: str, numeric: bool) -> dict[str, Any]:
        config = dict(self.config, machineType=self.machine_type, imageType="COS_CONTAINERD")
        config["taints"] = [dict(t, effect=enum_out(TAINT_EFFECT, t["effect"], numeric))
                            for t in self.config.get("taints", [])]
        return {"name": self.name, "config": config, "initialNodeCount": self.initial_node_count,
                "autoscaling": self.autoscaling, "management": self.management,
                "version": self.version, "status": enum_out(POOL_STATUS, self.status, numeric),
                "locations": [g.zone for g in self.groups],
                "instanceGroupUrls": [f"{base}/compute/v1/projects/{g.project}/zones/{g.zone}"
                                      f"/instanceGroupManagers/{g.name}" for g in self.groups]}


@dataclass
class Cluster:
    project: str
    location: str
    name: str
    settings: dict[str, Any]  # fields stored as sent: labels, networking, release channel, …
    master_version: str
    status: str = "PROVISIONING"
    status_message: str = ""
    pools: dict[str, NodePool] = field(default_factory=dict)
    created: float = field(default_factory=time.time)

    @property
    def path(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/clusters/{self.name}"

    @property
    def endpoint(self) -> str:
        digest = hashlib.sha256(self.path.encode()).digest()
        return f"34.{digest[0]}.{digest[1]}.{digest[2]}"

    def to_json(self, base: str, numeric: bool) -> dict[str, Any]:
        pools = [pool.to_json(base, numeric) for pool in self.pools.values()]
        node_versions = sorted((p.version for p in self.pools.values()), key=version_key)
        return {**self.settings, "name": self.name, "location": self.location,
                "zone": self.location, "selfLink": f"{base}/v1/{self.path}",
                "id": hashlib.sha256(self.path.encode()).hexdigest()[:32],
                "endpoint": self.endpoint, "masterAuth": {"clusterCaCertificate": FAKE_CA},
                "currentMasterVersion": self.master_version,
                "currentNodeVersion": node_versions[0] if node_versions else "",
                "currentNodeCount": sum(min(g.running, g.target) for p in self.pools.values()
                                        for g in p.groups),
                "status": enum_out(CLUSTER_STATUS, self.status, numeric),
                "statusMessage": self.status_message, "nodePools": pools,
                "createTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created))}


def minor_skip(current: str, target: str) -> bool:
    """True when ``target`` is more than one minor version above ``current``."""
    have, want = version_key(current)[:2], version_key(target)[:2]
    return want[0] != have[0] or want[1] > have[1] + 1


@dataclass
class Operation:
    name: str
    project: str
    location: str
    kind: str
    target: str
    finish_at: float
    complete: Callable[[], None]
    status: str = "PENDING"
    started: float = field(default_factory=time.time)
    error: str = ""  # statusMessage of an operation that ended in failure

    def to_json(self, base: str, numeric: bool) -> dict[str, Any]:
        path = f"projects/{self.project}/locations/{self.location}/operations/{self.name}"
        return {"name": self.name, "zone": self.location, "location": self.location,
                "operationType": enum_out(OPERATION_TYPE, self.kind, numeric),
                "status": enum_out(OPERATION_STATUS, self.status, numeric),
                "selfLink": f"{base}/v1/{path}", "targetLink": f"{base}/v1/{self.target}",
                "startTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
                **({"statusMessage": self.error, "error": {"code": 13, "message": self.error}}
                   if self.error and self.status == "DONE" else {})}


class GKEState:
    """Everything the fake cloud holds, guarded by one lock; operations advance on ``tick``."""

    def __init__(self, *, delay: float, cpu_quota: int) -> None:
        self.delay = delay
        self.cpu_quota = cpu_quota
        self.clusters: dict[str, Cluster] = {}
        self.operations: dict[str, Operation] = {}
        self.lock = threading.RLock()
        self._ids = itertools.count(1)
        # (cluster status, message) the next accepted operations end in, oldest first.
        self.failures: list[tuple[str, str]] = []
        self._paused = False

    # -- time --------------------------------------------------------------------------
    def tick(self) -> None:
        """Complete operations whose time has come; PENDING ones start running."""
        with self.lock:
            now = time.time()
            for op in self.operations.values():
                if op.status == "PENDING":
                    op.status = "RUNNING"
                if op.status == "RUNNING" and now >= op.finish_at and not self._paused:
                    op.complete()
                    op.status = "DONE"

    def fast_forward(self) -> None:
        """End every running operation now, as if ``delay`` had passed."""
        with self.lock:
            for op in self.operations.values():
                op.finish_at = 0.0
            self.tick()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Hold every operation in progress so a test can observe the intermediate state
        however slowly it runs."""
        with self.lock:
            self._paused = True
        try:
            yield
        finally:
            with self.lock:
                self._paused = False

    # -- lookups -----------------------------------------------------------------------
    def cluster(self, project: str, location: str, name: str) -> Cluster:
        found = self.clusters.get(f"projects/{project}/locations/{location}/clusters/{name}")
        if found is None:
            raise RpcError(404, "NOT_FOUND",
                           f"Not found: projects/{project}/locations/{location}/clusters/{name}.")
        return found

    def pool(self, cluster: Cluster, name: str) -> NodePool:
        if name not in cluster.pools:
            raise RpcError(404, "NOT_FOUND", f"Not found: {cluster.path}/nodePools/{name}.")
        return cluster.pools[name]

    def instance_groups(self) -> list[InstanceGroup]:
        with self.lock:
            return [g for c in self.clusters.values() for p in c.pools.values() for g in p.groups]

    # -- rules -------------------------------------------------------------------------
    def start(self, cluster: Cluster, kind: str, complete: Callable[[], None],
              target: str | None = None) -> Operation:
        """Begin an operation on ``cluster``, refusing while another one runs (GKE's rule)."""
        running = [op for op in self.operations.values()
                   if op.status != "DONE"
                   and (op.target == cluster.path or op.target.startswith(cluster.path + "/"))]
        if running:
            raise RpcError(400, "FAILED_PRECONDITION",
                           f"Cluster is running incompatible operation {running[0].name}.")
        name = f"operation-{int(time.time() * 1000)}-{next(self._ids):04d}"
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            complete = self._failing(cluster, *failure)
        op = Operation(name, cluster.project, cluster.location, kind, target or cluster.path,
                       time.time() + self.delay, complete, error=failure[1] if failure else "")
        self.operations[name] = op
        return op

    @staticmethod
    def _failing(cluster: Cluster, status: str, message: str) -> Callable[[], None]:
        """What GKE does when an accepted operation fails: the cluster lands in ERROR or
        DEGRADED with the reason in ``statusMessage`` (and its pools stop changing)."""
        def fail() -> None:
            cluster.status, cluster.status_message = status, message
            for pool in cluster.pools.values():
                if pool.status in ("PROVISIONING", "RECONCILING"):
                    pool.status = "ERROR" if status == "ERROR" else "RUNNING_WITH_ERROR"
        return fail

    def new_pool(self, cluster: Cluster, body: dict[str, Any]) -> NodePool:
        name = str(body.get("name", ""))
        if not RESOURCE_NAME.match(name):
            raise RpcError(400, "INVALID_ARGUMENT", f'Invalid node pool name "{name}".')
        config = dict(body.get("config") or {})
        machine = str(config.get("machineType") or "e2-medium")
        if machine not in SHARED_CORE_VCPUS and not MACHINE_TYPE.match(machine):
            raise RpcError(400, "INVALID_ARGUMENT",
                           f'Invalid value for field "node_pool.config.machine_type": '
                           f'"{machine}". Machine type "{machine}" does not exist.')
        config["taints"] = [dict(t, effect=enum_name(TAINT_EFFECT, t.get("effect")))
                            for t in config.get("taints", [])]
        count = int(body.get("initialNodeCount", 0))
        zones = [cluster.location] if ZONE.match(cluster.location) else \
            [f"{cluster.location}-{suffix}" for suffix in "abc"]
        suffix = hashlib.sha256(f"{cluster.path}/{name}".encode()).hexdigest()[:8]
        groups = [InstanceGroup(cluster.project, zone, f"gke-{cluster.name[:14]}-{name[:10]}-"
                                f"{suffix}-grp", count) for zone in zones]
        version = resolve_version(str(body.get("version") or cluster.master_version))
        return NodePool(name, config, count, dict(body.get("autoscaling") or {}),
                        dict(body.get("management") or {}), version, "PROVISIONING", groups)

    def check_quota(self, project: str, extra: list[tuple[NodePool, int]]) -> None:
        """Regional CPU quota over every pool in the project plus what a request adds."""
        with self.lock:
            used = sum(g.target * vcpus(p.machine_type) for c in self.clusters.values()
                       if c.project == project for p in c.pools.values() for g in p.groups)
        wanted = sum(delta * len(p.groups) * vcpus(p.machine_type) for p, delta in extra)
        if wanted > 0 and used + wanted > self.cpu_quota:
            # GKE answers quota shortfalls with 403 PERMISSION_DENIED, not RESOURCE_EXHAUSTED.
            raise RpcError(403, "PERMISSION_DENIED", reason="GCE_QUOTA_EXCEEDED", message=
                           f"Insufficient regional quota to satisfy request: resource \"CPUS\": "
                           f"request requires '{wanted}.0' and is short "
                           f"'{used + wanted - self.cpu_quota}.0'. project has a quota of "
                           f"'{self.cpu_quota}.0' with '{self.cpu_quota - used}.0' available.")

"""The AKS fake's state: managed clusters, their agent pools and ARM's long-running operations.

:class:`ArmState` owns what exists and the operations in flight; an operation keeps its target in
a transitional ``provisioningState`` (Creating, Scaling, Upgrading, Deleting, …) until
``operation_delay`` seconds have passed, and :meth:`ArmState._advance` (called on every request)
completes it: Succeeded, or Failed with the injected provisioning error.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.fakes import aks_rules as rules
from tests.fakes.server import Request, Response

READ_ONLY_POOL_FIELDS = ("provisioningState", "currentOrchestratorVersion", "powerState",
                         "nodeImageVersion")

ClusterKey = tuple[str, str]  # (resource group, cluster name), both lower-cased like ARM


@dataclass
class Operation:
    id: str
    key: ClusterKey
    pool: str | None  # None: the operation is on the managed cluster itself
    action: str  # "put" or "delete"
    state: str  # the provisioningState it shows meanwhile, e.g. "Scaling"
    location: str
    done_at: float
    failure: dict[str, str] | None = None
    status: str = "InProgress"
    # Whether the failure also shows on the resource (``properties.status.provisioningError``,
    # newer API versions) or only in the operation status, as ARM reports it for most.
    failure_on_resource: bool = True


@dataclass
class Cluster:
    id: str
    group: str
    name: str
    location: str
    tags: dict[str, str]
    props: dict[str, Any]  # managed cluster properties except agentPoolProfiles
    pools: dict[str, dict[str, Any]] = field(default_factory=dict)
    operation: Operation | None = None

    @property
    def busy(self) -> bool:
        return self.operation is not None and self.operation.status == "InProgress"


class ArmState:
    """What exists at the fake "cloud"; subclasses add the HTTP routes and the ``url``."""

    def __init__(self, *, subscription_id: str, tenant_id: str, operation_delay: float,
                 vcpu_quota: int) -> None:
        self.subscription_id, self.tenant_id = subscription_id, tenant_id
        self.operation_delay = operation_delay
        self.vcpu_quota = vcpu_quota
        self._clusters: dict[ClusterKey, Cluster] = {}
        self._operations: dict[str, Operation] = {}
        self._failures: list[tuple[dict[str, str], bool]] = []
        self._lock = threading.RLock()
        self._paused = False

    def fast_forward(self) -> None:
        """End every running operation now, as if ``operation_delay`` had passed."""
        with self._lock:
            for operation in self._operations.values():
                operation.done_at = 0.0
            self._advance()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Hold every operation in progress so a test can observe the intermediate state
        however slowly it runs."""
        with self._lock:
            self._paused = True
        try:
            yield
        finally:
            with self._lock:
                self._paused = False

    @property
    def url(self) -> str:
        raise NotImplementedError

    def _start(self, cluster: Cluster, pool: str | None, action: str,
               state: str) -> dict[str, str]:
        """Begin an operation on the cluster (or one pool); answer with its polling headers."""
        failure, on_resource = self._failures.pop(0) if self._failures else (None, True)
        operation = Operation(str(uuid.uuid4()), (cluster.group.lower(), cluster.name.lower()),
                              pool, action, state, cluster.location,
                              time.monotonic() + self.operation_delay, failure, "InProgress",
                              on_resource)
        self._operations[operation.id] = operation
        if cluster.busy and cluster.operation is not None:
            cluster.operation.status = "Canceled"  # only a DELETE may overtake an operation
        cluster.operation = operation
        return self._operation_headers(operation)

    def _operation_headers(self, operation: Operation) -> dict[str, str]:
        base = (f"{self.url}/subscriptions/{self.subscription_id}/providers/"
                f"Microsoft.ContainerService/locations/{operation.location}")
        headers = {"Azure-AsyncOperation": f"{base}/operations/{operation.id}"
                                           "?api-version=2017-08-31"}
        if operation.action == "delete":
            headers["Location"] = f"{base}/operationresults/{operation.id}?api-version=2017-08-31"
        return headers

    def _conflict(self, cluster: Cluster) -> Response | None:
        """ARM's 409 while another operation on the cluster is running."""
        if cluster.busy and cluster.operation is not None:
            return rules.operation_in_progress(cluster.name, cluster.operation.state)
        return None

    def _advance(self) -> None:
        if self._paused:
            return
        now = time.monotonic()
        for operation in self._operations.values():
            if operation.status == "InProgress" and operation.done_at <= now:
                self._complete(operation)

    def _complete(self, operation: Operation) -> None:
        cluster = self._clusters.get(operation.key)
        operation.status = "Failed" if operation.failure else "Succeeded"
        if cluster is None:
            return
        targets = [cluster.pools[operation.pool]] if operation.pool in cluster.pools else []
        if operation.pool is None:
            targets = [cluster.props, *cluster.pools.values()]
        if operation.failure:
            for target in targets:
                target["provisioningState"] = "Failed"
            if operation.failure_on_resource:
                cluster.props["status"] = {"provisioningError": operation.failure}
        elif operation.action == "delete" and operation.pool is None:
            del self._clusters[operation.key]
        elif operation.action == "delete":
            cluster.pools.pop(operation.pool or "", None)
        else:
            for target in targets:
                target["provisioningState"] = "Succeeded"
                target["powerState"] = {"code": "Running"}
            cluster.props["currentKubernetesVersion"] = rules.resolve_version(
                cluster.props["kubernetesVersion"])
            for pool in cluster.pools.values():
                pool["currentOrchestratorVersion"] = rules.resolve_version(
                    pool["orchestratorVersion"])

    def _get_operation(self, request: Request) -> Response:
        operation = self._operations.get(request.params["op"])
        if operation is None:
            return rules.arm_error(404, "NotFound", "Operation not found.")
        if request.params["kind"] == "operationresults":
            # The Location URL of a DELETE: 202 while running, 204 once the resource is gone.
            return Response(202, headers={"Location": self.url + request.path}) \
                if operation.status == "InProgress" else Response(204)
        body: dict[str, Any] = {"id": request.path, "name": operation.id,
                                "status": operation.status}
        if operation.failure and operation.status == "Failed":
            body["error"] = operation.failure
        return Response(200, body)

    def _render_cluster(self, cluster: Cluster) -> dict[str, Any]:
        props = dict(cluster.props)
        props["agentPoolProfiles"] = [{"name": name, **pool}
                                      for name, pool in cluster.pools.items()]
        return {"id": cluster.id, "name": cluster.name, "location": cluster.location,
                "type": "Microsoft.ContainerService/ManagedClusters", "tags": cluster.tags,
                "sku": {"name": "Base", "tier": "Free"},
                "identity": {"type": "SystemAssigned", "tenantId": self.tenant_id,
                             "principalId": str(uuid.uuid5(uuid.NAMESPACE_URL, cluster.id))},
                "properties": props}

    def _render_pool(self, cluster: Cluster, name: str) -> dict[str, Any]:
        return {"id": f"{cluster.id}/agentPools/{name}", "name": name,
                "type": "Microsoft.ContainerService/managedClusters/agentPools",
                "properties": cluster.pools[name]}

    def _cores(self, pools: Iterable[dict[str, Any]]) -> int:
        return sum(rules.vcpus(pool.get("vmSize", "")) * pool.get("count", 1) for pool in pools)

    def _quota_check(self, name: str, group: str, location: str, removed: int,
                     added: int) -> Response | None:
        usage = sum(self._cores(c.pools.values()) for c in self._clusters.values())
        if added > removed and usage - removed + added > self.vcpu_quota:
            return rules.quota_exceeded(name, group, location, self.vcpu_quota, usage,
                                        added - removed)
        return None

    def _pool_from_request(self, props: dict[str, Any], cluster_version: str,
                           mode: str) -> dict[str, Any]:
        pool = {key: value for key, value in props.items()
                if key not in READ_ONLY_POOL_FIELDS and key != "name"}
        pool.setdefault("count", 1)
        pool.setdefault("osDiskSizeGB", 128)
        pool.setdefault("osType", "Linux")
        pool.setdefault("type", "VirtualMachineScaleSets")
        pool.setdefault("mode", mode)
        pool.setdefault("orchestratorVersion", cluster_version)
        pool["nodeImageVersion"] = "AKSUbuntu-2204gen2containerd-202501.12.0"
        return pool

"""A wire-level fake of the GKE v1 REST API (and the bits of Compute Engine GKE exposes), good
enough for the real ``google-cloud-container`` client with the REST transport.

Served: ``projects/*/locations/*/clusters`` (create, get, list, delete, ``:updateMaster``),
``…/nodePools`` (create, get, update version, delete, ``:setSize``, ``:setAutoscaling``),
``…/operations`` (get, list), the managed instance groups behind node pools (``compute/v1/
projects/*/zones/*/instanceGroupManagers/*``, where node counts live) and an OAuth token endpoint
(``/token``) for service-account keys. Mutations return operations that are PENDING, then
RUNNING, and DONE after ``delay`` seconds; meanwhile the cluster is PROVISIONING/RECONCILING/
STOPPING and node pools likewise. Errors are google.rpc-style bodies. Tests inject faults with
:meth:`FakeGKE.fail_next` and inspect :attr:`FakeGKE.state` / the request log.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from tests.fakes.gke_auth import UNAUTHENTICATED, FakeGoogleAuth
from tests.fakes.gke_model import (
    RESOURCE_NAME,
    VERSIONS,
    Cluster,
    GKEState,
    InstanceGroup,
    NodePool,
    RpcError,
    minor_skip,
    resolve_version,
    version_key,
)
from tests.fakes.server import FakeServer, Request, Response

LOCATION = r"/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
CLUSTER = LOCATION + r"/clusters/(?P<cluster>[^/:]+)"
POOL = CLUSTER + r"/nodePools/(?P<pool>[^/:]+)"
DEFAULT_VERSION = VERSIONS[-2]
IGM = (r"/compute/v1/projects/(?P<project>[^/]+)/zones/(?P<zone>[^/]+)"
       r"/instanceGroupManagers/(?P<name>[^/]+)")


def rpc_body(code: int, status: str, message: str, reason: str | None = None) -> dict[str, Any]:
    """A google.rpc.Status as GKE sends it: with ``details`` (an ErrorInfo naming the reason
    and a RequestInfo), which clients must tolerate and may use to classify."""
    return {"error": {"code": code, "message": message, "status": status, "details": [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason or status,
         "domain": "container.googleapis.com"},
        {"@type": "type.googleapis.com/google.rpc.RequestInfo",
         "requestId": "0x" + format(abs(hash((code, message))) % 16**16, "016x")}]}}


class FakeGKE:
    def __init__(self, *, delay: float = 0.2, cpu_quota: int = 96) -> None:
        self.server = FakeServer()
        self.state = GKEState(delay=delay, cpu_quota=cpu_quota)
        # False: Compute Engine refuses instance group reads (credentials with GKE roles only).
        self.compute_reads = True
        self.auth = FakeGoogleAuth()
        self.access_token = self.auth.issue_token(ttl=86400)
        self._register()

    # -- lifecycle and test helpers ------------------------------------------------------
    def start(self) -> str:
        return self.server.start()

    def stop(self) -> None:
        # FakeServer's loop checks for shutdown only every 0.5 s unless a connection wakes it;
        # knocking until it has stopped keeps each test's teardown short.
        address = ("127.0.0.1", int(self.url.rsplit(":", 1)[1]))
        stopper = threading.Thread(target=self.server.stop)
        stopper.start()
        while stopper.is_alive():
            with contextlib.suppress(OSError):
                socket.create_connection(address, timeout=0.1).close()
            stopper.join(0.01)

    @property
    def url(self) -> str:
        return self.server.url

    def fail_next(self, code: int, status: str, message: str, *, count: int = 1,
                  headers: dict[str, str] | None = None, method: str | None = None,
                  path: str | None = None, reason: str | None = None) -> None:
        self.server.fail_next(count, status=code, body=rpc_body(code, status, message, reason),
                              headers=headers, method=method, path=path)

    def fail_next_operation(self, message: str, *, status: str = "ERROR") -> None:
        """Accept the next mutating call, then let its operation end with the cluster in
        ``status`` (ERROR or DEGRADED) and ``message`` as its statusMessage."""
        with self.state.lock:
            self.state.failures.append((status, message))

    def fast_forward(self) -> None:
        """End every running operation now."""
        self.state.fast_forward()

    def paused(self) -> AbstractContextManager[None]:
        """Hold operations in progress for the duration of the block."""
        return self.state.paused()

    def cluster(self, name: str) -> Cluster | None:
        with self.state.lock:
            return next((c for c in self.state.clusters.values() if c.name == name), None)

    def instance_groups(self) -> list[InstanceGroup]:
        return self.state.instance_groups()

    def count(self, method: str, pattern: str) -> int:
        return self.server.count(method, pattern)

    def create_requests(self) -> Counter[str]:
        """clusters.create calls that reached the fake, per cluster name (refused ones too)."""
        return self.server.tally("POST", r"/clusters$", _created_name)

    # -- plumbing ------------------------------------------------------------------------
    def _api(self, method: str, pattern: str,
             handler: Callable[[Request, bool], dict[str, Any]]) -> None:
        """Authenticate, advance operations, run ``handler`` and render RpcErrors."""
        def serve(request: Request) -> Response:
            if not self.auth.authorized(request):
                return Response(401, rpc_body(401, "UNAUTHENTICATED", UNAUTHENTICATED),
                                {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'})
            numeric = "enum-encoding=int" in ",".join(request.query.get("$alt", []))
            with self.state.lock:
                self.state.tick()
                try:
                    return Response(200, handler(request, numeric))
                except RpcError as error:
                    return Response(error.code, rpc_body(error.code, error.status, error.message,
                                                         error.reason))
        self.server.route(method, pattern)(serve)

    def _register(self) -> None:
        self._api("GET", LOCATION + r"/clusters", self._list_clusters)
        self._api("POST", LOCATION + r"/clusters", self._create_cluster)
        self._api("GET", CLUSTER, self._get_cluster)
        self._api("DELETE", CLUSTER, self._delete_cluster)
        self._api("POST", CLUSTER + r":updateMaster", self._update_master)
        self._api("POST", CLUSTER + r"/nodePools", self._create_pool)
        self._api("GET", POOL, self._get_pool)
        self._api("PUT", POOL, self._update_pool)
        self._api("DELETE", POOL, self._delete_pool)
        self._api("POST", POOL + r":setSize", self._set_size)
        self._api("POST", POOL + r":setAutoscaling", self._set_autoscaling)
        self._api("GET", LOCATION + r"/operations/(?P<operation>[^/:]+)", self._get_operation)
        self._api("GET", LOCATION + r"/operations", self._list_operations)
        self._api("GET", IGM, self._get_instance_group)
        self._api("GET", LOCATION + r"/serverConfig", self._server_config)
        self.server.route("POST", r"/token")(self.auth.token_endpoint)

    def _cluster_of(self, request: Request) -> Cluster:
        p = request.params
        return self.state.cluster(p["project"], p["location"], p["cluster"])

    def _pool_of(self, request: Request) -> tuple[Cluster, NodePool]:
        cluster = self._cluster_of(request)
        return cluster, self.state.pool(cluster, request.params["pool"])

    def _operation(self, cluster: Cluster, kind: str, complete: Callable[[], None],
                   numeric: bool, target: str | None = None) -> dict[str, Any]:
        return self.state.start(cluster, kind, complete, target).to_json(self.url, numeric)

    # -- clusters ------------------------------------------------------------------------
    def _list_clusters(self, request: Request, numeric: bool) -> dict[str, Any]:
        p = request.params
        return {"clusters": [c.to_json(self.url, numeric) for c in self.state.clusters.values()
                             if (c.project, c.location) == (p["project"], p["location"])]}

    def _get_cluster(self, request: Request, numeric: bool) -> dict[str, Any]:
        return self._cluster_of(request).to_json(self.url, numeric)

    def _create_cluster(self, request: Request, numeric: bool) -> dict[str, Any]:
        p = request.params
        spec = dict((request.json() or {}).get("cluster") or {})
        name = str(spec.pop("name", ""))
        if not RESOURCE_NAME.match(name):
            raise RpcError(400, "INVALID_ARGUMENT", f'Invalid cluster name "{name}".')
        path = f"projects/{p['project']}/locations/{p['location']}/clusters/{name}"
        if path in self.state.clusters:
            raise RpcError(409, "ALREADY_EXISTS", f"Already exists: {path}.")
        pool_specs = spec.pop("nodePools", None) or []
        if not pool_specs:
            raise RpcError(400, "INVALID_ARGUMENT", "Cluster must have at least one node pool.")
        version = resolve_version(str(spec.get("initialClusterVersion") or DEFAULT_VERSION))
        cluster = Cluster(p["project"], p["location"], name, spec, version)
        pools = [self.state.new_pool(cluster, pool_spec) for pool_spec in pool_specs]
        if len({pool.name for pool in pools}) != len(pools):
            raise RpcError(400, "INVALID_ARGUMENT", "Node pool names must be unique.")
        self.state.check_quota(cluster.project, [(pool, pool.initial_node_count)
                                                 for pool in pools])

        def complete() -> None:
            cluster.status = "RUNNING"
            for pool in pools:
                pool.status = "RUNNING"
                for group in pool.groups:
                    group.running = group.target

        op = self._operation(cluster, "CREATE_CLUSTER", complete, numeric)
        cluster.pools = {pool.name: pool for pool in pools}
        self.state.clusters[path] = cluster
        return op

    def _delete_cluster(self, request: Request, numeric: bool) -> dict[str, Any]:
        cluster = self._cluster_of(request)

        def complete() -> None:
            self.state.clusters.pop(cluster.path, None)

        op = self._operation(cluster, "DELETE_CLUSTER", complete, numeric)
        cluster.status = "STOPPING"
        for pool in cluster.pools.values():
            pool.status = "STOPPING"
        return op

    def _update_master(self, request: Request, numeric: bool) -> dict[str, Any]:
        cluster = self._cluster_of(request)
        version = resolve_version(str((request.json() or {}).get("masterVersion") or ""))
        if version_key(version) < version_key(cluster.master_version):
            raise RpcError(400, "INVALID_ARGUMENT",
                           f"Master cannot be downgraded from {cluster.master_version} "
                           f"to {version}.")
        if minor_skip(cluster.master_version, version):
            # GKE control planes move one minor version per upgrade.
            raise RpcError(400, "INVALID_ARGUMENT",
                           f'Master cannot be upgraded from "{cluster.master_version}" to '
                           f'"{version}": upgrade one minor version at a time.')

        def complete() -> None:
            cluster.master_version, cluster.status = version, "RUNNING"

        op = self._operation(cluster, "UPGRADE_MASTER", complete, numeric)
        cluster.status = "RECONCILING"
        return op

    # -- node pools ----------------------------------------------------------------------
    def _get_pool(self, request: Request, numeric: bool) -> dict[str, Any]:
        return self._pool_of(request)[1].to_json(self.url, numeric)

    def _create_pool(self, request: Request, numeric: bool) -> dict[str, Any]:
        cluster = self._cluster_of(request)
        pool = self.state.new_pool(cluster, (request.json() or {}).get("nodePool") or {})
        if pool.name in cluster.pools:
            raise RpcError(409, "ALREADY_EXISTS", f"Already exists: {cluster.path}/nodePools/"
                                                  f"{pool.name}.")
        if version_key(pool.version) > version_key(cluster.master_version):
            raise RpcError(400, "INVALID_ARGUMENT", "Node version cannot be newer than master.")
        self.state.check_quota(cluster.project, [(pool, pool.initial_node_count)])

        def complete() -> None:
            pool.status = "RUNNING"
            for group in pool.groups:
                group.running = group.target

        op = self._operation(cluster, "CREATE_NODE_POOL", complete, numeric,
                             f"{cluster.path}/nodePools/{pool.name}")
        cluster.pools[pool.name] = pool
        return op

    def _delete_pool(self, request: Request, numeric: bool) -> dict[str, Any]:
        cluster, pool = self._pool_of(request)

        def complete() -> None:
            cluster.pools.pop(pool.name, None)

        op = self._operation(cluster, "DELETE_NODE_POOL", complete, numeric,
                             f"{cluster.path}/nodePools/{pool.name}")
        pool.status = "STOPPING"
        return op

    def _set_size(self, request: Request, numeric: bool) -> dict[str, Any]:
        cluster, pool = self._pool_of(request)
        size = int((request.json() or {}).get("nodeCount", 0))  # proto JSON omits zero
        if size < 0:
            raise RpcError(400, "INVALID_ARGUMENT", "node_count must be >= 0.")
        self.state.check_quota(cluster.project, [(pool, size - pool.groups[0].target)])

        def complete() -> None:
            pool.status = "RUNNING"
            for group in pool.groups:
                group.running = group.target

        op = self._operation(cluster, "SET_NODE_POOL_SIZE", complete, numeric,
                             f"{cluster.path}/nodePools/{pool.name}")
        pool.status = "RECONCILING"
        for group in pool.groups:
            group.target = size
        return op

    def _set_autoscaling(self, request: Request, numeric: bool) -> dict[str, Any]:
        cluster, pool = self._pool_of(request)
        autoscaling = dict((request.json() or {}).get("autoscaling") or {})
        low = int(autoscaling.get("minNodeCount", 0))
        high = int(autoscaling.get("maxNodeCount", 0))
        if (autoscaling.get("enabled") and not 0 <= low <= high) or high > 1000:
            raise RpcError(400, "INVALID_ARGUMENT", "Autoscaling requires "
                           "0 <= min_node_count <= max_node_count <= 1000.")

        def complete() -> None:
            # The cluster autoscaler brings each zone inside the new bounds right away.
            pool.autoscaling, pool.status = autoscaling, "RUNNING"
            for group in pool.groups:
                if autoscaling.get("enabled"):
                    group.target = min(max(group.target, low), high)
                group.running = group.target

        op = self._operation(cluster, "UPDATE_CLUSTER", complete, numeric,
                             f"{cluster.path}/nodePools/{pool.name}")
        pool.status = "RECONCILING"
        return op

    def _update_pool(self, request: Request, numeric: bool) -> dict[str, Any]:
        cluster, pool = self._pool_of(request)
        version = resolve_version(str((request.json() or {}).get("nodeVersion") or "-"))
        if version_key(version) > version_key(cluster.master_version):
            raise RpcError(400, "INVALID_ARGUMENT",
                           f"Node version {version} cannot be newer than the master version "
                           f"{cluster.master_version}.")

        def complete() -> None:
            pool.version, pool.status = version, "RUNNING"

        op = self._operation(cluster, "UPGRADE_NODES", complete, numeric,
                             f"{cluster.path}/nodePools/{pool.name}")
        pool.status = "RECONCILING"
        return op

    # -- operations and instance groups ---------------------------------------------------
    def _get_operation(self, request: Request, numeric: bool) -> dict[str, Any]:
        op = self.state.operations.get(request.params["operation"])
        if op is None:
            raise RpcError(404, "NOT_FOUND", f"Not found: operation {request.params['operation']}.")
        return op.to_json(self.url, numeric)

    def _list_operations(self, request: Request, numeric: bool) -> dict[str, Any]:
        p = request.params
        return {"operations": [op.to_json(self.url, numeric)
                               for op in self.state.operations.values()
                               if (op.project, op.location) == (p["project"], p["location"])]}

    def _server_config(self, request: Request, numeric: bool) -> dict[str, Any]:
        # Like GKE, the default is not the newest release: it is the one new clusters get
        # when no version is asked for.
        return {"defaultClusterVersion": DEFAULT_VERSION,
                "validMasterVersions": list(reversed(VERSIONS)),
                "validNodeVersions": list(reversed(VERSIONS))}

    def _get_instance_group(self, request: Request, numeric: bool) -> dict[str, Any]:
        p = request.params
        if not self.compute_reads:
            raise RpcError(403, "PERMISSION_DENIED",
                           f"Required 'compute.instanceGroupManagers.get' permission for "
                           f"'projects/{p['project']}/zones/{p['zone']}/instanceGroupManagers/"
                           f"{p['name']}'", reason="IAM_PERMISSION_DENIED")
        for group in self.state.instance_groups():
            if (group.project, group.zone, group.name) == (p["project"], p["zone"], p["name"]):
                return group.to_json()
        raise RpcError(404, "NOT_FOUND", f"The resource 'projects/{p['project']}/zones/"
                                         f"{p['zone']}/instanceGroupManagers/{p['name']}' "
                                         f"was not found")


def _created_name(request: Request) -> str:
    """The cluster name a clusters.create request asks for (the body may name it in
    ``cluster.name``; a body without one is counted under "?")."""
    body = request.json()
    cluster = body.get("cluster") if isinstance(body, dict) else None
    return str(cluster.get("name")) if isinstance(cluster, dict) else "?"

"""A fake Amazon EKS endpoint for driving the real boto3 client: moto behind a smarter proxy.

moto's server speaks the EKS REST API, but everything it creates is ACTIVE at once, deletes
are instant, it knows no version upgrades and it accepts any credentials. The proxy in front
of it (a :class:`~tests.fakes.server.FakeServer`) forwards every request to moto and adds:

* asynchronous lifecycles: clusters and node groups report CREATING / UPDATING / DELETING for
  ``delay`` seconds (:meth:`FakeEKS.fast_forward` ends them at once); a deleted resource stays
  visible as DELETING until then, and only then is it deleted at moto;
* EKS's refusals: no node groups before the cluster is ACTIVE, no cluster deletion while node
  groups exist (moto), no change to a resource in transition (409 ResourceInUseException);
* UpdateClusterVersion, ListUpdates and DescribeUpdate, one minor version at a time;
* validation: supported Kubernetes versions, instance types shaped ``family.size``, scaling
  bounds, cluster and node-group quotas (ResourceLimitExceededException);
* SigV4 checking against :attr:`FakeEKS.credentials` (403 UnrecognizedClientException for an
  unknown key, InvalidSignatureException for a wrong secret);
* fault injection: :meth:`FakeEKS.throttle_next` (429 + Retry-After), :meth:`fail_next` (5xx);
* inspection of what exists "at AWS" that bypasses faults and the request log.

Other AWS APIs (STS, EC2 for default subnets, ...) pass through to moto unchanged.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.eks_wire import MotoBackend, aws_error, check_signature, parse_authorization
from tests.fakes.server import FakeServer, Request, Response

DEFAULT_REGION = "us-east-1"
SUPPORTED_VERSIONS = ("1.28", "1.29", "1.30", "1.31", "1.32", "1.33")
DEFAULT_VERSION = "1.31"  # what CreateCluster without a version gets
INSTANCE_TYPE = re.compile(
    r"^[a-z][a-z0-9-]*\.(nano|micro|small|medium|large|xlarge|\d+xlarge|metal(-\d+xl)?)$")
_CLUSTER = r"/clusters/(?P<name>[^/]+)"
_NODEGROUP = _CLUSTER + r"/node-groups/(?P<ng>[^/]+)"
Key = tuple[str, ...]


@dataclass
class _Transition:
    status: str
    until: float
    then: Callable[[], object] | None = None  # runs when the transition ends


@dataclass
class _Update:
    id: str
    type: str
    params: list[dict[str, str]]
    until: float
    cluster: str
    nodegroup: str | None = None
    created: float = field(default_factory=time.time)

    def body(self) -> dict[str, Any]:
        status = "InProgress" if time.monotonic() < self.until else "Successful"
        return {"id": self.id, "status": status, "type": self.type, "params": self.params,
                "createdAt": self.created, "errors": []}


def _scaling_problem(scaling: Mapping[str, int]) -> str | None:
    low, want, high = (scaling.get(k, 0) for k in ("minSize", "desiredSize", "maxSize"))
    if high < 1:
        return "Maximum capacity must be at least 1"
    if not low <= want <= high:
        return f"Desired capacity {want} must lie between minimum {low} and maximum {high}"
    return None


def _no_cluster(name: str) -> Response:
    return aws_error(404, "ResourceNotFoundException", f"No cluster found for name: {name}.")


def _minor_after(version: str) -> str:
    major, minor = version.split(".")[:2]
    return f"{major}.{int(minor) + 1}"


def _json_body(response: Response) -> Any:
    return json.loads(response.body) if isinstance(response.body, bytes) else response.body


class FakeEKS:
    """The fake endpoint. ``credentials`` maps access key id → secret access key."""

    def __init__(self, moto: MotoBackend | None = None, *,
                 credentials: Mapping[str, str] | None = None, delay: float = 0.2,
                 cluster_limit: int = 100, nodegroup_limit: int = 30) -> None:
        self.server = FakeServer()
        self.moto = moto or MotoBackend()
        self._own_moto = moto is None
        self.credentials = dict(credentials or {"AKIAFAKEEKSKEY000001": "fake-eks-secret"})
        self.delay = delay
        self.cluster_limit = cluster_limit
        self.nodegroup_limit = nodegroup_limit
        self._lock = threading.RLock()
        self._transitions: dict[Key, _Transition] = {}
        self._versions: dict[Key, str] = {}  # control-plane versions after an upgrade
        self._updates: dict[str, _Update] = {}
        # Health issues (code, message) the next accepted cluster creates end FAILED with,
        # and those of clusters that did.
        self._create_failures: list[tuple[str, str]] = []
        self._failed: dict[Key, tuple[str, str]] = {}
        self._register_routes()

    # -- lifecycle and test controls -------------------------------------------------------
    def start(self) -> str:
        if self._own_moto:
            self.moto.start()
        self.moto.reset()
        return self.server.start()  # FakeServer disables Nagle's algorithm itself

    def stop(self) -> None:
        self.server.stop()
        if self._own_moto:
            self.moto.stop()

    @property
    def url(self) -> str:
        return self.server.url

    def count(self, method: str, pattern: str) -> int:
        """Requests that reached the fake (faulted ones excluded), e.g. ("POST", "^/clusters$")."""
        return self.server.count(method, pattern)

    def create_requests(self) -> Counter[str]:
        """CreateCluster calls that reached the fake, per cluster name (refused ones too)."""
        return self.server.tally("POST", r"^/clusters$", lambda r: str(r.json()["name"]))

    def throttle_next(self, count: int = 1, *, retry_after: int = 7, method: str | None = None,
                      path: str | None = None) -> None:
        self.server.fail_next(count, status=429, body={"message": "Rate exceeded"},
                              headers={"x-amzn-ErrorType": "ThrottlingException",
                                       "Retry-After": str(retry_after)},
                              method=method, path=path)

    def fail_next(self, count: int = 1, *, status: int = 500, method: str | None = None,
                  path: str | None = None) -> None:
        code = "ServiceUnavailableException" if status == 503 else "ServerException"
        self.server.fail_next(count, status=status, body={"message": f"{code} (injected)"},
                              headers={"x-amzn-ErrorType": code}, method=method, path=path)

    def fail_next_create(self, code: str, message: str) -> None:
        """Accept the next CreateCluster, then let the cluster end up FAILED (after ``delay``)
        with this health issue, as EKS does when e.g. its role or subnets turn out unusable."""
        with self._lock:
            self._create_failures.append((code, message))

    def fast_forward(self) -> None:
        """End every transition and update now, as if ``delay`` had passed."""
        with self._lock:
            for transition in self._transitions.values():
                transition.until = 0.0
            for update in self._updates.values():
                update.until = 0.0
            self._settle()

    # -- inspection: what exists at "AWS", bypassing faults and the request log -------------
    def cluster(self, name: str, region: str = DEFAULT_REGION) -> dict[str, Any] | None:
        with self._lock:
            self._settle()
            status, found = self.moto.eks("GET", f"/clusters/{name}", region)
            return self._show_cluster(region, found["cluster"]) if status == 200 else None

    def node_group(self, cluster: str, name: str,
                   region: str = DEFAULT_REGION) -> dict[str, Any] | None:
        with self._lock:
            self._settle()
            status, found = self.moto.eks("GET", f"/clusters/{cluster}/node-groups/{name}",
                                          region)
            return self._show_nodegroup(region, found["nodegroup"]) if status == 200 else None

    def cluster_names(self, region: str = DEFAULT_REGION) -> list[str]:
        with self._lock:
            self._settle()
            return list(self.moto.eks("GET", "/clusters", region)[1]["clusters"])

    def node_group_names(self, cluster: str, region: str = DEFAULT_REGION) -> list[str]:
        with self._lock:
            self._settle()
            status, found = self.moto.eks("GET", f"/clusters/{cluster}/node-groups", region)
            return list(found["nodegroups"]) if status == 200 else []

    # -- state -----------------------------------------------------------------------------
    def _begin(self, key: Key, status: str, then: Callable[[], object] | None = None) -> None:
        self._transitions[key] = _Transition(status, time.monotonic() + self.delay, then)

    def _settle(self) -> None:
        now = time.monotonic()
        for key, transition in list(self._transitions.items()):
            if transition.until <= now:
                del self._transitions[key]
                if transition.then is not None:
                    transition.then()

    def _show_cluster(self, region: str, cluster: dict[str, Any]) -> dict[str, Any]:
        name = cluster["name"]
        cluster["version"] = self._versions.get((region, name), cluster.get("version"))
        transition = self._transitions.get(("cluster", region, name))
        failure = self._failed.get((region, name))
        if failure is not None:
            cluster["status"] = "FAILED"
            cluster["health"] = {"issues": [{"code": failure[0], "message": failure[1],
                                             "resourceIds": [name]}]}
        if transition is not None:
            cluster["status"] = transition.status
        if cluster["status"] == "CREATING":  # EKS publishes endpoint and CA once ACTIVE
            cluster.pop("endpoint", None)
            cluster.pop("certificateAuthority", None)
        return cluster

    def _show_nodegroup(self, region: str, group: dict[str, Any]) -> dict[str, Any]:
        key = ("nodegroup", region, group["clusterName"], group["nodegroupName"])
        if key in self._transitions:
            group["status"] = self._transitions[key].status
        return group

    def _busy(self, key: Key, what: str) -> Response | None:
        transition = self._transitions.get(key)
        if transition is None:
            return None
        return aws_error(409, "ResourceInUseException",
                         f"{what} is currently {transition.status} and cannot be changed")

    # -- routing ---------------------------------------------------------------------------
    def _on(self, method: str, pattern: str,
            handler: Callable[[Request, str], Response]) -> None:
        def guarded(request: Request) -> Response:
            denied = check_signature(request, self.credentials)
            if denied is not None:
                return denied
            auth = parse_authorization(request.headers["authorization"]) or {}
            with self._lock:
                self._settle()
                return handler(request, auth.get("region", DEFAULT_REGION))
        self.server.route(method, pattern)(guarded)

    def _register_routes(self) -> None:
        self._on("POST", "/clusters", self._create_cluster)
        self._on("GET", _CLUSTER, self._describe_cluster)
        self._on("DELETE", _CLUSTER, self._delete_cluster)
        self._on("POST", _CLUSTER + "/node-groups", self._create_nodegroup)
        self._on("GET", _CLUSTER + "/node-groups", self._list_nodegroups)
        self._on("GET", _NODEGROUP, self._describe_nodegroup)
        self._on("DELETE", _NODEGROUP, self._delete_nodegroup)
        self._on("POST", _NODEGROUP + "/update-config", self._update_nodegroup_config)
        self._on("POST", _CLUSTER + "/updates", self._update_cluster_version)
        self._on("GET", _CLUSTER + "/updates", self._list_updates)
        self._on("GET", _CLUSTER + "/updates/(?P<id>[^/]+)", self._describe_update)
        self._on("GET", "/cluster-versions", self._describe_cluster_versions)
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"):
            self._on(method, "/.*", lambda request, _region: self.moto.forward(request))

    # -- clusters --------------------------------------------------------------------------
    def _create_cluster(self, request: Request, region: str) -> Response:
        body = request.json() or {}
        name, version = body.get("name", ""), body.get("version")
        if version is not None and version not in SUPPORTED_VERSIONS:
            return aws_error(400, "InvalidParameterException",
                             f"unsupported Kubernetes version {version}")
        if len((body.get("resourcesVpcConfig") or {}).get("subnetIds") or []) < 2:
            return aws_error(400, "InvalidParameterException",
                             "Subnets specified must be in at least two different AZs")
        existing = self.moto.eks("GET", "/clusters", region)[1]["clusters"]
        if name not in existing and len(existing) >= self.cluster_limit:
            return aws_error(400, "ResourceLimitExceededException",
                             f"Cannot create cluster {name}: account already has the maximum "
                             f"of {self.cluster_limit} clusters in {region}")
        response = self.moto.forward(request)
        if response.status == 200:
            failure = self._create_failures.pop(0) if self._create_failures else None
            self._begin(("cluster", region, name), "CREATING", then=None if failure is None
                        else lambda: self._failed.__setitem__((region, name), failure))
            created = _json_body(response)
            response.body = {"cluster": self._show_cluster(region, created["cluster"])}
        return response

    def _describe_cluster(self, request: Request, region: str) -> Response:
        response = self.moto.forward(request)
        if response.status == 200:
            response.body = {"cluster": self._show_cluster(region,
                                                           _json_body(response)["cluster"])}
        return response

    def _delete_cluster(self, request: Request, region: str) -> Response:
        name = request.params["name"]
        status, found = self.moto.eks("GET", f"/clusters/{name}", region)
        if status != 200:
            return self.moto.forward(request)  # moto's own ResourceNotFoundException
        busy = self._busy(("cluster", region, name), f"Cluster {name}")
        if busy is not None:
            return busy
        if self.moto.eks("GET", f"/clusters/{name}/node-groups", region)[1]["nodegroups"]:
            return aws_error(409, "ResourceInUseException", "Cluster has nodegroups attached")

        def finish() -> None:
            self.moto.eks("DELETE", f"/clusters/{name}", region)
            self._versions.pop((region, name), None)
            self._failed.pop((region, name), None)

        self._begin(("cluster", region, name), "DELETING", then=finish)
        return Response(200, {"cluster": self._show_cluster(region, found["cluster"])})

    def _update_cluster_version(self, request: Request, region: str) -> Response:
        name = request.params["name"]
        status, found = self.moto.eks("GET", f"/clusters/{name}", region)
        if status != 200:
            return _no_cluster(name)
        busy = self._busy(("cluster", region, name), f"Cluster {name}")
        if busy is not None:
            return busy
        current = self._show_cluster(region, found["cluster"])["version"]
        target = (request.json() or {}).get("version", "")
        if target not in SUPPORTED_VERSIONS or target != _minor_after(current):
            return aws_error(400, "InvalidParameterException",
                             f"Unsupported Kubernetes minor version update from {current} to "
                             f"{target}")
        update = _Update(str(uuid.uuid4()), "VersionUpdate",
                         [{"type": "Version", "value": target},
                          {"type": "PlatformVersion", "value": "eks.1"}],
                         time.monotonic() + self.delay, name)
        self._updates[update.id] = update
        self._begin(("cluster", region, name), "UPDATING",
                    then=lambda: self._versions.__setitem__((region, name), target))
        return Response(200, {"update": update.body()})

    def _list_updates(self, request: Request, region: str) -> Response:
        name = request.params["name"]
        if self.moto.eks("GET", f"/clusters/{name}", region)[0] != 200:
            return _no_cluster(name)
        group = next(iter(request.query.get("nodegroupName", [])), None)
        ids = [u.id for u in self._updates.values() if u.cluster == name and u.nodegroup == group]
        return Response(200, {"updateIds": ids})

    def _describe_update(self, request: Request, region: str) -> Response:
        update = self._updates.get(request.params["id"])
        if update is None or update.cluster != request.params["name"]:
            return aws_error(404, "ResourceNotFoundException",
                             f"No update found for ID: {request.params['id']}")
        return Response(200, {"update": update.body()})

    def _describe_cluster_versions(self, request: Request, region: str) -> Response:
        """DescribeClusterVersions: every supported minor; ``defaultOnly`` gives the one new
        clusters get when CreateCluster names no version."""
        default_only = request.query.get("defaultOnly", ["false"])[0] == "true"
        versions = [{"clusterVersion": v, "clusterType": "eks", "defaultPlatformVersion": "eks.1",
                     "defaultVersion": v == DEFAULT_VERSION, "status": "STANDARD_SUPPORT",
                     "versionStatus": "STANDARD_SUPPORT"}
                    for v in reversed(SUPPORTED_VERSIONS)
                    if not default_only or v == DEFAULT_VERSION]
        return Response(200, {"clusterVersions": versions})

    # -- node groups -----------------------------------------------------------------------
    def _create_nodegroup(self, request: Request, region: str) -> Response:
        name, body = request.params["name"], request.json() or {}
        group = body.get("nodegroupName", "")
        status, found = self.moto.eks("GET", f"/clusters/{name}", region)
        existing = self.moto.eks("GET", f"/clusters/{name}/node-groups", region)[1]
        if status != 200 or group in (existing or {}).get("nodegroups", []):
            return self.moto.forward(request)  # moto answers "not found" / "already exists"
        cluster = self._show_cluster(region, found["cluster"])
        if cluster["status"] != "ACTIVE":
            return aws_error(400, "InvalidRequestException",
                             f"Cluster '{name}' is not in ACTIVE status")
        unknown = [t for t in body.get("instanceTypes") or [] if not INSTANCE_TYPE.match(t)]
        if unknown:
            return aws_error(400, "InvalidParameterException",
                             f"The following supplied instance types do not exist: {unknown}")
        problem = _scaling_problem(body.get("scalingConfig") or {})
        if problem:
            return aws_error(400, "InvalidParameterException", problem)
        if len(existing["nodegroups"]) >= self.nodegroup_limit:
            return aws_error(400, "ResourceLimitExceededException",
                             f"Cannot create node group {group}: cluster {name} already has "
                             f"the maximum of {self.nodegroup_limit} node groups")
        body.setdefault("version", cluster["version"])  # EKS defaults to the cluster's version
        response = self.moto.forward(request, body=json.dumps(body).encode())
        if response.status == 200:
            self._begin(("nodegroup", region, name, group), "CREATING")
            created = _json_body(response)["nodegroup"]
            response.body = {"nodegroup": self._show_nodegroup(region, created)}
        return response

    def _list_nodegroups(self, request: Request, region: str) -> Response:
        name = request.params["name"]
        if self.moto.eks("GET", f"/clusters/{name}", region)[0] != 200:  # moto would crash
            return _no_cluster(name)
        return self.moto.forward(request)

    def _describe_nodegroup(self, request: Request, region: str) -> Response:
        response = self.moto.forward(request)
        if response.status == 200:
            group = _json_body(response)["nodegroup"]
            response.body = {"nodegroup": self._show_nodegroup(region, group)}
        return response

    def _delete_nodegroup(self, request: Request, region: str) -> Response:
        name, group = request.params["name"], request.params["ng"]
        path = f"/clusters/{name}/node-groups/{group}"
        status, found = self.moto.eks("GET", path, region)
        if status != 200:
            return self.moto.forward(request)
        key = ("nodegroup", region, name, group)
        busy = self._busy(key, f"Nodegroup {group}")
        if busy is not None:
            return busy
        self._begin(key, "DELETING", then=lambda: self.moto.eks("DELETE", path, region))
        return Response(200, {"nodegroup": self._show_nodegroup(region, found["nodegroup"])})

    def _update_nodegroup_config(self, request: Request, region: str) -> Response:
        name, group = request.params["name"], request.params["ng"]
        status, found = self.moto.eks("GET", f"/clusters/{name}/node-groups/{group}", region)
        if status != 200:
            return self.moto.forward(request)
        key = ("nodegroup", region, name, group)
        busy = self._busy(key, f"Nodegroup {group}")
        if busy is not None:
            return busy
        scaling = (request.json() or {}).get("scalingConfig")
        if scaling:
            problem = _scaling_problem({**found["nodegroup"]["scalingConfig"], **scaling})
            if problem:
                return aws_error(400, "InvalidParameterException", problem)
        response = self.moto.forward(request)
        if response.status == 200:  # moto applied it at once and calls it Successful
            answered = _json_body(response)["update"]
            update = _Update(answered["id"], answered["type"], answered["params"],
                             time.monotonic() + self.delay, name, group)
            self._updates[update.id] = update
            self._begin(key, "UPDATING")
            response.body = {"update": update.body()}
        return response

"""A wire-level fake of Azure Resource Manager for AKS, spoken to by the real Azure SDK.

It serves the Azure AD token endpoint (see :mod:`tests.fakes.aks_identity`), resource groups,
``Microsoft.ContainerService/managedClusters`` and their ``agentPools`` with ARM's long-running
operation protocol: a PUT answers 201/200 with ``provisioningState`` Creating/Updating/Upgrading/
Scaling and an ``Azure-AsyncOperation`` URL that reports InProgress until ``operation_delay``
seconds have passed, then Succeeded (or Failed, see :meth:`FakeAKS.fail_next_operation`); a DELETE
answers 202 with ``Location`` and ``Azure-AsyncOperation``. While an operation runs, other writes
to the cluster get ARM's 409 OperationNotAllowed. Requests are validated as AKS does (VM sizes,
Kubernetes versions, pool names, taints, the regional vCPU quota) with ARM error bodies.

Tests inspect the "cloud" through :meth:`FakeAKS.cluster`, :meth:`FakeAKS.pools`,
:meth:`FakeAKS.is_empty` and the request log of :attr:`FakeAKS.server`, and inject faults with
``server.fail_next`` (or :meth:`FakeAKS.throttle_next`).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from tests.fakes import aks_rules as rules
from tests.fakes.aks_identity import ClusterCredentials, FakeDirectory, HostedPlane
from tests.fakes.aks_state import ArmState, Cluster, ClusterKey
from tests.fakes.server import FakeServer, Request, Response

SUB = r"/subscriptions/(?P<sub>[^/]+)"
GROUP = SUB + r"/resource[gG]roups/(?P<rg>[^/]+)"
CLUSTER = GROUP + r"/providers/Microsoft\.ContainerService/managedClusters/(?P<name>[^/]+)"
POOL = CLUSTER + r"/agentPools/(?P<pool>[^/]+)"
VERSIONS = (SUB + r"/providers/Microsoft\.ContainerService/locations/(?P<loc>[^/]+)"
            r"/kubernetesVersions")
OPERATION = (SUB + r"/providers/Microsoft\.ContainerService/locations/(?P<loc>[^/]+)"
             r"/(?P<kind>operations|operationresults)/(?P<op>[^/]+)")


class FakeAKS(ArmState):
    """One Azure AD tenant with one service principal and one subscription's AKS clusters."""

    def __init__(self, *, tenant_id: str, client_id: str, client_secret: str,
                 subscription_id: str, operation_delay: float = 0.2, vcpu_quota: int = 200) -> None:
        super().__init__(subscription_id=subscription_id, tenant_id=tenant_id,
                         operation_delay=operation_delay, vcpu_quota=vcpu_quota)
        self.directory = FakeDirectory(tenant_id, client_id, client_secret)
        self.credentials = ClusterCredentials()
        self.server = FakeServer()
        self.resource_groups: dict[str, dict[str, Any]] = {}
        self._hosted: list[tuple[re.Pattern[str], HostedPlane]] = []
        self._register_routes()

    # -- lifecycle and inspection ------------------------------------------------------------
    def start(self) -> str:
        return self.server.start()

    def stop(self) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.url

    def cluster(self, group: str, name: str) -> dict[str, Any] | None:
        """The managed cluster as ARM's GET renders it (with agentPoolProfiles), or None."""
        with self._lock:
            self._advance()
            found = self._clusters.get((group.lower(), name.lower()))
            return self._render_cluster(found) if found else None

    def pools(self, group: str, name: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            self._advance()
            found = self._clusters.get((group.lower(), name.lower()))
            return {pool: dict(props) for pool, props in found.pools.items()} if found else {}

    def is_empty(self) -> bool:
        """True when no managed cluster (and so no agent pool) exists any more."""
        with self._lock:
            self._advance()
            return not self._clusters

    def host(self, pattern: str, plane: HostedPlane) -> None:
        """Run managed clusters whose name matches ``pattern`` (regex search) on ``plane``: a
        real control plane, so delivery to them can be tested end to end."""
        with self._lock:
            self._hosted.append((re.compile(pattern), plane))

    def create_requests(self) -> Counter[str]:
        """Managed-cluster PUTs that reached the fake, per cluster name. ARM creates and
        updates with the same PUT: without upgrades or cluster edits, each is a create."""
        return self.server.tally("PUT", CLUSTER + "$",
                                 lambda r: r.path.rsplit("/", 1)[-1].lower())

    def add_resource_group(self, name: str, location: str) -> None:
        self.resource_groups[name.lower()] = {
            "id": f"/subscriptions/{self.subscription_id}/resourceGroups/{name}", "name": name,
            "location": location, "type": "Microsoft.Resources/resourceGroups", "tags": {},
            "properties": {"provisioningState": "Succeeded"}}

    def throttle_next(self, retry_after: int, count: int = 1, **match: str) -> None:
        self.server.fail_next(count, status=429, headers={"Retry-After": str(retry_after)},
                              body={"error": {"code": "TooManyRequests", "message":
                                              "The request is being throttled as the limit has "
                                              "been reached for operation type - Write."}},
                              **match)

    def fail_next_operation(self, code: str, message: str, *, on_resource: bool = True) -> None:
        """Let the next long-running operation end Failed with this provisioning error; with
        ``on_resource=False`` only the operation status (``Azure-AsyncOperation``) says why,
        the resource shows ``provisioningState: Failed`` alone."""
        with self._lock:
            self._failures.append(({"code": code, "message": message}, on_resource))

    # -- plumbing ----------------------------------------------------------------------------
    def _register_routes(self) -> None:
        self.server.route("POST", r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token")(
            self.directory.handle_token)
        routes: list[tuple[str, str, Callable[[Request], Response]]] = [
            ("GET", GROUP, self._get_group), ("PUT", GROUP, self._put_group),
            ("GET", CLUSTER, self._get_cluster), ("PUT", CLUSTER, self._put_cluster),
            ("DELETE", CLUSTER, self._delete_cluster),
            ("POST", CLUSTER + r"/listCluster(?P<role>User|Admin)Credential", self._credentials),
            ("GET", CLUSTER + r"/agentPools", self._list_pools),
            ("GET", POOL, self._get_pool), ("PUT", POOL, self._put_pool),
            ("DELETE", POOL, self._delete_pool), ("GET", OPERATION, self._get_operation),
            ("GET", VERSIONS, lambda _: Response(200, rules.kubernetes_versions())),
        ]
        for method, pattern, handler in routes:
            self.server.route(method, pattern)(self._guarded(handler))

    def _guarded(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        """ARM's front door: bearer token, subscription and api-version, then the handler."""
        def guarded(request: Request) -> Response:
            rejected = self.directory.reject(request.headers.get("authorization"))
            if rejected is not None:
                return rejected
            if request.params["sub"] != self.subscription_id:
                return rules.arm_error(404, "SubscriptionNotFound",
                                       f"The subscription '{request.params['sub']}' could not "
                                       "be found.")
            refused = rules.check_api_version(request.path,
                                              next(iter(request.query.get("api-version", [])),
                                                   None))
            if refused is not None:
                return refused
            with self._lock:
                self._advance()
                return handler(request)
        return guarded

    def _key(self, request: Request) -> ClusterKey:
        return request.params["rg"].lower(), request.params["name"].lower()

    def _missing(self, request: Request) -> Response:
        if request.params["rg"].lower() not in self.resource_groups:
            return rules.arm_error(404, "ResourceGroupNotFound",
                                   f"Resource group '{request.params['rg']}' could not be found.")
        return rules.arm_error(404, "ResourceNotFound",
                               f"The Resource 'Microsoft.ContainerService/managedClusters/"
                               f"{request.params['name']}' under resource group "
                               f"'{request.params['rg']}' was not found.")

    # -- resource groups -----------------------------------------------------------------------
    def _get_group(self, request: Request) -> Response:
        group = self.resource_groups.get(request.params["rg"].lower())
        if group is None:
            return rules.arm_error(404, "ResourceGroupNotFound",
                                   f"Resource group '{request.params['rg']}' could not be found.")
        return Response(200, group)

    def _put_group(self, request: Request) -> Response:
        body = request.json() or {}
        rejected = rules.validate_tags(body.get("tags"))
        if rejected is not None:
            return rejected
        existed = request.params["rg"].lower() in self.resource_groups
        self.resource_groups[request.params["rg"].lower()] = {
            "id": request.path, "name": request.params["rg"], "location": body.get("location"),
            "type": "Microsoft.Resources/resourceGroups", "tags": body.get("tags") or {},
            "properties": {"provisioningState": "Succeeded"}}
        return Response(200 if existed else 201, self.resource_groups[request.params["rg"].lower()])

    # -- managed clusters ----------------------------------------------------------------------
    def _get_cluster(self, request: Request) -> Response:
        cluster = self._clusters.get(self._key(request))
        return Response(200, self._render_cluster(cluster)) if cluster else self._missing(request)

    def _put_cluster(self, request: Request) -> Response:
        body, key = request.json() or {}, self._key(request)
        props = body.get("properties") or {}
        location = body.get("location")
        if request.params["rg"].lower() not in self.resource_groups:
            return self._missing(request)
        version = props.get("kubernetesVersion") or rules.DEFAULT_MINOR
        if not location:
            return rules.arm_error(400, "LocationRequired",
                                   "The location property is required for this definition.")
        if rules.resolve_version(version) is None:
            return rules.unsupported_version(version, location)
        profiles = props.get("agentPoolProfiles") or []
        if not any(profile.get("mode") == "System" for profile in profiles):
            return rules.arm_error(400, "MustDefineAtLeastOneSystemPool",
                                   "Must define at least one system pool.")
        for profile in profiles:
            rejected = rules.validate_pool(str(profile.get("name")), profile, location)
            if rejected is not None:
                return rejected
        rejected = rules.validate_tags(body.get("tags"))
        if rejected is not None:
            return rejected
        existing = self._clusters.get(key)
        if existing is not None:
            return self._update_cluster(existing, body, version, profiles)
        if not props.get("dnsPrefix"):
            return rules.arm_error(400, "InvalidParameter", "The value of parameter "
                                   "dnsPrefix is invalid: a DNS prefix is required.")
        rejected = self._quota_check(request.params["name"], request.params["rg"], location, 0,
                                     self._cores(profiles))
        if rejected is not None:
            return rejected
        suffix = hashlib.sha256("/".join(key).encode()).hexdigest()[:8]
        cluster = Cluster(id=request.path, group=request.params["rg"],
                          name=request.params["name"], location=location,
                          tags=body.get("tags") or {}, props={
            **{k: v for k, v in props.items() if k != "agentPoolProfiles"},
            "provisioningState": "Creating", "powerState": {"code": "Running"},
            "kubernetesVersion": version, "currentKubernetesVersion": None,
            "fqdn": f"{props['dnsPrefix']}-{suffix}.hcp.{location}.azmk8s.io",
            "nodeResourceGroup": f"MC_{request.params['rg']}_{request.params['name']}_{location}",
            "maxAgentPools": 100, "enableRBAC": True})
        for profile in profiles:
            cluster.pools[profile["name"]] = {
                **self._pool_from_request(profile, version, "User"),
                "provisioningState": "Creating"}
        self._clusters[key] = cluster
        headers = self._start(cluster, None, "put", "Creating")
        return Response(201, self._render_cluster(cluster), headers)

    def _update_cluster(self, cluster: Cluster, body: dict[str, Any], version: str,
                        profiles: list[dict[str, Any]]) -> Response:
        conflict = self._conflict(cluster)
        if conflict is not None:
            return conflict
        props = body.get("properties") or {}
        if props.get("dnsPrefix") not in (None, cluster.props.get("dnsPrefix")):
            return rules.arm_error(400, "PropertyChangeNotAllowed",
                                   "Changing property 'dnsPrefix' is not allowed.")
        current = cluster.props["currentKubernetesVersion"] or cluster.props["kubernetesVersion"]
        resolved = rules.resolve_version(version) or version
        running = rules.resolve_version(current) or current
        if rules.version_key(resolved) < rules.version_key(running):
            return rules.arm_error(400, "NotAllowedDowngrade",
                                   f"Downgrading kubernetes version from {current} to {version} "
                                   "is not allowed.")
        skipped = rules.skipped_minor(running, resolved)
        if skipped is not None:
            return skipped
        old = [cluster.pools[p["name"]] for p in profiles if p["name"] in cluster.pools]
        rejected = self._quota_check(cluster.name, cluster.group, cluster.location,
                                     self._cores(old), self._cores(profiles))
        if rejected is not None:
            return rejected
        upgrading = version != cluster.props["kubernetesVersion"]
        state = "Upgrading" if upgrading else "Updating"
        cluster.tags = body.get("tags") or {}  # PUT replaces the resource, tags included
        cluster.props.update({"kubernetesVersion": version, "provisioningState": state})
        for profile in profiles:
            before = cluster.pools.get(profile["name"], {})
            pool = {**before, **self._pool_from_request(profile, version, "User")}
            pool["provisioningState"] = state
            cluster.pools[profile["name"]] = pool
        headers = self._start(cluster, None, "put", state)
        return Response(200, self._render_cluster(cluster), headers)

    def _delete_cluster(self, request: Request) -> Response:
        cluster = self._clusters.get(self._key(request))
        if cluster is None:
            return Response(204)
        running = cluster.operation
        if cluster.busy and running is not None and running.action == "delete" \
                and running.pool is None:
            return Response(202, headers=self._operation_headers(running))
        for target in (cluster.props, *cluster.pools.values()):
            target["provisioningState"] = "Deleting"
        return Response(202, headers=self._start(cluster, None, "delete", "Deleting"))

    def _credentials(self, request: Request) -> Response:
        cluster = self._clusters.get(self._key(request))
        if cluster is None:
            return self._missing(request)
        if cluster.props["provisioningState"] in ("Creating", "Deleting"):
            return rules.operation_in_progress(cluster.name, cluster.props["provisioningState"])
        role = request.params["role"].lower()
        user = f"cluster{request.params['role']}_{request.params['rg']}_{cluster.name}"
        hosted = next((plane for pattern, plane in self._hosted
                       if pattern.search(cluster.name)), None)
        text = self.credentials.kubeconfig(cluster.name, user,
                                           f"https://{cluster.props['fqdn']}:443", hosted)
        return Response(200, {"kubeconfigs": [{"name": f"cluster{role.title()}",
                                               "value": base64.b64encode(text.encode()).decode()}]})

    # -- agent pools ---------------------------------------------------------------------------
    def _list_pools(self, request: Request) -> Response:
        cluster = self._clusters.get(self._key(request))
        if cluster is None:
            return self._missing(request)
        return Response(200, {"value": [self._render_pool(cluster, n) for n in cluster.pools]})

    def _get_pool(self, request: Request) -> Response:
        cluster = self._clusters.get(self._key(request))
        if cluster is None or request.params["pool"] not in cluster.pools:
            return rules.arm_error(404, "NotFound", f"Agent pool '{request.params['pool']}' "
                                   "was not found.") if cluster else self._missing(request)
        return Response(200, self._render_pool(cluster, request.params["pool"]))

    def _put_pool(self, request: Request) -> Response:
        cluster = self._clusters.get(self._key(request))
        if cluster is None:
            return self._missing(request)
        conflict = self._conflict(cluster)
        if conflict is not None:
            return conflict
        name = request.params["pool"]
        props = (request.json() or {}).get("properties") or {}
        rejected = rules.validate_pool(name, props, cluster.location)
        if rejected is not None:
            return rejected
        before = cluster.pools.get(name)
        if before is not None and props.get("vmSize") not in (None, before["vmSize"]):
            return rules.arm_error(400, "PropertyChangeNotAllowed",
                                   "Changing property 'vmSize' is not allowed.")
        rejected = self._quota_check(cluster.name, request.params["rg"], cluster.location,
                                     self._cores([before] if before else []), self._cores([props]))
        if rejected is not None:
            return rejected
        pool = {**(before or {}), **self._pool_from_request(
            props, cluster.props["kubernetesVersion"], "User")}
        if before is None:
            pool["provisioningState"] = "Creating"
        elif pool.get("orchestratorVersion") != before.get("orchestratorVersion"):
            pool["provisioningState"] = "Upgrading"
        else:
            pool["provisioningState"] = "Scaling" if pool["count"] != before["count"] \
                else "Updating"
        cluster.pools[name] = pool
        headers = self._start(cluster, name, "put", pool["provisioningState"])
        return Response(201 if before is None else 200, self._render_pool(cluster, name), headers)

    def _delete_pool(self, request: Request) -> Response:
        cluster = self._clusters.get(self._key(request))
        name = request.params["pool"]
        if cluster is None or name not in cluster.pools:
            return Response(204)
        conflict = self._conflict(cluster)
        if conflict is not None:
            return conflict
        others = [p for n, p in cluster.pools.items() if n != name and p.get("mode") == "System"]
        if cluster.pools[name].get("mode") == "System" and not others:
            return rules.arm_error(400, "OperationNotAllowed",
                                   f"Cannot delete agent pool '{name}': it is the last system "
                                   "mode agent pool of the cluster.")
        cluster.pools[name]["provisioningState"] = "Deleting"
        return Response(202, headers=self._start(cluster, name, "delete", "Deleting"))

"""A wire-level fake of the OpenStack Magnum v1 API (container-infra) for the real openstacksdk.

It serves version discovery (``GET /``, ``GET /v1``), cluster templates, clusters with their
default node groups, the nodegroups API (microversion 1.9), ``actions/resize`` (1.7),
``actions/upgrade`` (1.8) and certificates (a real per-cluster CA signs client CSRs). Requests
need an ``X-Auth-Token`` issued by the :class:`~tests.fakes.keystone.FakeKeystone`; the
``OpenStack-API-Version: container-infra X.Y`` header is parsed as Magnum does (absent → 1.1).
Errors use Magnum's ``{"errors": [{"title", "detail", …}]}`` body.

Tests inspect the "cloud" through :attr:`FakeMagnum.cloud` (templates, clusters, node groups),
inject faults with ``fake.server.fail_next(...)``, exhaust quota with ``max_clusters``, make the
next create fail with ``cloud.fail_next_create``, hold every operation in its ``*_IN_PROGRESS``
status with ``cloud.paused()``, and reject unknown flavors/images/keypairs/networks.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from tests.fakes.keystone import PROJECT_ID, FakeKeystone, disable_nagle
from tests.fakes.magnum_nodegroups import register_nodegroup_routes
from tests.fakes.magnum_pki import ClusterCA, InvalidCSRError
from tests.fakes.magnum_state import (
    Cluster,
    MagnumCloud,
    MagnumError,
    NodeGroup,
    Template,
    busy,
    error,
    now_iso,
)
from tests.fakes.server import FakeServer, Request, Response

MIN_VERSION, MAX_VERSION = (1, 1), (1, 11)
CLUSTER_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_.-]*$")
NETWORK_DRIVERS = ("flannel", "calico")
INTERNAL = ("id", "uuid", "project_id", "user_id", "created_at", "updated_at", "links")
TEMPLATE_DEFAULTS: dict[str, Any] = {
    "apiserver_port": None, "cluster_distro": "fedora-coreos", "coe": "kubernetes",
    "docker_storage_driver": "overlay2", "docker_volume_size": None, "dns_nameserver": "8.8.8.8",
    "external_network_id": None, "fixed_network": None, "fixed_subnet": None,
    "flavor_id": "m1.small", "master_flavor_id": None, "http_proxy": None, "https_proxy": None,
    "no_proxy": None, "image_id": None, "insecure_registry": None, "keypair_id": None,
    "labels": {}, "network_driver": "flannel", "floating_ip_enabled": True, "hidden": False,
    "master_lb_enabled": False, "tls_disabled": False, "public": False, "registry_enabled": False,
    "server_type": "vm", "volume_driver": None, "tags": None,
}

ApiHandler = Callable[[Request], Response]


class FakeMagnum:
    """Magnum on its own loopback server; ``start`` registers it in the Keystone catalog."""

    def __init__(self, keystone: FakeKeystone, *, delay: float = 0.2,
                 flavors: tuple[str, ...] = ("m1.small", "m1.medium", "m1.large"),
                 images: tuple[str, ...] = ("fedora-coreos-38",),
                 keypairs: tuple[str, ...] = ("default",),
                 networks: tuple[str, ...] = ("public",),
                 max_clusters: int | None = None, client_cert_days: int = 1825) -> None:
        self.keystone = keystone
        self.cloud = MagnumCloud(delay)
        self.flavors, self.images, self.keypairs, self.networks = (
            set(flavors), set(images), set(keypairs), set(networks))
        self.max_clusters = max_clusters
        self.client_cert_days = client_cert_days
        self.server = FakeServer()
        self.lock = threading.RLock()
        self._register()
        register_nodegroup_routes(self)

    def start(self) -> str:
        url = self.server.start()
        disable_nagle(self.server)
        self.keystone.catalog["container-infra"] = f"{url}/v1"
        return url

    def stop(self) -> None:
        self.server.stop()

    # -- inspection for tests ------------------------------------------------------------
    def cluster_named(self, name: str) -> Cluster | None:
        with self.lock:
            self.cloud.advance()
            return next((c for c in self.cloud.clusters.values() if c.name == name), None)

    def is_empty(self) -> bool:
        with self.lock:
            self.cloud.advance()
            return not self.cloud.clusters and not self.cloud.templates

    def creates(self) -> int:
        return self.server.count("POST", r"^/v1/clusters$")

    def create_requests(self) -> Counter[str]:
        """Cluster create calls that reached the fake, per cluster name (refused ones too)."""
        return self.server.tally("POST", r"^/v1/clusters$", lambda r: str(r.json()["name"]))

    # -- plumbing shared with the nodegroup routes ------------------------------------------
    def api(self, method: str, pattern: str, *, min_version: tuple[int, int] = MIN_VERSION,
            public: bool = False) -> Callable[[ApiHandler], ApiHandler]:
        """Register a handler behind Magnum's auth, microversion negotiation and state clock."""
        def register(handler: ApiHandler) -> ApiHandler:
            def serve(request: Request) -> Response:
                if not public and not self.keystone.is_valid(request.headers.get("x-auth-token")):
                    return Response(401, {"error": {
                        "code": 401, "title": "Unauthorized",
                        "message": "The request you have made requires authentication."}})
                version = self._negotiate(request.headers.get("openstack-api-version"))
                if isinstance(version, Response):
                    return version
                if version < min_version:
                    return error(406, f"Version {version[0]}.{version[1]} was requested but "
                                      f"the requested API is available from "
                                      f"{min_version[0]}.{min_version[1]}.")
                with self.lock:
                    self.cloud.advance()
                    try:
                        response = handler(request)
                    except MagnumError as exc:
                        response = exc.response
                response.headers.update({
                    "OpenStack-API-Minimum-Version": "container-infra 1.1",
                    "OpenStack-API-Maximum-Version": "container-infra 1.11",
                    "OpenStack-API-Version": f"container-infra {version[0]}.{version[1]}",
                    "Vary": "OpenStack-API-Version",
                    "x-openstack-request-id": f"req-{uuid.uuid4()}"})
                return response
            self.server.route(method, pattern)(serve)
            return handler
        return register

    @staticmethod
    def _negotiate(header: str | None) -> tuple[int, int] | Response:
        if header is None:
            return MIN_VERSION
        parts = header.split()
        if len(parts) != 2 or parts[0] != "container-infra":
            return error(406, "Invalid service type for OpenStack-API-Version header")
        if parts[1].lower() == "latest":
            return MAX_VERSION
        match = re.fullmatch(r"(\d+)\.(\d+)", parts[1])
        if not match:
            return error(406, "Invalid value for OpenStack-API-Version header")
        version = (int(match[1]), int(match[2]))
        if not MIN_VERSION <= version <= MAX_VERSION:
            return error(406, f"Version {parts[1]} was requested but the minor version is not "
                              "supported by this service. The supported version range is: "
                              "[1.1, 1.11].")
        return version

    def get_cluster(self, ident: str) -> Cluster:
        found = self.cloud.find_cluster(ident)
        if not found:
            raise MagnumError(404, f"Cluster {ident} could not be found.")
        if len(found) > 1:
            raise MagnumError(409, "Multiple clusters exist with same name. Please use the "
                                   "cluster uuid instead.")
        return found[0]

    def get_template(self, ident: str, *, status: int = 404) -> Template:
        found = self.cloud.find_template(ident)
        if not found:
            raise MagnumError(status, f"ClusterTemplate {ident} could not be found.")
        if len(found) > 1:
            raise MagnumError(409, "Multiple cluster templates exist with same name. Please "
                                   "use the cluster template uuid instead.")
        return found[0]

    def validate_flavor(self, flavor: object) -> None:
        if flavor is not None and flavor not in self.flavors:
            raise MagnumError(400, f"Unable to find flavor {flavor}.")

    def _validate_os_resources(self, attrs: dict[str, Any]) -> None:
        self.validate_flavor(attrs.get("flavor_id"))
        self.validate_flavor(attrs.get("master_flavor_id"))
        if attrs.get("image_id") not in self.images:
            raise MagnumError(400, f"Image {attrs.get('image_id')} could not be found.")
        if attrs.get("keypair_id") is not None and attrs["keypair_id"] not in self.keypairs:
            raise MagnumError(400, f"Unable to find keypair {attrs['keypair_id']}.")
        network = attrs.get("external_network_id")
        if network is not None and network not in self.networks:
            raise MagnumError(400, f"Unable to find external network {network}.")

    # -- routes --------------------------------------------------------------------------
    def _register(self) -> None:
        api = self.api

        @api("GET", r"/?", public=True)
        def root(_: Request) -> Response:
            version = {"id": "v1", "status": "CURRENT", "min_version": "1.1",
                       "max_version": "1.11",
                       "links": [{"href": f"{self.server.url}/v1/", "rel": "self"}]}
            return Response(200, {"name": "OpenStack Magnum API",
                                  "description": "Magnum is an OpenStack project which aims "
                                                 "to provide container cluster management.",
                                  "versions": [version], "default_version": version})

        @api("GET", r"/v1/?", public=True)
        def v1(_: Request) -> Response:
            base = f"{self.server.url}/v1"
            return Response(200, {
                "id": "v1",
                "media_types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.magnum.v1+json"}],
                "links": [{"href": f"{base}/", "rel": "self"}],
                **{key: [{"href": f"{base}/{key}/", "rel": "self"}]
                   for key in ("clustertemplates", "clusters", "certificates", "mservices")}})

        @api("POST", r"/v1/clustertemplates")
        def create_template(request: Request) -> Response:
            body = request.json() or {}
            attrs = {**TEMPLATE_DEFAULTS,
                     **{k: v for k, v in body.items() if k in TEMPLATE_DEFAULTS}}
            if not body.get("coe") or not body.get("image_id"):
                missing = "coe" if not body.get("coe") else "image_id"
                raise MagnumError(400, f"Invalid input for field/attribute {missing}. "
                                       "Mandatory field missing.")
            if attrs["network_driver"] not in NETWORK_DRIVERS:
                raise MagnumError(400, f"Network driver type {attrs['network_driver']} is not "
                                       f"supported, expecting a {list(NETWORK_DRIVERS)} "
                                       "network driver.")
            if attrs["public"] or attrs["hidden"]:
                raise MagnumError(403, "Not authorized to set public or hidden flag for "
                                       "cluster template.")
            self._validate_os_resources(attrs)
            attrs.update(created_at=now_iso(), updated_at=None, project_id=PROJECT_ID)
            template = Template(str(uuid.uuid4()), body.get("name") or "template", attrs)
            self.cloud.templates[template.uuid] = template
            return Response(201, template.render(self.server.url),
                            headers={"Location": f"{self.server.url}/v1/clustertemplates/"
                                                 f"{template.uuid}"})

        @api("GET", r"/v1/clustertemplates(/detail)?")
        def list_templates(_: Request) -> Response:
            return Response(200, {"clustertemplates": [
                t.render(self.server.url) for t in self.cloud.templates.values()]})

        @api("GET", r"/v1/clustertemplates/(?P<ident>[^/]+)")
        def get_template(request: Request) -> Response:
            return Response(200, self.get_template(request.params["ident"])
                            .render(self.server.url))

        @api("PATCH", r"/v1/clustertemplates/(?P<ident>[^/]+)")
        def patch_template(request: Request) -> Response:
            template = self.get_template(request.params["ident"])
            ops = request.json() or []
            if self.cloud.template_in_use(template) and [op.get("path") for op in ops] != ["/name"]:
                raise MagnumError(400, f"ClusterTemplate {template.uuid} is referenced by one "
                                       "or multiple clusters.")
            for op in ops:
                key = str(op.get("path", "")).lstrip("/")
                if key in INTERNAL or str(op.get("from", "")).lstrip("/") in INTERNAL:
                    raise MagnumError(400, f"'/{key}' is an internal attribute and can not be "
                                           "updated")
                if key == "name":
                    template.name = op["value"]
                elif key in TEMPLATE_DEFAULTS:
                    template.attrs[key] = op.get("value")
            template.attrs["updated_at"] = now_iso()
            return Response(200, template.render(self.server.url))

        @api("DELETE", r"/v1/clustertemplates/(?P<ident>[^/]+)")
        def delete_template(request: Request) -> Response:
            template = self.get_template(request.params["ident"])
            if self.cloud.template_in_use(template):
                raise MagnumError(400, f"ClusterTemplate {template.uuid} is referenced by one "
                                       "or multiple clusters.")
            del self.cloud.templates[template.uuid]
            return Response(204)

        @api("POST", r"/v1/clusters")
        def create_cluster(request: Request) -> Response:
            return Response(202, {"uuid": self._create_cluster(request.json() or {}).uuid})

        @api("GET", r"/v1/clusters(/detail)?")
        def list_clusters(request: Request) -> Response:
            summary = not request.path.rstrip("/").endswith("/detail")
            return Response(200, {"clusters": [
                c.render(self.server.url, summary=summary) for c in self.cloud.clusters.values()]})

        @api("GET", r"/v1/clusters/(?P<ident>[^/]+)")
        def get_cluster(request: Request) -> Response:
            return Response(200, self.get_cluster(request.params["ident"]).render(self.server.url))

        @api("DELETE", r"/v1/clusters/(?P<ident>[^/]+)")
        def delete_cluster(request: Request) -> Response:
            self.cloud.start_delete(self.get_cluster(request.params["ident"]))
            return Response(204)

        @api("POST", r"/v1/clusters/(?P<ident>[^/]+)/actions/upgrade", min_version=(1, 8))
        def upgrade(request: Request) -> Response:
            return Response(202, {"uuid": self._upgrade(request).uuid})

        @api("GET", r"/v1/certificates/(?P<ident>[^/]+)")
        def get_ca(request: Request) -> Response:
            cluster = self.get_cluster(request.params["ident"])
            return Response(200, {"cluster_uuid": cluster.uuid, "bay_uuid": cluster.uuid,
                                  "pem": cluster.ca.pem, "links": []})

        @api("POST", r"/v1/certificates")
        def sign(request: Request) -> Response:
            body = request.json() or {}
            cluster = self.get_cluster(str(body.get("cluster_uuid") or body.get("bay_uuid")))
            try:
                pem = cluster.ca.sign(str(body.get("csr", "")))
            except InvalidCSRError as exc:
                raise MagnumError(400, str(exc)) from exc
            return Response(201, {"cluster_uuid": cluster.uuid, "bay_uuid": cluster.uuid,
                                  "csr": body.get("csr"), "pem": pem, "links": []})

    def _create_cluster(self, body: dict[str, Any]) -> Cluster:
        name = str(body.get("name") or "")
        if not CLUSTER_NAME.match(name) or len(name) > 242:
            raise MagnumError(400, f"Invalid input for field/attribute name. Value: '{name}'. "
                                   "Value should match the pattern ^[a-zA-Z][a-zA-Z0-9_.-]*$")
        template = self.get_template(str(body.get("cluster_template_id")), status=400)
        if self.max_clusters is not None and len(self.cloud.clusters) >= self.max_clusters:
            raise MagnumError(403, "Resource limit exceeded: You have reached the maximum "
                                   f"clusters per project, {self.max_clusters}. You may delete "
                                   "a cluster to make room for a new one.")
        counts = {key: body.get(key, 1) for key in ("master_count", "node_count")}
        if any(not isinstance(v, int) or v < 1 for v in counts.values()):
            raise MagnumError(400, "Invalid input for field/attribute node_count. Value should "
                                   "be greater or equal to 1")
        effective = {**template.attrs, **{k: v for k, v in body.items() if v is not None}}
        effective["keypair_id"] = body.get("keypair") or template.attrs.get("keypair_id")
        self._validate_os_resources(effective)
        lb = body.get("master_lb_enabled", template.attrs.get("master_lb_enabled"))
        if counts["master_count"] > 1 and not lb:
            raise MagnumError(400, "master_count must be 1 when master_lb_enabled is False")
        labels = dict(body["labels"]) if body.get("labels") else dict(template.attrs["labels"])
        attrs = {"keypair": effective["keypair_id"], "labels": labels,
                 "flavor_id": effective.get("flavor_id"),
                 "master_flavor_id": effective.get("master_flavor_id"),
                 "docker_volume_size": effective.get("docker_volume_size"),
                 "create_timeout": body.get("create_timeout") or 60,
                 "fixed_network": effective.get("fixed_network"),
                 "fixed_subnet": effective.get("fixed_subnet"),
                 "floating_ip_enabled": effective.get("floating_ip_enabled"),
                 "master_lb_enabled": bool(lb)}
        cluster = Cluster(str(uuid.uuid4()), name, template.uuid, attrs,
                          ClusterCA(name, self.client_cert_days))

        def default_group(name: str, role: str, count: int, flavor: Any) -> NodeGroup:
            worker = role == "worker"
            maximum = labels.get("max_node_count") if worker else None
            return NodeGroup(str(uuid.uuid4()), name, cluster.uuid, role, True, count, flavor,
                             template.attrs["image_id"], attrs["docker_volume_size"],
                             dict(labels), int(labels.get("min_node_count", 1)) if worker else 1,
                             int(maximum) if maximum else None)

        cluster.nodegroups = [
            default_group("default-master", "master", counts["master_count"],
                          attrs["master_flavor_id"]),
            default_group("default-worker", "worker", counts["node_count"], attrs["flavor_id"])]
        self.cloud.clusters[cluster.uuid] = cluster
        self.cloud.start_create(cluster, labels.get("kube_tag"))
        return cluster

    def _upgrade(self, request: Request) -> Cluster:
        cluster = self.get_cluster(request.params["ident"])
        body = request.json() or {}
        template = self.get_template(str(body.get("cluster_template")))
        if not cluster.status.endswith("_COMPLETE"):
            raise busy(cluster, "Upgrading")
        if template.attrs.get("coe") != "kubernetes":
            raise MagnumError(400, "Upgrading to a cluster template of another COE is not "
                                   "supported.")
        kube_tag = template.kube_tag
        if body.get("nodegroup"):
            group = cluster.nodegroup(str(body["nodegroup"]))
            if group is None:
                raise MagnumError(404, f"Nodegroup {body['nodegroup']} could not be found.")

            def finish_group() -> None:
                group.version = kube_tag

            self.cloud.start_update(cluster, group, finish=finish_group)
            return cluster
        cluster.cluster_template_id = template.uuid

        def finish() -> None:
            cluster.coe_version = kube_tag
            cluster.attrs["labels"] = {**cluster.attrs["labels"], "kube_tag": kube_tag}
            for ng in cluster.nodegroups:
                if ng.is_default:
                    ng.version = kube_tag

        self.cloud.start_update(cluster, None, finish=finish)
        return cluster

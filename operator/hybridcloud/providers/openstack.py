"""OpenStack Magnum adapter (openstacksdk, ``container-infra`` service, API microversion 1.9).

Credential keys (data of the Kubernetes Secret):

- ``auth_url`` (or the ``auth_url`` constructor argument, e.g. ``https://keystone:5000/v3``)
- password auth: ``username``, ``password``, ``project_name``, ``user_domain_name`` and
  ``project_domain_name`` (both default ``Default``)
- or application credentials: ``application_credential_id``, ``application_credential_secret``
- optional: ``region_name`` (used when the cluster spec has no region), ``interface``
  (``public``, ``internal`` or ``admin``; default ``public``)

Provider options (``spec.openstack``): ``clusterTemplate`` (use this existing template instead of
creating one), ``image``, ``keypair``, ``externalNetwork``.

Mapping: one cluster template per cluster and Kubernetes version, named ``<cluster>-v<version>``
(image, keypair, external network, worker flavor, master flavor, CNI as network driver, disk size
as docker volume size, ``kube_tag`` label). The control-plane group is Magnum's master count (and
``default-master`` node group), the first worker group is ``default-worker``; other worker groups
are Magnum node groups, which Magnum accepts only once the cluster is created, so they are added by
``create_node_group`` (or a repeated ``create``) when the cluster is ACTIVE. Which spec groups the
default node groups stand for is recorded in cluster labels, as are the owner tags (Magnum has no
tags). Magnum keeps per-node-group Kubernetes versions: an upgrade moves the cluster and its
default groups, and later ``upgrade`` calls move the other groups one at a time; ``describe``
reports the lowest version until all are done. Deleting renames the cluster's in-use templates
with a ``-deleting`` suffix (Magnum allows only renames of templates in use) so that ``describe``
keeps reporting DELETING until those templates are removed after the cluster is gone.
"""

from __future__ import annotations

import base64
import email.utils
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC
from typing import Any

import openstack
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from keystoneauth1 import exceptions as ks_exc
from openstack import exceptions as os_exc

from hybridcloud.providers.base import (
    AuthenticationError,
    ClusterSpec,
    ClusterState,
    InvalidConfigurationError,
    Kubeconfig,
    NodeGroupSpec,
    ObservedCluster,
    ObservedNodeGroup,
    PermanentError,
    ProviderError,
    QuotaExceededError,
    TransientError,
)

# Nodegroups need 1.9 (resize 1.7, upgrade 1.8). keystoneauth would name the service
# "container-infrastructure-management" in the header, which Magnum rejects, so we set it.
API_VERSION = {"OpenStack-API-Version": "container-infra 1.9"}
WORKER_GROUP_LABEL = "hybridcloud_default_worker_group"
MASTER_GROUP_LABEL = "hybridcloud_control_plane_group"
RETIRING_SUFFIX = "-deleting"
ADDON_LABELS = {"ingress-nginx": {"ingress_controller": "nginx"},
                "monitoring": {"monitoring_enabled": "true"},
                "metrics-server": {"metrics_server_enabled": "true"},
                "cinder-csi": {"cinder_csi_enabled": "true"},
                "auto-healing": {"auto_healing_enabled": "true"}}
TEMPLATE_FIELDS = ("coe", "image_id", "keypair_id", "external_network_id", "fixed_network",
                   "fixed_subnet", "flavor_id", "master_flavor_id", "network_driver",
                   "volume_driver", "docker_volume_size", "docker_storage_driver",
                   "dns_nameserver", "http_proxy", "https_proxy", "no_proxy", "server_type",
                   "is_floating_ip_enabled", "is_master_lb_enabled", "is_tls_disabled",
                   "is_registry_enabled", "insecure_registry", "apiserver_port")


def _state(status: str | None) -> ClusterState:
    status = status or ""
    if status == "CREATE_IN_PROGRESS":
        return ClusterState.CREATING
    if status.startswith("DELETE_") and status != "DELETE_FAILED":
        return ClusterState.DELETING
    if status.endswith("_FAILED"):
        return ClusterState.FAILED
    if status.endswith("_COMPLETE"):
        return ClusterState.ACTIVE
    return ClusterState.UPDATING  # UPDATE_/ROLLBACK_/RESUME_/…_IN_PROGRESS


def _kube_tag(version: str) -> str:
    parts = version.lstrip("v").split(".")
    return "v" + ".".join(parts + ["0"] * (3 - len(parts)))  # Magnum needs a full image tag


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    value = (headers or {}).get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


class OpenStackProvider:
    """Clusters on OpenStack Magnum for one Keystone account."""

    name = "openstack"

    def __init__(self, credentials: Mapping[str, str], *, auth_url: str | None = None) -> None:
        self._secrets = tuple(value for key, value in credentials.items()
                              if value and key in ("password", "application_credential_secret"))
        url = auth_url or credentials.get("auth_url")
        if not url:
            raise AuthenticationError("OpenStack credentials lack auth_url")
        if credentials.get("application_credential_id"):
            self._auth_type = "v3applicationcredential"
            self._auth: dict[str, str] = {
                "auth_url": url,
                "application_credential_id": credentials["application_credential_id"],
                "application_credential_secret":
                    credentials.get("application_credential_secret", "")}
        else:
            missing = [key for key in ("username", "password", "project_name")
                       if not credentials.get(key)]
            if missing:
                raise AuthenticationError(f"OpenStack credentials lack {', '.join(missing)}")
            self._auth_type = "password"
            self._auth = {"auth_url": url, "username": credentials["username"],
                          "password": credentials["password"],
                          "project_name": credentials["project_name"],
                          "user_domain_name": credentials.get("user_domain_name", "Default"),
                          "project_domain_name":
                              credentials.get("project_domain_name", "Default")}
        self._default_region = credentials.get("region_name")
        self._interface = credentials.get("interface", "public")
        self._connections: dict[str | None, Any] = {}
        self._lock = threading.Lock()  # calls arrive from several operator worker threads
        self._connection(self._default_region)

    # -- plumbing ------------------------------------------------------------------------
    def _connection(self, region: str | None) -> Any:
        with self._lock:
            if region not in self._connections:
                # No clouds.yaml or OS_* variables: everything comes from the Secret. Retries
                # are the operator's job (it honours Retry-After): the SDK must not retry.
                self._connections[region] = openstack.connection.Connection(
                    auth_type=self._auth_type, auth=dict(self._auth), region_name=region,
                    interface=self._interface, connect_retries=0, status_code_retries=0,
                    api_timeout=60, app_name="hybridcloud")
            return self._connections[region]

    def _magnum(self, spec: ClusterSpec) -> Any:
        return self._connection(spec.region or self._default_region) \
            .container_infrastructure_management

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Translate SDK/keystoneauth failures into the platform's error classes."""
        try:
            yield
        except ProviderError:
            raise
        except (os_exc.HttpException, ks_exc.HttpError) as exc:
            raise self._http_error(action, exc) from None
        except (ks_exc.ConnectTimeout, ks_exc.ConnectFailure, ks_exc.UnknownConnectionError,
                ks_exc.DiscoveryFailure) as exc:
            raise TransientError(self._scrub(f"{action}: cannot reach OpenStack: {exc}")) from None
        except (ks_exc.EndpointNotFound, os_exc.EndpointNotFound,
                os_exc.ServiceDisabledException) as exc:
            raise InvalidConfigurationError(self._scrub(
                f"{action}: no Magnum (container-infra) endpoint in the catalog for this region "
                f"and interface: {exc}")) from None
        except (ks_exc.ClientException, os_exc.SDKException) as exc:
            raise PermanentError(self._scrub(f"{action}: {exc}")) from None

    def _http_error(self, action: str, exc: Exception) -> ProviderError:
        response = getattr(exc, "response", None)
        status = getattr(exc, "status_code", None) or getattr(exc, "http_status", None) or 0
        detail = self._detail(response) or getattr(exc, "details", None) or str(exc)
        message = self._scrub(f"{action}: {detail} (HTTP {status})")
        lowered = detail.lower()
        retry_after = _retry_after(response.headers if response is not None else None)
        if status == 401:
            return AuthenticationError(message)
        if status in (403, 413, 400) and ("quota" in lowered or "limit exceeded" in lowered):
            return QuotaExceededError(message)
        # Magnum answers 400 to changes while an operation runs ('when status is "…"') and to
        # deleting a template whose (deleting) cluster still exists: both resolve themselves.
        if status in (408, 413, 429) or status >= 500 or 'when status is "' in lowered \
                or "is referenced by" in lowered or (status == 409 and "multiple" not in lowered):
            return TransientError(message, retry_after=retry_after)
        if status == 400:
            return InvalidConfigurationError(message)
        return PermanentError(message)

    @staticmethod
    def _detail(response: Any) -> str | None:
        """Magnum's ``{"errors": [{"detail"}]}`` or Keystone's ``{"error": {"message"}}``."""
        try:
            body = response.json()
        except Exception:  # not JSON (or no response): the exception text will do
            return None
        if isinstance(body, dict):
            errors = body.get("errors")
            if isinstance(errors, list) and errors and isinstance(errors[0], dict):
                return str(errors[0].get("detail") or errors[0].get("title"))
            if isinstance(body.get("error"), dict):
                return str(body["error"].get("message"))
        return None

    def _call(self, spec: ClusterSpec, method: str, path: str, body: Any = None) -> Any:
        response = self._magnum(spec).request(path, method, json=body,
                                              headers=dict(API_VERSION))
        os_exc.raise_from_response(response)
        return response.json() if response.content else None

    # -- lookups -------------------------------------------------------------------------
    def _cluster(self, spec: ClusterSpec) -> Any:
        return self._get(self._magnum(spec).get_cluster, spec.name)

    @staticmethod
    def _get(getter: Any, name_or_uuid: str) -> Any:
        """Magnum resolves names in GET /…/{ident}: one request, None when missing.

        (The SDK's find_* would add a listing and sets ``id`` to the name, so ``uuid`` is used.)
        """
        try:
            return getter(name_or_uuid)
        except os_exc.NotFoundException:
            return None

    def _node_groups(self, spec: ClusterSpec, cluster: Any) -> list[dict[str, Any]]:
        summaries = self._call(spec, "GET", f"/clusters/{cluster.uuid}/nodegroups")["nodegroups"]
        groups = []
        for summary in summaries:  # the listing lacks min/max node counts and versions
            try:
                groups.append(self._call(
                    spec, "GET", f"/clusters/{cluster.uuid}/nodegroups/{summary['uuid']}"))
            except os_exc.NotFoundException:
                continue  # deleted since the listing
        return groups

    @staticmethod
    def _spec_name(cluster: Any, group: dict[str, Any]) -> str | None:
        """The spec name a Magnum node group stands for (None: not one of ours)."""
        labels = cluster.labels or {}
        if group["role"] == "master":
            return labels.get(MASTER_GROUP_LABEL) if group.get("is_default") else None
        if group.get("is_default"):
            return str(labels.get(WORKER_GROUP_LABEL) or group["name"])
        return str(group["name"])

    def _find_group(self, spec: ClusterSpec, cluster: Any,
                    name: str) -> dict[str, Any] | None:
        return next((g for g in self._node_groups(spec, cluster)
                     if self._spec_name(cluster, g) == name), None)

    def _require_cluster(self, spec: ClusterSpec) -> Any:
        cluster = self._cluster(spec)
        if cluster is None:
            raise PermanentError(f"Magnum cluster {spec.name} does not exist")
        return cluster

    @staticmethod
    def _require_idle(cluster: Any, action: str) -> None:
        if not str(cluster.status).endswith("_COMPLETE"):
            raise TransientError(f"{action}: Magnum cluster {cluster.name} is {cluster.status}; "
                                 "retry when the current operation has finished")

    def _owned_templates(self, spec: ClusterSpec) -> list[Any]:
        prefix = f"{spec.name}-v"
        return [t for t in self._magnum(spec).cluster_templates()
                if str(t.name).startswith(prefix)
                and all((t.labels or {}).get(k) == v for k, v in spec.tags.items())]

    # -- templates -----------------------------------------------------------------------
    def _template_attrs(self, spec: ClusterSpec) -> dict[str, Any]:
        options = spec.options
        workers = [g for g in spec.node_groups if g.role != "control-plane"]
        masters = [g for g in spec.node_groups if g.role == "control-plane"]
        labels: dict[str, str] = {}
        if spec.cluster_cidr:
            key = "flannel_network_cidr" if spec.cni in (None, "flannel") else "calico_ipv4pool"
            labels[key] = spec.cluster_cidr
        if spec.service_cidr:
            labels["service_cluster_ip_range"] = spec.service_cidr
        for addon in spec.addons:  # others are installed by the platform, not by Magnum
            labels.update(ADDON_LABELS.get(addon, {}))
        attrs = {"coe": "kubernetes", "image_id": options.get("image"),
                 "keypair_id": options.get("keypair"),
                 "external_network_id": options.get("externalNetwork"),
                 "flavor_id": workers[0].instance_type if workers else None,
                 "master_flavor_id": masters[0].instance_type if masters else None,
                 "network_driver": spec.cni,
                 "docker_volume_size": workers[0].disk_size if workers else None,
                 "is_master_lb_enabled": bool(masters and masters[0].size > 1),
                 "labels": labels}
        if not attrs["image_id"]:
            raise InvalidConfigurationError("spec.openstack.image is required unless "
                                            "spec.openstack.clusterTemplate names a template")
        return {k: v for k, v in attrs.items() if v is not None}

    def _ensure_template(self, spec: ClusterSpec, version: str, base: Any = None) -> Any:
        """Our template for ``version``: found by name, else created from ``base`` or the spec."""
        magnum = self._magnum(spec)
        name = f"{spec.name}-{_kube_tag(version)}"
        existing = self._get(magnum.get_cluster_template, name)
        if existing is not None:
            return existing
        if base is not None:
            attrs = {k: getattr(base, k) for k in TEMPLATE_FIELDS
                     if getattr(base, k, None) is not None}
            attrs["labels"] = dict(base.labels or {})
        else:
            attrs = self._template_attrs(spec)
        attrs["labels"] = {**attrs["labels"], **spec.tags, "kube_tag": _kube_tag(version)}
        return magnum.create_cluster_template(name=name, **attrs)

    # -- CloudProvider -------------------------------------------------------------------
    def describe(self, cluster: ClusterSpec) -> ObservedCluster | None:
        with self._errors(f"describe Magnum cluster {cluster.name}"):
            found = self._cluster(cluster)
            if found is not None:
                try:
                    return self._observe(cluster, found)
                except os_exc.NotFoundException:
                    if self._cluster(cluster) is not None:
                        raise TransientError(f"Magnum cluster {cluster.name} changed while "
                                             "being described") from None
                    # else: the deletion finished between our requests
            retiring = [t for t in self._owned_templates(cluster)
                        if str(t.name).endswith(RETIRING_SUFFIX)]
            if not retiring:
                return None
            return ObservedCluster(provider_id=retiring[0].uuid, name=cluster.name,
                                   state=ClusterState.DELETING,
                                   message="cluster deleted; removing its cluster templates")

    def _observe(self, spec: ClusterSpec, cluster: Any) -> ObservedCluster:
        groups = self._node_groups(spec, cluster)
        observed = []
        for group in groups:
            name = self._spec_name(cluster, group)
            if name is None:
                continue
            complete = str(group["status"]).endswith("_COMPLETE")
            bounded = group.get("max_node_count") is not None
            observed.append(ObservedNodeGroup(
                name=name, size=int(group["node_count"]),
                ready=int(group["node_count"]) if complete else 0,
                state=_state(group["status"]), provider_id=group["uuid"],
                min_size=group.get("min_node_count") if bounded else None,
                max_size=group.get("max_node_count") if bounded else None,
                role="control-plane" if group["role"] == "master" else "worker"))
        versions = [v for v in [cluster.coe_version or (cluster.labels or {}).get("kube_tag")]
                    + [g.get("version") for g in groups if g["role"] != "master"] if v]
        ca_data = None
        if cluster.api_address:
            pem = self._magnum(spec).get_cluster_certificate(cluster.uuid).pem
            ca_data = base64.b64encode(str(pem).encode()).decode()
        state = _state(cluster.status)
        return ObservedCluster(
            provider_id=cluster.uuid, name=cluster.name, state=state,
            version=min(versions, key=_version_key).lstrip("v") if versions else None,
            endpoint=cluster.api_address or None, ca_data=ca_data,
            node_groups=tuple(observed), master_count=int(cluster.master_count or 0),
            message=cluster.status_reason if state is ClusterState.FAILED else None)

    def create(self, cluster: ClusterSpec) -> None:
        with self._errors(f"create Magnum cluster {cluster.name}"):
            existing = self._cluster(cluster)
            if existing is not None:
                if str(existing.status).startswith("DELETE"):
                    raise TransientError(f"Magnum cluster {cluster.name} is still being deleted")
                if existing.api_address and str(existing.status).endswith("_COMPLETE"):
                    self._add_missing_groups(cluster, existing)
                return
            self._create_cluster(cluster)

    def _create_cluster(self, spec: ClusterSpec) -> None:
        workers = [g for g in spec.node_groups if g.role != "control-plane"]
        masters = [g for g in spec.node_groups if g.role == "control-plane"]
        if not workers:
            raise InvalidConfigurationError("Magnum clusters need at least one worker node group")
        magnum = self._magnum(spec)
        user_template = spec.options.get("clusterTemplate")
        if user_template:
            template = self._get(magnum.get_cluster_template, str(user_template))
            if template is None:
                raise InvalidConfigurationError(f"cluster template {user_template} not found")
        else:
            template = self._ensure_template(spec, spec.version)
        first = workers[0]
        # Cluster labels replace the template's in Magnum, so they repeat them (and the version,
        # which a shared template may not match).
        labels = {**(template.labels or {}), **spec.tags, WORKER_GROUP_LABEL: first.name,
                  "kube_tag": _kube_tag(spec.version)}
        if masters:
            labels[MASTER_GROUP_LABEL] = masters[0].name
        if first.autoscaling:
            labels.update(auto_scaling_enabled="true", min_node_count=str(first.min_size),
                          max_node_count=str(first.max_size))
        attrs: dict[str, Any] = {
            "name": spec.name, "cluster_template_id": template.uuid, "labels": labels,
            "master_count": masters[0].size if masters else 1, "node_count": first.size,
            "keypair": spec.options.get("keypair"), "flavor_id": first.instance_type,
            "master_flavor_id": masters[0].instance_type if masters else None}
        if masters and masters[0].size > 1:
            attrs["is_master_lb_enabled"] = True
        magnum.create_cluster(**{k: v for k, v in attrs.items() if v is not None})

    def _add_missing_groups(self, spec: ClusterSpec, cluster: Any) -> None:
        present = {self._spec_name(cluster, g) for g in self._node_groups(spec, cluster)}
        for group in spec.node_groups:
            if group.role != "control-plane" and group.name not in present:
                self._post_group(spec, cluster, group)
                return  # Magnum takes one node-group operation at a time

    def _post_group(self, spec: ClusterSpec, cluster: Any, group: NodeGroupSpec) -> None:
        self._require_idle(cluster, f"add node group {group.name}")
        body: dict[str, Any] = {
            "name": group.name, "role": "worker", "node_count": group.size,
            "flavor_id": group.instance_type, "docker_volume_size": group.disk_size,
            "labels": {**(cluster.labels or {}), **spec.tags}}
        if group.autoscaling:
            body.update(min_node_count=group.min_size, max_node_count=group.max_size)
        self._call(spec, "POST", f"/clusters/{cluster.uuid}/nodegroups",
                   {k: v for k, v in body.items() if v is not None})

    def create_node_group(self, cluster: ClusterSpec, group: NodeGroupSpec) -> None:
        with self._errors(f"create node group {group.name} of {cluster.name}"):
            if group.role == "control-plane":
                raise InvalidConfigurationError("Magnum cannot add control-plane node groups; "
                                                "masters are fixed at cluster creation")
            found = self._require_cluster(cluster)
            if self._find_group(cluster, found, group.name) is None:
                self._post_group(cluster, found, group)

    def update_node_group(self, cluster: ClusterSpec, group: NodeGroupSpec) -> None:
        with self._errors(f"update node group {group.name} of {cluster.name}"):
            found = self._require_cluster(cluster)
            current = self._find_group(cluster, found, group.name)
            if current is None:
                raise PermanentError(f"node group {group.name} does not exist in Magnum "
                                     f"cluster {cluster.name}")
            if current["role"] == "master":
                if group.size != current["node_count"]:
                    raise InvalidConfigurationError("Magnum cannot resize the masters of an "
                                                    "existing cluster")
                return
            self._resize(cluster, found, current, group)

    def _resize(self, spec: ClusterSpec, cluster: Any, current: dict[str, Any],
                group: NodeGroupSpec) -> None:
        path = f"/clusters/{cluster.uuid}/nodegroups/{current['uuid']}"
        low, high = current.get("min_node_count") or 1, current.get("max_node_count")
        if group.size != current["node_count"]:
            self._require_idle(cluster, f"resize node group {group.name}")
            # Magnum refuses sizes outside the group's bounds: widen them first if needed.
            widen = []
            if high is not None and group.size > high:
                widen.append({"op": "replace", "path": "/max_node_count", "value": group.size})
            if group.size < low:
                widen.append({"op": "replace", "path": "/min_node_count", "value": group.size})
            if widen:
                self._call(spec, "PATCH", path, widen)
            self._call(spec, "POST", f"/clusters/{cluster.uuid}/actions/resize",
                       {"node_count": group.size, "nodegroup": current["uuid"]})
        want_low, want_high = (group.min_size, group.max_size) if group.autoscaling else (1, None)
        bounds = []
        if want_low != low:
            bounds.append({"op": "replace", "path": "/min_node_count", "value": want_low})
        if want_high != high:
            bounds.append({"op": "remove", "path": "/max_node_count"} if want_high is None
                          else {"op": "replace", "path": "/max_node_count", "value": want_high})
        if bounds:
            self._call(spec, "PATCH", path, bounds)

    def delete_node_group(self, cluster: ClusterSpec, name: str) -> None:
        with self._errors(f"delete node group {name} of {cluster.name}"):
            found = self._cluster(cluster)
            group = self._find_group(cluster, found, name) if found is not None else None
            if group is None or str(group["status"]).startswith("DELETE"):
                return
            if group.get("is_default"):
                raise InvalidConfigurationError(
                    f"node group {name} is Magnum's default {group['role']} group, which "
                    "cannot be deleted; resize it instead")
            self._require_idle(found, f"delete node group {name}")
            self._call(cluster, "DELETE", f"/clusters/{found.uuid}/nodegroups/{group['uuid']}")

    def upgrade(self, cluster: ClusterSpec, version: str) -> None:
        with self._errors(f"upgrade Magnum cluster {cluster.name} to {version}"):
            found = self._require_cluster(cluster)
            magnum = self._magnum(cluster)
            tag = _kube_tag(version)
            current = magnum.get_cluster_template(found.cluster_template_id)
            on_target = (current.labels or {}).get("kube_tag") == tag \
                and (found.labels or {}).get("kube_tag", tag) == tag
            target = current if on_target else self._ensure_template(cluster, version, current)
            if found.cluster_template_id != target.uuid:
                self._require_idle(found, "upgrade")
                self._call(cluster, "POST", f"/clusters/{found.uuid}/actions/upgrade",
                           {"cluster_template": target.uuid, "max_batch_size": 1})
                return
            lagging = [g for g in self._node_groups(cluster, found) if not g.get("is_default")
                       and g.get("version") != tag]
            if lagging and str(found.status).endswith("_COMPLETE"):
                self._call(cluster, "POST", f"/clusters/{found.uuid}/actions/upgrade",
                           {"cluster_template": target.uuid, "max_batch_size": 1,
                            "nodegroup": lagging[0]["uuid"]})

    def delete(self, cluster: ClusterSpec) -> None:
        with self._errors(f"delete Magnum cluster {cluster.name}"):
            magnum = self._magnum(cluster)
            found = self._cluster(cluster)
            for template in self._owned_templates(cluster):
                if found is not None and template.uuid == found.cluster_template_id:
                    if not str(template.name).endswith(RETIRING_SUFFIX):
                        # Raw JSON patch: the SDK's also "moves" /uuid, which Magnum refuses.
                        self._call(cluster, "PATCH", f"/clustertemplates/{template.uuid}", [{
                            "op": "replace", "path": "/name",
                            "value": f"{template.name}{RETIRING_SUFFIX}"}])
                else:
                    magnum.delete_cluster_template(template.uuid, ignore_missing=True)
            if found is not None and found.status != "DELETE_IN_PROGRESS":
                magnum.delete_cluster(found.uuid, ignore_missing=True)

    def kubeconfig(self, cluster: ClusterSpec, observed: ObservedCluster) -> Kubeconfig:
        with self._errors(f"kubeconfig of Magnum cluster {cluster.name}"):
            found = self._require_cluster(cluster)
            if not found.api_address:
                raise TransientError(f"Magnum cluster {cluster.name} has no API address yet")
            magnum = self._magnum(cluster)
            ca_pem = str(magnum.get_cluster_certificate(found.uuid).pem)
            # Magnum has no kubeconfig API: like `openstack coe cluster config`, have the
            # cluster CA sign a fresh admin client certificate for a key that never leaves us.
            key = ec.generate_private_key(ec.SECP256R1())
            csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([
                x509.NameAttribute(NameOID.COMMON_NAME, "admin"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters")])
            ).sign(key, hashes.SHA256())
            signed = magnum.create_cluster_certificate(
                cluster_uuid=found.uuid,
                csr=csr.public_bytes(serialization.Encoding.PEM).decode())
            cert_pem = str(signed.pem)
            expires = x509.load_pem_x509_certificate(cert_pem.encode()).not_valid_after_utc
            key_pem = key.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.TraditionalOpenSSL,
                                        serialization.NoEncryption()).decode()
            return Kubeconfig(_kubeconfig_text(cluster.name, found.api_address, ca_pem,
                                               cert_pem, key_pem),
                              expires_at=expires.astimezone(UTC))


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _kubeconfig_text(name: str, server: str, ca_pem: str, cert_pem: str, key_pem: str) -> str:
    user = f"{name}-admin"
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": name, "cluster": {
            "server": server, "certificate-authority-data": _b64(ca_pem)}}],
        "users": [{"name": user, "user": {"client-certificate-data": _b64(cert_pem),
                                          "client-key-data": _b64(key_pem)}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": user}}],
        "current-context": name,
    }, sort_keys=False)

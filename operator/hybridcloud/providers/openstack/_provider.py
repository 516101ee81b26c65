"""The Magnum adapter; the package docstring describes credentials, options and the mapping."""

from __future__ import annotations

import base64
import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

import openstack
from openstack import exceptions as os_exc

from hybridcloud.providers.base import (
    AuthenticationError,
    ClusterSpec,
    ClusterState,
    InvalidConfigurationError,
    Kubeconfig,
    NodeGroupSpec,
    ObservedCluster,
    PermanentError,
    TransientError,
)

from . import _specs as specs
from ._errors import translated
from ._kubeconfig import admin_key_and_csr, admin_kubeconfig

# Nodegroups need 1.9 (resize 1.7, upgrade 1.8). keystoneauth would name the service
# "container-infrastructure-management" in the header, which Magnum rejects, so we set it.
API_VERSION = {"OpenStack-API-Version": "container-infra 1.9"}
RETIRING_SUFFIX = "-deleting"


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

    def _errors(self, action: str) -> AbstractContextManager[None]:
        return translated(action, self._secrets)

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

    def _find_group(self, spec: ClusterSpec, cluster: Any,
                    name: str) -> dict[str, Any] | None:
        return next((g for g in self._node_groups(spec, cluster)
                     if specs.spec_name(cluster, g) == name), None)

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

    def _ensure_template(self, spec: ClusterSpec, version: str, base: Any = None) -> Any:
        """Our template for ``version``: found by name, else created from ``base`` or the spec."""
        magnum = self._magnum(spec)
        name = f"{spec.name}-{specs.kube_tag(version)}"
        existing = self._get(magnum.get_cluster_template, name)
        if existing is not None:
            return existing
        attrs = specs.template_attrs_from(base) if base is not None \
            else specs.template_attrs(spec)
        attrs["labels"] = {**attrs["labels"], **spec.tags, "kube_tag": specs.kube_tag(version)}
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
            name = specs.spec_name(cluster, group)
            if name is not None:
                observed.append(specs.observed_group(name, group))
        versions = [v for v in [cluster.coe_version or (cluster.labels or {}).get("kube_tag")]
                    + [g.get("version") for g in groups if g["role"] != "master"] if v]
        ca_data = None
        if cluster.api_address:
            pem = self._magnum(spec).get_cluster_certificate(cluster.uuid).pem
            ca_data = base64.b64encode(str(pem).encode()).decode()
        state = specs.state(cluster.status)
        return ObservedCluster(
            provider_id=cluster.uuid, name=cluster.name, state=state,
            version=min(versions, key=specs.version_key).lstrip("v") if versions else None,
            endpoint=cluster.api_address or None, ca_data=ca_data,
            node_groups=tuple(observed), master_count=int(cluster.master_count or 0),
            message=cluster.status_reason if state is ClusterState.FAILED else None,
            delete_failed=cluster.status == "DELETE_FAILED")

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
        if not specs.workers(spec):
            raise InvalidConfigurationError("Magnum clusters need at least one worker node group")
        magnum = self._magnum(spec)
        user_template = spec.options.get("clusterTemplate")
        if user_template:
            template = self._get(magnum.get_cluster_template, str(user_template))
            if template is None:
                raise InvalidConfigurationError(f"cluster template {user_template} not found")
        else:
            template = self._ensure_template(spec, spec.version)
        magnum.create_cluster(**specs.cluster_attrs(spec, template))

    def _add_missing_groups(self, spec: ClusterSpec, cluster: Any) -> None:
        present = {specs.spec_name(cluster, g) for g in self._node_groups(spec, cluster)}
        for group in spec.node_groups:
            if group.role != "control-plane" and group.name not in present:
                self._post_group(spec, cluster, group)
                return  # Magnum takes one node-group operation at a time

    def _post_group(self, spec: ClusterSpec, cluster: Any, group: NodeGroupSpec) -> None:
        self._require_idle(cluster, f"add node group {group.name}")
        self._call(spec, "POST", f"/clusters/{cluster.uuid}/nodegroups",
                   specs.node_group_body(spec, cluster, group))

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
            widen = specs.widening_patch(group.size, low, high)
            if widen:
                self._call(spec, "PATCH", path, widen)
            self._call(spec, "POST", f"/clusters/{cluster.uuid}/actions/resize",
                       {"node_count": group.size, "nodegroup": current["uuid"]})
        bounds = specs.bounds_patch(group, low, high)
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

    def default_version(self, cluster: ClusterSpec) -> str:
        """Magnum has no default Kubernetes version of its own: a named cluster template's
        ``kube_tag`` label is the one its clusters get; without one, the user must choose."""
        template_name = cluster.options.get("clusterTemplate")
        with self._errors(f"read the default version of Magnum cluster {cluster.name}"):
            template = self._get(self._magnum(cluster).get_cluster_template,
                                 str(template_name)) if template_name else None
        tag = str((template.labels or {}).get("kube_tag") or "") if template is not None else ""
        if not tag:
            raise InvalidConfigurationError(
                "spec.version is required for openstack unless spec.openstack.clusterTemplate "
                "names a template with a kube_tag label: Magnum has no default version",
                reason="VersionRequired")
        return tag.removeprefix("v")

    def upgrade(self, cluster: ClusterSpec, version: str) -> None:
        with self._errors(f"upgrade Magnum cluster {cluster.name} to {version}"):
            found = self._require_cluster(cluster)
            magnum = self._magnum(cluster)
            tag = specs.kube_tag(version)
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
            # No kubeconfig API in Magnum: its CA signs a client certificate for our own key.
            key_pem, csr_pem = admin_key_and_csr()
            signed = magnum.create_cluster_certificate(cluster_uuid=found.uuid, csr=csr_pem)
            return admin_kubeconfig(cluster.name, found.api_address, ca_pem, str(signed.pem),
                                    key_pem)

"""How a :class:`ClusterSpec` maps onto Magnum requests, and Magnum's answers back.

Pure functions: no requests are made here.
"""

from __future__ import annotations

import re
from typing import Any

from hybridcloud.providers.base import (
    ClusterSpec,
    ClusterState,
    InvalidConfigurationError,
    NodeGroupSpec,
    ObservedNodeGroup,
)

# Magnum has no tags, so which spec groups its default node groups stand for is kept in
# cluster labels.
WORKER_GROUP_LABEL = "hybridcloud_default_worker_group"
MASTER_GROUP_LABEL = "hybridcloud_control_plane_group"
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


def state(status: str | None) -> ClusterState:
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


def kube_tag(version: str) -> str:
    parts = version.lstrip("v").split(".")
    return "v" + ".".join(parts + ["0"] * (3 - len(parts)))  # Magnum needs a full image tag


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def workers(spec: ClusterSpec) -> list[NodeGroupSpec]:
    return [g for g in spec.node_groups if g.role != "control-plane"]


def masters(spec: ClusterSpec) -> list[NodeGroupSpec]:
    return [g for g in spec.node_groups if g.role == "control-plane"]


def spec_name(cluster: Any, group: dict[str, Any]) -> str | None:
    """The spec name a Magnum node group stands for (None: not one of ours)."""
    labels = cluster.labels or {}
    if group["role"] == "master":
        return labels.get(MASTER_GROUP_LABEL) if group.get("is_default") else None
    if group.get("is_default"):
        return str(labels.get(WORKER_GROUP_LABEL) or group["name"])
    return str(group["name"])


def observed_group(name: str, group: dict[str, Any]) -> ObservedNodeGroup:
    complete = str(group["status"]).endswith("_COMPLETE")
    bounded = group.get("max_node_count") is not None
    return ObservedNodeGroup(
        name=name, size=int(group["node_count"]),
        ready=int(group["node_count"]) if complete else 0,
        state=state(group["status"]), provider_id=group["uuid"],
        min_size=group.get("min_node_count") if bounded else None,
        max_size=group.get("max_node_count") if bounded else None,
        role="control-plane" if group["role"] == "master" else "worker")


def template_attrs(spec: ClusterSpec) -> dict[str, Any]:
    """A new cluster template's attributes, from the spec."""
    options = spec.options
    worker_groups, master_groups = workers(spec), masters(spec)
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
             "flavor_id": worker_groups[0].instance_type if worker_groups else None,
             "master_flavor_id": master_groups[0].instance_type if master_groups else None,
             "network_driver": spec.cni,
             "docker_volume_size": worker_groups[0].disk_size if worker_groups else None,
             "is_master_lb_enabled": bool(master_groups and master_groups[0].size > 1),
             "labels": labels}
    if not attrs["image_id"]:
        raise InvalidConfigurationError("spec.openstack.image is required unless "
                                        "spec.openstack.clusterTemplate names a template")
    return {k: v for k, v in attrs.items() if v is not None}


def template_attrs_from(base: Any) -> dict[str, Any]:
    """A new cluster template's attributes, copied from an existing template."""
    attrs = {k: getattr(base, k) for k in TEMPLATE_FIELDS if getattr(base, k, None) is not None}
    attrs["labels"] = dict(base.labels or {})
    return attrs


def cluster_attrs(spec: ClusterSpec, template: Any) -> dict[str, Any]:
    """``create_cluster`` arguments; the spec has at least one worker group."""
    first, master_groups = workers(spec)[0], masters(spec)
    # Cluster labels replace the template's in Magnum, so they repeat them (and the version,
    # which a shared template may not match).
    labels = {**(template.labels or {}), **spec.tags, WORKER_GROUP_LABEL: first.name,
              "kube_tag": kube_tag(spec.version)}
    if master_groups:
        labels[MASTER_GROUP_LABEL] = master_groups[0].name
    if first.autoscaling:
        labels.update(auto_scaling_enabled="true", min_node_count=str(first.min_size),
                      max_node_count=str(first.max_size))
    attrs: dict[str, Any] = {
        "name": spec.name, "cluster_template_id": template.uuid, "labels": labels,
        "master_count": master_groups[0].size if master_groups else 1, "node_count": first.size,
        "keypair": spec.options.get("keypair"), "flavor_id": first.instance_type,
        "master_flavor_id": master_groups[0].instance_type if master_groups else None}
    if master_groups and master_groups[0].size > 1:
        attrs["is_master_lb_enabled"] = True
    return {k: v for k, v in attrs.items() if v is not None}


def node_group_body(spec: ClusterSpec, cluster: Any, group: NodeGroupSpec) -> dict[str, Any]:
    """The POST body of a new (non-default) worker node group."""
    body: dict[str, Any] = {
        "name": group.name, "role": "worker", "node_count": group.size,
        "flavor_id": group.instance_type, "docker_volume_size": group.disk_size,
        "labels": {**(cluster.labels or {}), **spec.tags}}
    if group.autoscaling:
        body.update(min_node_count=group.min_size, max_node_count=group.max_size)
    return {k: v for k, v in body.items() if v is not None}


def widening_patch(size: int, low: int, high: int | None) -> list[dict[str, Any]]:
    """JSON patch widening a group's bounds to admit ``size`` (Magnum refuses sizes outside)."""
    patch: list[dict[str, Any]] = []
    if high is not None and size > high:
        patch.append({"op": "replace", "path": "/max_node_count", "value": size})
    if size < low:
        patch.append({"op": "replace", "path": "/min_node_count", "value": size})
    return patch


def bounds_patch(group: NodeGroupSpec, low: int, high: int | None) -> list[dict[str, Any]]:
    """JSON patch bringing a group's bounds (now ``low``/``high``) to the spec's."""
    want_low, want_high = (group.min_size, group.max_size) if group.autoscaling else (1, None)
    patch: list[dict[str, Any]] = []
    if want_low != low:
        patch.append({"op": "replace", "path": "/min_node_count", "value": want_low})
    if want_high != high:
        patch.append({"op": "remove", "path": "/max_node_count"} if want_high is None
                     else {"op": "replace", "path": "/max_node_count", "value": want_high})
    return patch

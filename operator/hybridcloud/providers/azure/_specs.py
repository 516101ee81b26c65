"""How a :class:`ClusterSpec` maps onto AKS models, and AKS's answers back.

Pure functions: no requests are made here.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from azure.mgmt.containerservice import models as aks

from hybridcloud.providers.base import (
    ClusterSpec,
    ClusterState,
    InvalidConfigurationError,
    NodeGroupSpec,
    ObservedNodeGroup,
)

DEFAULT_VM_SIZE = "Standard_D4s_v5"
NODE_GROUP_TAG = "hybridcloud-node-group"
POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
STATES = {"Creating": ClusterState.CREATING, "Succeeded": ClusterState.ACTIVE,
          "Canceled": ClusterState.ACTIVE, "Deleting": ClusterState.DELETING,
          "Failed": ClusterState.FAILED}  # Updating/Upgrading/Scaling/… → UPDATING
# cni → (networkPlugin, networkPluginMode, networkDataplane, networkPolicy)
CNI = {None: ("azure", "overlay", None, None), "azure": ("azure", "overlay", None, None),
       "kubenet": ("kubenet", None, None, None), "none": ("none", None, None, None),
       "cilium": ("azure", "overlay", "cilium", "cilium"),
       "calico": ("azure", "overlay", None, "calico")}


def pool_name(group: str) -> str:
    """A valid, stable AKS pool name for a node group name."""
    if POOL_NAME.match(group):
        return group
    base = re.sub(r"[^a-z0-9]", "", group.lower())
    if not base[:1].isalpha():
        base = "np" + base
    return base[:7] + hashlib.sha256(group.encode()).hexdigest()[:5]


def aks_version(version: str) -> str:
    return version.removeprefix("v")


def aks_taint(key: str, value: str | None, effect: str) -> str:
    return f"{key}={value}:{effect}" if value is not None else f"{key}:{effect}"


def azure_tags(tags: Mapping[str, str]) -> dict[str, str]:
    # Azure tag names may not contain <>%&\?/ ; map them to "-" deterministically.
    return {re.sub(r"[<>%&\\?/]", "-", key): value for key, value in tags.items()}


def state_of(provisioning_state: str | None) -> ClusterState:
    return STATES.get(provisioning_state or "Succeeded", ClusterState.UPDATING)


def workers(cluster: ClusterSpec) -> list[NodeGroupSpec]:
    found = [group for group in cluster.node_groups if group.role != "control-plane"]
    if not found:
        raise InvalidConfigurationError("AKS needs at least one worker node group")
    return found


def pool_fields(cluster: ClusterSpec, group: NodeGroupSpec, mode: str) -> dict[str, Any]:
    return {"count": group.size, "vm_size": group.instance_type or DEFAULT_VM_SIZE,
            "os_disk_size_gb": group.disk_size, "os_type": "Linux", "mode": mode,
            "orchestrator_version": aks_version(cluster.version),
            "enable_auto_scaling": group.autoscaling, "min_count": group.min_size,
            "max_count": group.max_size, "node_labels": dict(group.labels),
            "node_taints": [aks_taint(t.key, t.value, t.effect) for t in group.taints],
            "tags": {**azure_tags(cluster.tags), NODE_GROUP_TAG: group.name}}


def network(cluster: ClusterSpec) -> aks.ContainerServiceNetworkProfile:
    cni = cluster.cni.lower() if cluster.cni else None
    if cni not in CNI:
        raise InvalidConfigurationError(f"AKS does not offer the CNI {cluster.cni!r}; use "
                                        "azure, kubenet, cilium, calico or none")
    plugin, mode, dataplane, policy = CNI[cni]
    dns_ip = None
    if cluster.service_cidr:  # kube-dns needs an address inside the service range
        dns_ip = str(ipaddress.ip_network(cluster.service_cidr, strict=False)[10])
    return aks.ContainerServiceNetworkProfile(
        network_plugin=plugin, network_plugin_mode=mode, network_dataplane=dataplane,
        network_policy=policy, pod_cidr=cluster.cluster_cidr,
        service_cidr=cluster.service_cidr, dns_service_ip=dns_ip)


def dns_prefix(cluster: ClusterSpec) -> str:
    prefix = str(cluster.options.get("dnsPrefix") or cluster.name)
    return re.sub(r"[^A-Za-z0-9-]", "-", prefix)[:54].strip("-")


def managed_cluster(cluster: ClusterSpec, pools: list[NodeGroupSpec],
                    network_profile: aks.ContainerServiceNetworkProfile) -> aks.ManagedCluster:
    """The model of a new cluster; the first pool becomes the System pool."""
    profiles = [aks.ManagedClusterAgentPoolProfile(
        name=pool_name(g.name), **pool_fields(cluster, g, "User" if i else "System"))
        for i, g in enumerate(pools)]
    return aks.ManagedCluster(
        location=cluster.region, tags=azure_tags(cluster.tags),
        identity=aks.ManagedClusterIdentity(type="SystemAssigned"),
        properties=aks.ManagedClusterProperties(
            kubernetes_version=aks_version(cluster.version), enable_rbac=True,
            dns_prefix=dns_prefix(cluster), agent_pool_profiles=profiles,
            network_profile=network_profile))


def observed_pool(cluster_id: str, pool: aks.ManagedClusterAgentPoolProfile) \
        -> ObservedNodeGroup:
    pool_state = state_of(pool.provisioning_state)
    size = pool.count or 0
    scaling = bool(pool.enable_auto_scaling)
    # AKS reports no per-node readiness: a settled pool counts as ready, one in flux as not.
    return ObservedNodeGroup(
        name=(pool.tags or {}).get(NODE_GROUP_TAG, pool.name), size=size,
        ready=size if pool_state is ClusterState.ACTIVE else 0, state=pool_state,
        min_size=pool.min_count if scaling else None,
        max_size=pool.max_count if scaling else None,
        provider_id=f"{cluster_id}/agentPools/{pool.name}")

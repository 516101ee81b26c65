"""How a :class:`ClusterSpec` maps onto GKE request messages, and GKE's states back.

Pure functions: no requests are made here.
"""

from __future__ import annotations

from typing import Any

from google.cloud import container_v1

from hybridcloud.providers.base import (
    ClusterSpec,
    ClusterState,
    InvalidConfigurationError,
    NodeGroupSpec,
)

from ._naming import gcp_labels, gke_name

CLUSTER_STATES = {"PROVISIONING": ClusterState.CREATING, "RUNNING": ClusterState.ACTIVE,
                  "RECONCILING": ClusterState.UPDATING, "STOPPING": ClusterState.DELETING,
                  "ERROR": ClusterState.FAILED, "DEGRADED": ClusterState.FAILED}
POOL_STATES = {"PROVISIONING": ClusterState.CREATING, "RUNNING": ClusterState.ACTIVE,
               "RUNNING_WITH_ERROR": ClusterState.ACTIVE, "RECONCILING": ClusterState.UPDATING,
               "STOPPING": ClusterState.DELETING, "ERROR": ClusterState.FAILED}
TRANSITIONS = {ClusterState.CREATING, ClusterState.UPDATING, ClusterState.DELETING}
TAINT_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE",
                 "NoExecute": "NO_EXECUTE"}
RELEASE_CHANNELS = ("RAPID", "REGULAR", "STABLE", "EXTENDED")


def enum_name(value: Any) -> str:
    return str(getattr(value, "name", value))


def cluster_body(cluster: ClusterSpec) -> Any:
    """The ``Cluster`` message creating the cluster with its worker node pools."""
    return container_v1.Cluster(
        name=gke_name(cluster.name), initial_cluster_version=cluster.version,
        node_pools=[node_pool(cluster, group) for group in cluster.node_groups
                    if group.role != "control-plane"],
        resource_labels=gcp_labels(cluster.tags),
        ip_allocation_policy=container_v1.IPAllocationPolicy(
            use_ip_aliases=True, cluster_ipv4_cidr_block=cluster.cluster_cidr or "",
            services_ipv4_cidr_block=cluster.service_cidr or ""),
        release_channel=container_v1.ReleaseChannel(channel=getattr(
            container_v1.ReleaseChannel.Channel, release_channel(cluster) or "UNSPECIFIED")),
        network=str(cluster.options.get("network") or ""),
        subnetwork=str(cluster.options.get("subnetwork") or ""),
        **cni_fields(cluster.cni))


def node_pool(cluster: ClusterSpec, group: NodeGroupSpec) -> Any:
    try:
        taints = [container_v1.NodeTaint(key=t.key, value=t.value or "",
                                         effect=TAINT_EFFECTS[t.effect]) for t in group.taints]
    except KeyError as missing:
        raise InvalidConfigurationError(f"GKE does not know the taint effect {missing}; use "
                                        f"one of {', '.join(TAINT_EFFECTS)}") from None
    pool = container_v1.NodePool(
        name=gke_name(group.name), initial_node_count=group.size,
        config=container_v1.NodeConfig(
            machine_type=group.instance_type or "", disk_size_gb=group.disk_size or 0,
            labels=dict(group.labels), taints=taints,
            resource_labels=gcp_labels(cluster.tags)),
        management=container_v1.NodeManagement(
            auto_repair=True, auto_upgrade=release_channel(cluster) is not None))
    if group.autoscaling:
        low, high = group.min_size or 0, group.max_size or 0
        pool.autoscaling = container_v1.NodePoolAutoscaling(
            enabled=True, min_node_count=low, max_node_count=high)
        pool.initial_node_count = min(max(group.size, low), high)
    return pool


def release_channel(cluster: ClusterSpec) -> str | None:
    name = str(cluster.options.get("releaseChannel") or "").upper()
    if name and name not in RELEASE_CHANNELS:
        raise InvalidConfigurationError(f"GKE release channel {name!r} is not one of "
                                        f"{', '.join(RELEASE_CHANNELS)}")
    return name or None


def cni_fields(cni: str | None) -> dict[str, Any]:
    """``Cluster`` fields selecting the CNI."""
    choice = (cni or "").lower()
    if choice in ("", "gke", "default"):
        return {}
    if choice == "calico":  # GKE's network policy enforcement is Calico
        return {"network_policy": container_v1.NetworkPolicy(
                    enabled=True, provider=container_v1.NetworkPolicy.Provider.CALICO),
                "addons_config": container_v1.AddonsConfig(
                    network_policy_config=container_v1.NetworkPolicyConfig(disabled=False))}
    if choice in ("cilium", "dataplane-v2"):  # GKE Dataplane V2 is Cilium-based
        return {"network_config": container_v1.NetworkConfig(
            datapath_provider=container_v1.DatapathProvider.ADVANCED_DATAPATH)}
    raise InvalidConfigurationError(f"GKE supports the CNI choices calico and cilium "
                                    f"(Dataplane V2), not {cni!r}")

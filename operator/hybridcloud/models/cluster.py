"""The HybridCluster custom resource: a Kubernetes cluster on one provider, with node groups."""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from .common import (
    CONDITIONS_SCHEMA_EXTRA,
    DNS_LABEL,
    Condition,
    KubeModel,
    SecretKeyRef,
    cel,
    list_map,
    with_rules,
)
from .webhook import Transition


class Provider(StrEnum):
    OPENSTACK = "openstack"
    AWS = "aws"
    GCP = "gcp"
    AZURE = "azure"
    LOCAL = "local"


class ClusterPhase(StrEnum):
    PENDING = "Pending"
    CREATING = "Creating"
    ACTIVE = "Active"
    UPDATING = "Updating"
    DELETING = "Deleting"
    FAILED = "Failed"


class NodeRole(StrEnum):
    WORKER = "worker"
    CONTROL_PLANE = "control-plane"


class TaintEffect(StrEnum):
    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


class DeletionPolicy(StrEnum):
    DELETE = "Delete"
    ORPHAN = "Orphan"


class Taint(KubeModel):
    """A Kubernetes node taint applied to every node of the group."""

    key: str = Field(description="Taint key, e.g. node-role.kubernetes.io/master.", min_length=1)
    value: str | None = Field(default=None, description="Optional taint value.")
    effect: TaintEffect = Field(description="NoSchedule, PreferNoSchedule or NoExecute.")


class AutoScaling(KubeModel):
    """Cluster-autoscaler bounds for a node group."""

    model_config = with_rules(
        cel("!self.enabled || (has(self.minSize) && has(self.maxSize))",
            "minSize and maxSize are required when autoscaling is enabled"),
        cel("!has(self.minSize) || !has(self.maxSize) || self.minSize <= self.maxSize",
            "minSize must be less than or equal to maxSize", field_path=".minSize"),
    )

    enabled: bool = Field(default=False, description="Let the provider scale this group.")
    min_size: int | None = Field(default=None, ge=0, description="Lower bound on nodes.")
    max_size: int | None = Field(default=None, ge=1, description="Upper bound on nodes.")
    target_cpu: int | None = Field(
        default=None, ge=1, le=100, alias="targetCPU",
        description="Target average CPU utilisation (percent) the autoscaler aims for.",
    )

    @model_validator(mode="after")
    def _bounds(self) -> AutoScaling:
        if self.enabled and (self.min_size is None or self.max_size is None):
            raise ValueError("minSize and maxSize are required when autoscaling is enabled")
        if self.min_size is not None and self.max_size is not None \
                and self.min_size > self.max_size:
            raise ValueError("minSize must be less than or equal to maxSize")
        return self


class NodeGroup(KubeModel):
    """A homogeneous set of nodes (Magnum node group, EKS managed node group, GKE node pool,
    AKS agent pool)."""

    model_config = with_rules(
        cel("!has(self.autoScaling) || !self.autoScaling.enabled || "
            "(self.autoScaling.minSize <= self.size && "
            "self.size <= self.autoScaling.maxSize)",
            "size must lie within autoScaling minSize..maxSize", field_path=".size"),
    )

    name: str = Field(description="Node group name, unique within the cluster (DNS label).",
                      min_length=1, max_length=63, pattern=DNS_LABEL)
    size: int = Field(ge=1, le=1000, description="Desired number of nodes (at least 1).")
    role: NodeRole = Field(
        default=NodeRole.WORKER,
        description="worker, or control-plane for providers that run masters in node groups "
        "(OpenStack Magnum master count); managed control planes ignore control-plane groups.",
    )
    instance_type: str | None = Field(
        default=None, description="Provider machine type / flavor, e.g. m5.large, m1.medium.",
        max_length=128,
    )
    disk_size: int | None = Field(
        default=None, ge=1, le=65536, description="Boot/root disk size in GiB."
    )
    labels: dict[str, str] | None = Field(default=None, description="Kubernetes node labels.")
    taints: list[Taint] | None = Field(default=None, description="Kubernetes node taints.")
    auto_scaling: AutoScaling | None = Field(default=None, description="Autoscaling bounds.")

    @model_validator(mode="after")
    def _size_within_bounds(self) -> NodeGroup:
        scaling = self.auto_scaling
        if scaling and scaling.enabled and scaling.min_size is not None \
                and scaling.max_size is not None \
                and not scaling.min_size <= self.size <= scaling.max_size:
            raise ValueError("size must lie within autoScaling minSize..maxSize")
        return self


def _cidr_rule(field: str) -> dict[str, str]:
    return cel(f"!has(self.{field}) || isCIDR(self.{field})",
               f"{field} must be a valid CIDR such as 10.244.0.0/16", field_path=f".{field}")


class Networking(KubeModel):
    """Pod and service networks and the CNI plugin."""

    model_config = with_rules(
        _cidr_rule("clusterCIDR"),
        _cidr_rule("serviceCIDR"),
        cel("!has(self.clusterCIDR) || !has(self.serviceCIDR) || "
            "!isCIDR(self.clusterCIDR) || !isCIDR(self.serviceCIDR) || "
            "!(cidr(self.clusterCIDR).containsIP(cidr(self.serviceCIDR).ip()) || "
            "cidr(self.serviceCIDR).containsIP(cidr(self.clusterCIDR).ip()))",
            "clusterCIDR and serviceCIDR must not overlap"),
    )

    cluster_cidr: str | None = Field(default=None, alias="clusterCIDR", max_length=43,
                                     description="Pod network CIDR, e.g. 10.244.0.0/16.")
    service_cidr: str | None = Field(default=None, alias="serviceCIDR", max_length=43,
                                     description="Service network CIDR, e.g. 10.96.0.0/12.")
    cni: str | None = Field(default=None, max_length=63, pattern=DNS_LABEL,
                            description="CNI plugin, e.g. cilium, calico, flannel.")

    @field_validator("cluster_cidr", "service_cidr")
    @classmethod
    def _valid_cidr(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError as exc:
                raise ValueError(f"{value!r} is not a valid CIDR") from exc
            if "/" not in value:
                raise ValueError(f"{value!r} is not a valid CIDR (missing prefix length)")
        return value

    @model_validator(mode="after")
    def _disjoint(self) -> Networking:
        if self.cluster_cidr and self.service_cidr:
            pods = ipaddress.ip_network(self.cluster_cidr, strict=False)
            services = ipaddress.ip_network(self.service_cidr, strict=False)
            if pods.version == services.version and pods.overlaps(services):
                raise ValueError("clusterCIDR and serviceCIDR must not overlap")
        return self


class OpenStackOptions(KubeModel):
    """OpenStack Magnum specifics."""

    cluster_template: str | None = Field(
        default=None, description="Magnum cluster template; created from the spec when omitted.")
    image: str | None = Field(default=None, description="Glance image for nodes.")
    keypair: str | None = Field(default=None, description="Nova keypair injected into nodes.")
    external_network: str | None = Field(default=None, description="External network name/ID.")


class AWSOptions(KubeModel):
    """AWS EKS specifics."""

    role_arn: str | None = Field(default=None, description="EKS cluster IAM role ARN.")
    node_role_arn: str | None = Field(default=None, description="Managed node group IAM role.")
    subnet_ids: list[str] | None = Field(default=None, description="VPC subnets for the cluster.")
    security_group_ids: list[str] | None = Field(default=None, description="Extra security groups.")


class GCPOptions(KubeModel):
    """Google GKE specifics."""

    project: str | None = Field(default=None, description="Google Cloud project ID.")
    network: str | None = Field(default=None, description="VPC network name.")


class AzureOptions(KubeModel):
    """Azure AKS specifics."""

    subscription_id: str | None = Field(default=None, description="Azure subscription ID.")
    resource_group: str | None = Field(default=None, description="Resource group for the cluster.")
    dns_prefix: str | None = Field(default=None, description="DNS prefix of the API server FQDN.")


class HybridClusterSpec(KubeModel):
    """Desired state of a HybridCluster."""

    model_config = with_rules(
        cel("self.provider == 'local' || has(self.region)",
            "region is required for cloud providers", field_path=".region"),
        cel("self.provider == oldSelf.provider", "provider is immutable",
            field_path=".provider"),
        cel("has(self.region) == has(oldSelf.region) && "
            "(!has(self.region) || self.region == oldSelf.region)",
            "region is immutable", field_path=".region"),
    )

    provider: Provider = Field(description="Where the cluster runs: openstack, aws, gcp, azure "
                               "or local (a control plane on the operator's host).")
    region: str | None = Field(default=None, min_length=1, max_length=64,
                               description="Provider region, e.g. us-west-2, RegionOne.")
    version: str | None = Field(
        default=None, pattern=r"^v?[0-9]+\.[0-9]+(\.[0-9]+)?$",
        description="Kubernetes version, e.g. v1.28.0. Raising it upgrades the cluster, one "
        "minor version at a time. When omitted, the provider's default version for new "
        "clusters is used (local: the version the binaries were built from), recorded in "
        "status.version and never changed by the operator afterwards.",
    )
    node_groups: list[NodeGroup] = Field(
        min_length=1, max_length=100,
        description="Node groups (at least one); names are unique.",
        json_schema_extra=list_map("name"),
    )
    networking: Networking | None = Field(default=None, description="Cluster networking.")
    addons: list[str] | None = Field(
        default=None, description="Add-ons to install, e.g. ingress-nginx, cert-manager.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    credentials_ref: SecretKeyRef | None = Field(
        default=None, description="Secret holding provider credentials; the operator's "
        "configured credentials are used when omitted.")
    deletion_policy: DeletionPolicy = Field(
        default=DeletionPolicy.DELETE,
        description="Delete removes the provider cluster with this object; Orphan keeps it.")
    openstack: OpenStackOptions | None = Field(default=None, description="OpenStack options.")
    aws: AWSOptions | None = Field(default=None, description="AWS options.")
    gcp: GCPOptions | None = Field(default=None, description="Google Cloud options.")
    azure: AzureOptions | None = Field(default=None, description="Azure options.")

    @field_validator("node_groups")
    @classmethod
    def _unique_names(cls, groups: list[NodeGroup]) -> list[NodeGroup]:
        seen: set[str] = set()
        for group in groups:
            if group.name in seen:
                raise ValueError(f"duplicate node group name {group.name!r}")
            seen.add(group.name)
        return groups

    @model_validator(mode="after")
    def _region_for_clouds(self) -> HybridClusterSpec:
        if self.provider != Provider.LOCAL and not self.region:
            raise ValueError("region is required for cloud providers")
        return self


class NodeCounts(KubeModel):
    """Node counts as the REST API reports them."""

    total: int = Field(default=0, ge=0, description="All nodes.")
    ready: int = Field(default=0, ge=0, description="Nodes reporting Ready.")
    master: int = Field(default=0, ge=0, description="Control-plane nodes.")
    worker: int = Field(default=0, ge=0, description="Worker nodes.")


class NodeGroupStatus(KubeModel):
    """Observed state of one node group."""

    name: str = Field(description="Node group name.")
    size: int = Field(default=0, ge=0, description="Nodes the provider reports for the group.")
    ready: int = Field(default=0, ge=0, description="Ready nodes in the group.")
    provider_id: str | None = Field(default=None, alias="providerID",
                                    description="Provider-side node group ID.")


class HybridClusterStatus(KubeModel):
    """Observed state, written only by the operator."""

    phase: ClusterPhase | None = Field(default=None, description="Summary derived from conditions.")
    observed_generation: int | None = Field(default=None, ge=0,
                                            description="Generation the status reflects.")
    conditions: list[Condition] | None = Field(
        default=None, description="Ready, Reconciling, Stalled and sub-conditions.",
        json_schema_extra=CONDITIONS_SCHEMA_EXTRA)
    provider_name: str | None = Field(
        default=None, description="Deterministic provider-side name, recorded before creation "
        "so a restarted operator adopts instead of creating twice.")
    provider_id: str | None = Field(default=None, alias="providerID",
                                    description="Provider-side cluster ID.")
    endpoint: str | None = Field(default=None, description="Kubernetes API endpoint URL.")
    version: str | None = Field(default=None, description="Kubernetes version running now.")
    nodes: NodeCounts | None = Field(default=None, description="Node counts.")
    node_groups: list[NodeGroupStatus] | None = Field(
        default=None, description="Per node group observed sizes.",
        json_schema_extra=list_map("name"),
    )
    kubeconfig_secret: str | None = Field(
        default=None, description="Name of the Secret (data key `value`) with a kubeconfig.")
    transitions: list[Transition] | None = Field(  # webhooks: see docs/webhooks.md
        default=None, max_length=16, description="The most recent domain transitions "
        "(cluster.created, cluster.ready, …), the source of webhook and event-stream events.")


class HybridCluster(KubeModel):
    """A Kubernetes cluster on OpenStack, AWS, GCP, Azure or the local host, reconciled by the
    hybridcloud operator."""

    KIND: ClassVar[str] = "HybridCluster"
    PLURAL: ClassVar[str] = "hybridclusters"
    SHORT_NAMES: ClassVar[list[str]] = ["hc", "hclusters"]

    api_version: str = Field(default="platform.example.com/v1", alias="apiVersion")
    kind: str = Field(default="HybridCluster")
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: HybridClusterSpec
    status: HybridClusterStatus | None = None

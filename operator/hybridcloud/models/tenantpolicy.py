"""The TenantPolicy custom resource: what the platform's operator allows a tenant namespace.

Cluster-scoped on purpose: tenants edit objects in their own namespaces only, so they can never
write (or loosen) the policy that limits them, and a platform team keeps policies in Git like any
other object. A policy selects tenant namespaces by name and/or label; a namespace no policy
selects gets the defaults (``HYBRIDCLOUD_OPERATOR_TENANT_DEFAULTS``, see
:class:`hybridcloud.controllers.config.OperatorConfig`). Which policy wins when several select a
namespace, and every rule's meaning, is decided in :mod:`hybridcloud.reconcile.tenancy`.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import Field

from .common import DNS_LABEL, KubeModel, LabelSelector

NamespaceName = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL)]
_PATTERNS = ("Shell-style patterns (`*` matches any text, e.g. `arn:aws:iam::123456789012:role/*`);"
             " an empty list allows no value.")


class DeliveryRules(KubeModel):
    """What applications of the namespace may write on member clusters."""

    allowed_cluster_kinds: list[str] = Field(
        default_factory=list, max_length=100,
        description="Cluster-scoped kinds an application may write, as `Kind` or `group/Kind` "
        "(e.g. `StorageClass`, `rbac.authorization.k8s.io/ClusterRole`). Namespace and "
        "CustomResourceDefinition are governed by allowedNamespaces and allowedCRDGroups. "
        "Default: none.")
    allowed_crd_groups: list[str] = Field(
        default_factory=list, max_length=100, alias="allowedCRDGroups",
        description="API groups whose CustomResourceDefinitions an application may install. "
        + _PATTERNS)
    allowed_namespaces: list[str] | None = Field(
        default=None, max_length=100,
        description="Member namespaces an application may write to (and create). "
        + _PATTERNS + " When absent, any namespace except kube-* ones; hybridcloud-system "
        "(where the platform keeps its inventories) is never allowed, and kube-* namespaces "
        "only when listed here by their exact name.")


class AccountRules(KubeModel):
    """Account-changing provider options allowed with the platform's default credentials.

    Every list holds shell-style patterns; an empty list allows no value, so a tenant using the
    platform's credentials can only take the provider's default account, project, subscription
    and roles."""

    aws_role_arns: list[str] = Field(
        default_factory=list, max_length=100, alias="awsRoleARNs",
        description="Allowed spec.aws.roleArn and spec.aws.nodeRoleArn values.")
    gcp_projects: list[str] = Field(default_factory=list, max_length=100,
                                    description="Allowed spec.gcp.project values.")
    azure_subscription_ids: list[str] = Field(
        default_factory=list, max_length=100, alias="azureSubscriptionIDs",
        description="Allowed spec.azure.subscriptionId values.")
    azure_resource_groups: list[str] = Field(
        default_factory=list, max_length=100,
        description="Allowed spec.azure.resourceGroup values.")


class ClusterRules(KubeModel):
    """What HybridClusters of the namespace may use and how many nodes they may ask for."""

    allow_default_credentials: bool = Field(
        default=False,
        description="Let clusters without spec.credentialsRef use the platform's own cloud "
        "credentials (Secrets hybridcloud-<provider>-credentials). Default: off.")
    accounts: AccountRules = Field(
        default_factory=AccountRules,
        description="Account-changing options allowed with the platform's credentials.")
    max_clusters: int | None = Field(
        default=None, ge=0, description="Most HybridClusters the namespace may have; absent: "
        "no limit.")
    max_nodes: int | None = Field(
        default=None, ge=0, description="Most nodes all HybridClusters of the namespace may ask "
        "for together (each node group counts its size, or autoScaling.maxSize); absent: no "
        "limit.")


class TenantRules(KubeModel):
    """The limits themselves (also the shape of the operator's default rules)."""

    delivery: DeliveryRules = Field(default_factory=DeliveryRules,
                                    description="Limits on what applications write to members.")
    clusters: ClusterRules = Field(default_factory=ClusterRules,
                                   description="Limits on HybridClusters.")


class TenantPolicySpec(TenantRules):
    """Which tenant namespaces the policy governs, and their limits."""

    namespaces: list[NamespaceName] | None = Field(
        default=None, max_length=1000,
        description="Tenant namespaces selected by name. A policy naming a namespace wins over "
        "policies selecting it by label.")
    namespace_selector: LabelSelector | None = Field(
        default=None, description="Tenant namespaces selected by their labels.")


class TenantPolicy(KubeModel):
    """Limits the platform's operator sets for tenant namespaces: which objects applications
    may write on member clusters, whether the platform's cloud credentials may be used and with
    which accounts, and quotas of clusters and nodes. Cluster-scoped: tenants cannot change it."""

    KIND: ClassVar[str] = "TenantPolicy"
    PLURAL: ClassVar[str] = "tenantpolicies"
    SHORT_NAMES: ClassVar[list[str]] = ["tp"]
    CLUSTER_SCOPED: ClassVar[bool] = True

    api_version: str = Field(default="platform.example.com/v1", alias="apiVersion")
    kind: str = Field(default="TenantPolicy")
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: TenantPolicySpec
    status: None = None

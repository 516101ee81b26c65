"""The MultiClusterApplication custom resource: an app from Git placed across HybridClusters."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import Field, field_validator, model_validator

from .common import (
    CONDITIONS_SCHEMA_EXTRA,
    DNS_LABEL,
    DNS_SUBDOMAIN,
    Condition,
    KubeModel,
    LabelSelector,
    SecretKeyRef,
    cel,
    list_map,
    with_rules,
)
from .webhook import Transition

ComponentName = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL)]
# Status names clusters too, and the operator removes the app from every cluster listed there:
# whoever may write the status subresource must not point that at another namespace.
ClusterName = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)]


class SourceType(StrEnum):
    GIT = "git"


class GitSource(KubeModel):
    """Where the manifests come from. Any URL real git accepts: https://, ssh://, file://."""

    type: SourceType = Field(default=SourceType.GIT, description="Source kind; only git today.")
    repository: str = Field(min_length=1, max_length=2048,
                            description="Repository URL, e.g. https://github.com/org/app.git.")
    path: str = Field(default=".", max_length=1024,
                      description="Directory inside the repository holding manifests, a "
                      "kustomization or a Helm chart (Chart.yaml).")
    revision: str = Field(default="HEAD", min_length=1, max_length=255,
                          description="Branch, tag or commit to deploy.")
    secret_ref: SecretKeyRef | None = Field(
        default=None, description="Secret with credentials for a private repository: "
        "keys `token` (HTTPS), or `sshPrivateKey` and optional `knownHosts` (SSH). With `key`, "
        "that entry holds the token (HTTPS) or the private key (SSH URLs).")

    @field_validator("path")
    @classmethod
    def _relative_path(cls, value: str) -> str:
        if value.startswith("/") or ".." in value.split("/"):
            raise ValueError("path must be relative to the repository root and stay inside it")
        return value


class SyncPolicy(KubeModel):
    """How changes in Git and drift on member clusters are handled."""

    automated: bool = Field(default=True,
                            description="Apply new revisions without a manual sync.")
    prune: bool = Field(default=False,
                        description="Delete objects that were removed from the source.")
    self_heal: bool = Field(default=False,
                            description="Revert changes made on member clusters (drift).")


class PlacementEntry(KubeModel):
    """An explicit placement of the application (or some of its components) on one cluster."""

    cluster: str = Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN,
                         description="Name of a HybridCluster in the application's namespace.")
    components: list[ComponentName] | None = Field(
        default=None, max_length=100,
        description="Components (sub-folders of source.path, DNS labels) deployed here; all "
        "components when omitted. Common manifests always go.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    values: dict[str, Any] | None = Field(
        default=None, description="Values for this cluster, merged over spec.values.")


class PlacementStrategy(StrEnum):
    AVAILABILITY = "availability"
    SPREAD = "spread"
    PACK = "pack"


class ConstraintType(StrEnum):
    REGION_DIVERSITY = "region_diversity"
    PROVIDER_DIVERSITY = "provider_diversity"


class PlacementConstraint(KubeModel):
    """A diversity rule over the chosen clusters."""

    model_config = with_rules(
        cel("self.type != 'region_diversity' || has(self.minRegions)",
            "region_diversity needs minRegions", field_path=".minRegions"),
        cel("self.type != 'provider_diversity' || has(self.minProviders)",
            "provider_diversity needs minProviders", field_path=".minProviders"),
    )

    type: ConstraintType = Field(description="region_diversity or provider_diversity.")
    min_regions: int | None = Field(default=None, ge=1, le=100,
                                    description="Distinct regions the app must span.")
    min_providers: int | None = Field(default=None, ge=1, le=5,
                                      description="Distinct providers the app must span.")

    @model_validator(mode="after")
    def _bound_present(self) -> PlacementConstraint:
        if self.type == ConstraintType.REGION_DIVERSITY and self.min_regions is None:
            raise ValueError("region_diversity needs minRegions")
        if self.type == ConstraintType.PROVIDER_DIVERSITY and self.min_providers is None:
            raise ValueError("provider_diversity needs minProviders")
        return self


class FailoverPolicy(KubeModel):
    """What happens to the application on a member that stops answering or loses its nodes."""

    enabled: bool = Field(
        default=True, description="Re-place the application on another eligible cluster when "
        "a member stays unreachable (Ready=False, MemberUnreachable or NodesNotReady) or fails.")
    grace_period_seconds: int = Field(
        default=120, ge=0, le=86400,
        description="Seconds an unreachable member keeps the application before it moves.")


class PlacementPolicy(KubeModel):
    """How to choose clusters when they are not (all) listed explicitly."""

    strategy: PlacementStrategy = Field(
        default=PlacementStrategy.AVAILABILITY,
        description="availability: enough Active clusters across failure domains to meet the "
        "constraints, failing over when one is lost; spread: every eligible cluster; pack: as "
        "few clusters as the constraints allow.")
    cluster_selector: LabelSelector | None = Field(
        default=None, description="Only HybridClusters whose labels match are eligible.")
    cluster_count: int | None = Field(
        default=None, ge=1, le=1000,
        description="Clusters to place on (availability and pack); defaults to the constraints' "
        "minimum, or 1.")
    constraints: list[PlacementConstraint] | None = Field(
        default=None, description="Diversity constraints the placement must satisfy.")
    failover: FailoverPolicy | None = Field(
        default=None,
        description="Moving off members that become unreachable (enabled, after 120 s, when "
        "omitted); failed or deleted clusters are always left at once.")


class HybridApplicationSpec(KubeModel):
    """Desired state of a MultiClusterApplication."""

    model_config = with_rules(
        cel("(has(self.placement) && size(self.placement) > 0) || "
            "has(self.placementPolicy)",
            "either placement or placementPolicy is required"),
    )

    source: GitSource = Field(description="Git source of the manifests.")
    target_namespace: str | None = Field(
        default=None, max_length=63, pattern=DNS_LABEL,
        description="Namespace on member clusters for namespaced objects that do not set one; "
        "created when missing. Defaults to the application's namespace.")
    sync_policy: SyncPolicy = Field(default_factory=SyncPolicy,
                                    description="Automation, prune and self-heal.")
    values: dict[str, Any] | None = Field(
        default=None, description="Values: image.tag, replicas, resources, or Helm values.")
    placement: list[PlacementEntry] | None = Field(
        default=None, description="Explicit clusters (and their components).",
        json_schema_extra=list_map("cluster"))
    placement_policy: PlacementPolicy | None = Field(
        default=None, description="Policy choosing clusters beyond the explicit ones.")

    @field_validator("placement")
    @classmethod
    def _unique_clusters(cls, entries: list[PlacementEntry] | None) -> list[PlacementEntry] | None:
        names = [entry.cluster for entry in entries or []]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"cluster listed more than once: {', '.join(duplicates)}")
        return entries

    @model_validator(mode="after")
    def _placement_given(self) -> HybridApplicationSpec:
        if not self.placement and self.placement_policy is None:
            raise ValueError("either placement or placementPolicy is required")
        return self


class ApplicationPhase(StrEnum):
    PENDING = "Pending"
    PROGRESSING = "Progressing"
    DEPLOYED = "Deployed"
    DEGRADED = "Degraded"
    FAILED = "Failed"
    DELETING = "Deleting"


class DeploymentState(StrEnum):
    PENDING = "Pending"
    PROGRESSING = "Progressing"
    SYNCED = "Synced"
    OUT_OF_SYNC = "OutOfSync"
    FAILED = "Failed"
    REMOVING = "Removing"


class Health(StrEnum):
    HEALTHY = "Healthy"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    MISSING = "Missing"
    UNKNOWN = "Unknown"


class ClusterDeployment(KubeModel):
    """The application as observed on one member cluster."""

    cluster: str = Field(description="HybridCluster name.", max_length=253,
                         pattern=DNS_SUBDOMAIN)
    status: DeploymentState = Field(default=DeploymentState.PENDING,
                                    description="Sync state on this cluster.")
    health: Health = Field(default=Health.UNKNOWN,
                           description="Health from the live objects on this cluster.")
    last_sync: datetime | None = Field(default=None, description="Last successful apply.")
    revision: str | None = Field(default=None, description="Commit applied on this cluster.")
    components: list[str] | None = Field(default=None, description="Components deployed here.")
    resources: dict[str, int] | None = Field(
        default=None, description="Applied object counts by kind (deployments, services, pods…).")
    message: str | None = Field(default=None, description="Why the cluster is not synced/healthy.")
    manifest_digest: str | None = Field(
        default=None, max_length=64, description="Digest of the rendered objects last applied "
        "here in full. A rendering with another digest is applied whole; the same one is only "
        "checked object by object for drift.")


class HybridApplicationStatus(KubeModel):
    """Observed state, written only by the operator."""

    phase: ApplicationPhase | None = Field(default=None,
                                           description="Summary derived from conditions.")
    observed_generation: int | None = Field(default=None, ge=0,
                                            description="Generation the status reflects.")
    conditions: list[Condition] | None = Field(
        default=None, description="Ready, Synced, PlacementReady, Reconciling, Stalled.",
        json_schema_extra=CONDITIONS_SCHEMA_EXTRA)
    source_revision: str | None = Field(default=None,
                                        description="Commit SHA source.revision resolved to.")
    placed_clusters: list[ClusterName] | None = Field(
        default=None, description="Clusters the application is placed on now.")
    deployments: list[ClusterDeployment] | None = Field(
        default=None, description="Per-cluster delivery state.",
        json_schema_extra=list_map("cluster"))
    transitions: list[Transition] | None = Field(  # webhooks: see docs/webhooks.md
        default=None, max_length=16, description="The most recent domain transitions "
        "(application.deployed, application.failed, …), the source of webhook and "
        "event-stream events.")


class MultiClusterApplication(KubeModel):
    """An application from Git, placed across HybridClusters by explicit entries or a policy,
    kept applied with prune and self-heal."""

    KIND: ClassVar[str] = "MultiClusterApplication"
    PLURAL: ClassVar[str] = "multiclusterapplications"
    SHORT_NAMES: ClassVar[list[str]] = ["mca", "mcapps"]

    api_version: str = Field(default="platform.example.com/v1", alias="apiVersion")
    kind: str = Field(default="MultiClusterApplication")
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: HybridApplicationSpec
    status: HybridApplicationStatus | None = None

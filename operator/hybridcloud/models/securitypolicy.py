"""The SecurityPolicy custom resource: admission rules a tenant enforces on its member clusters.

A policy lives in the tenant's namespace (GitOps-friendly like the other kinds) and is compiled by
:mod:`hybridcloud.security.compiler` to a ``ValidatingAdmissionPolicy`` and its binding, which the
operator applies to every target cluster: enforcement is done by each member's own
kube-apiserver, no webhook runs. The rule catalogue is documented in
``docs/security-policies.md``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import Field, JsonValue, model_validator

from .common import (
    CONDITIONS_SCHEMA_EXTRA,
    DNS_LABEL,
    DNS_SUBDOMAIN,
    Condition,
    KubeModel,
    LabelSelector,
    cel,
    list_map,
    with_rules,
)

REGISTRY = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]([-a-z0-9._]*[a-z0-9])?)*$"
"""A registry host (optionally with port and repository path prefix), e.g. ``ghcr.io/acme``."""
LABEL_KEY = (r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
             r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
NamespaceName = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL)]
ClusterName = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)]
Registry = Annotated[str, Field(min_length=1, max_length=253, pattern=REGISTRY)]
LabelKey = Annotated[str, Field(min_length=1, max_length=317, pattern=LABEL_KEY)]
_SET: dict[str, JsonValue] = {"x-kubernetes-list-type": "set"}
RULE_FIELDS = ("requireResourceLimits", "requireResourceRequests", "requireSecurityContext",
               "disallowPrivileged", "disallowHostNamespaces", "disallowHostPath",
               "allowedRegistries", "disallowLatestTag", "requireLabels", "maxReplicas", "cel")


class Enforcement(StrEnum):
    DENY = "deny"
    WARN = "warn"
    AUDIT = "audit"


class PolicyType(StrEnum):
    ADMISSION_CONTROLLER = "admission_controller"


class TargetKind(StrEnum):
    POD = "Pod"
    DEPLOYMENT = "Deployment"
    STATEFUL_SET = "StatefulSet"
    DAEMON_SET = "DaemonSet"
    REPLICA_SET = "ReplicaSet"
    JOB = "Job"
    CRON_JOB = "CronJob"


class PolicyTargets(KubeModel):
    """Where the policy applies: member namespaces, kinds, and which of the namespace's
    clusters."""

    model_config = with_rules(
        cel("!has(self.clusters) || !has(self.clusterSelector)",
            "give clusters or clusterSelector, not both", field_path=".clusterSelector"),
    )

    namespaces: list[NamespaceName] = Field(
        min_length=1, max_length=100, json_schema_extra=_SET,
        description="Member namespaces the policy applies to (by name). Only namespaces the "
        "tenant's applications may write to are accepted (see TenantPolicy "
        "spec.delivery.allowedNamespaces); kube-* and hybridcloud-system never are by default.")
    kinds: list[TargetKind] = Field(
        default=[TargetKind.POD], min_length=1, max_length=7,
        json_schema_extra=_SET,
        description="Kinds checked. Pod also covers the pod templates of Deployments, "
        "StatefulSets, DaemonSets, ReplicaSets, Jobs and CronJobs. Default: [Pod].")
    clusters: list[ClusterName] | None = Field(
        default=None, max_length=100, json_schema_extra=_SET,
        description="HybridClusters of this namespace to enforce on, by name. With neither "
        "clusters nor clusterSelector: every cluster of the namespace, including later ones.")
    cluster_selector: LabelSelector | None = Field(
        default=None, description="HybridClusters of this namespace selected by their labels; "
        "clusters that join later and match receive the policy.")

    @model_validator(mode="after")
    def _one_cluster_choice(self) -> PolicyTargets:
        if self.clusters is not None and self.cluster_selector is not None:
            raise ValueError("give clusters or clusterSelector, not both")
        return self


class ResourceFlags(KubeModel):
    """Which resources must be set on every container."""

    model_config = with_rules(cel("self.cpu || self.memory",
                                  "at least one of cpu and memory must be true"))

    cpu: bool = Field(default=True, description="Require a cpu value.")
    memory: bool = Field(default=True, description="Require a memory value.")

    @model_validator(mode="after")
    def _something(self) -> ResourceFlags:
        if not (self.cpu or self.memory):
            raise ValueError("at least one of cpu and memory must be true")
        return self


class CelRule(KubeModel):
    """A raw CEL validation for experts (``object``, ``oldObject``, ``request`` and the
    variables ``podSpec``, ``podLabels`` and ``containers`` are available)."""

    expression: str = Field(min_length=1, max_length=4096,
                            description="CEL expression that must be true to admit the object.")
    message: str = Field(default="", max_length=1024,
                         description="Message shown when the expression is false.")


class PolicyRules(KubeModel):
    """The rule catalogue; every rule set here is enforced (see docs/security-policies.md)."""

    model_config = with_rules(
        cel(" || ".join(f"has(self.{name})" for name in RULE_FIELDS),
            "at least one rule is required"),
    )

    require_resource_limits: ResourceFlags | None = Field(
        default=None, description="Every container sets resources.limits (cpu and/or memory).")
    require_resource_requests: ResourceFlags | None = Field(
        default=None, description="Every container sets resources.requests (cpu and/or "
        "memory).")
    require_security_context: bool | None = Field(
        default=None, description="Every container runs as non-root (container or pod "
        "securityContext.runAsNonRoot), sets allowPrivilegeEscalation: false and drops ALL "
        "capabilities.")
    disallow_privileged: bool | None = Field(
        default=None, description="No container sets securityContext.privileged: true.")
    disallow_host_namespaces: bool | None = Field(
        default=None, description="The pod sets none of hostNetwork, hostPID, hostIPC.")
    disallow_host_path: bool | None = Field(
        default=None, description="The pod mounts no hostPath volume.")
    allowed_registries: list[Registry] | None = Field(
        default=None, min_length=1, max_length=50,
        description="Every container image starts with one of these registries (host, "
        "optionally with port and path, e.g. ghcr.io/acme); images must name their registry.")
    disallow_latest_tag: bool | None = Field(
        default=None, description="Every image has a tag other than latest, or a digest.")
    require_labels: list[LabelKey] | None = Field(
        default=None, min_length=1, max_length=50,
        description="Label keys every pod (and pod template) must carry.")
    max_replicas: int | None = Field(
        default=None, ge=0, le=100000,
        description="Most spec.replicas a Deployment, StatefulSet or ReplicaSet may ask for.")
    cel: list[CelRule] | None = Field(
        default=None, min_length=1, max_length=20,
        description="Raw CEL validations for experts.")

    @model_validator(mode="after")
    def _some_rule(self) -> PolicyRules:
        if not any(getattr(self, name) is not None for name in type(self).model_fields):
            raise ValueError("at least one rule is required")
        return self


class SecurityPolicySpec(KubeModel):
    """Desired state of a SecurityPolicy."""

    type: PolicyType = Field(default=PolicyType.ADMISSION_CONTROLLER,
                             description="admission_controller (the only type).")
    description: str = Field(default="", max_length=1024,
                             description="Free text shown in listings.")
    enforcement: Enforcement = Field(
        default=Enforcement.DENY, description="deny rejects violating objects, warn admits them "
        "with a warning to the client, audit admits them and records an audit annotation.")
    enabled: bool = Field(default=True, description="false removes the policy from every "
                          "cluster (the object is kept).")
    targets: PolicyTargets = Field(description="Where the policy applies.")
    rules: PolicyRules = Field(description="The rules to enforce.")


class ClusterPolicyState(StrEnum):
    APPLIED = "Applied"
    FAILED = "Failed"
    PENDING = "Pending"
    REMOVED = "Removed"


class ClusterPolicyStatus(KubeModel):
    """The policy on one target cluster."""

    cluster: str = Field(description="HybridCluster name.")
    state: ClusterPolicyState = Field(description="Applied, Failed, Pending (cluster not "
                                      "ready) or Removed (disabled).")
    reason: str | None = Field(default=None, description="Why it failed or is pending.")
    message: str | None = Field(default=None, max_length=4096,
                                description="Detail, e.g. the member's error.")
    observed_generation: int | None = Field(default=None, ge=0,
                                            description="Generation applied on this cluster.")


class SecurityPolicyStatus(KubeModel):
    """Observed state, written only by the operator."""

    observed_generation: int | None = Field(default=None, ge=0,
                                            description="Generation the status reflects.")
    conditions: list[Condition] | None = Field(
        default=None, description="Ready, Reconciling and Stalled.",
        json_schema_extra=CONDITIONS_SCHEMA_EXTRA)
    policy_name: str | None = Field(default=None, description="Name of the "
                                    "ValidatingAdmissionPolicy and binding on the members.")
    clusters: list[ClusterPolicyStatus] | None = Field(
        default=None, description="Per target cluster.", json_schema_extra=list_map("cluster"))


class SecurityPolicy(KubeModel):
    """Admission rules (resource limits, security context, registries, labels, raw CEL) enforced
    by the kube-apiserver of every target member cluster through a ValidatingAdmissionPolicy."""

    KIND: ClassVar[str] = "SecurityPolicy"
    PLURAL: ClassVar[str] = "securitypolicies"
    SHORT_NAMES: ClassVar[list[str]] = ["secpol"]

    api_version: str = Field(default="platform.example.com/v1", alias="apiVersion")
    kind: str = Field(default="SecurityPolicy")
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: SecurityPolicySpec
    status: SecurityPolicyStatus | None = None

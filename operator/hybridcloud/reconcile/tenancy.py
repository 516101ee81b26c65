"""Tenant limits: which TenantPolicy governs a namespace, and what its rules refuse.

Pure: the controllers hand in the policies and namespace labels they watch, the objects an
application would write (with their scope, as the member serves them) and the namespace's
clusters; these functions say what is refused and why, in messages that name the field and the
rule (and the policy it came from) so a tenant knows what to change or whom to ask.

Choosing the policy: a policy naming the namespace in ``spec.namespaces`` wins over policies
selecting it by label; among equals the alphabetically first name wins (deterministic, and shown
in every message). A namespace no policy selects gets the operator's default rules.

The delivery checks (:class:`Governing`, :class:`PlannedObject`, :func:`object_refusal`, ...) live
in :mod:`hybridcloud.member_writes`, which the member sync imports too; they are re-exported here
for the controllers, the API and the security compiler.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..conditions import STALLED
from ..conditions import get as get_condition
from ..member_writes import DEFAULTS_SOURCE as DEFAULTS_SOURCE
from ..member_writes import PLATFORM_NAMESPACE as PLATFORM_NAMESPACE
from ..member_writes import Governing as Governing
from ..member_writes import PlannedObject as PlannedObject
from ..member_writes import allowed_by
from ..member_writes import delivery_refusals as delivery_refusals
from ..member_writes import namespace_refusal as namespace_refusal
from ..member_writes import object_refusal as object_refusal
from ..models import HybridClusterSpec, TenantPolicy, TenantRules
from ..models.tenantpolicy import TenantPolicySpec
from .placement import matches

CREDENTIALS_REQUIRED = "CredentialsRequired"
ACCOUNT_NOT_ALLOWED = "AccountNotAllowed"
QUOTA_EXCEEDED = "QuotaExceeded"
POLICY_VIOLATION = "PolicyViolation"


def governing(namespace: str, labels: Mapping[str, str],
              policies: Iterable[Mapping[str, Any]], defaults: TenantRules) -> Governing:
    """The policy governing ``namespace`` (labels as on the management cluster)."""
    by_name: list[tuple[str, TenantPolicySpec]] = []
    by_label: list[tuple[str, TenantPolicySpec]] = []
    for body in policies:
        try:
            spec = TenantPolicySpec.model_validate(body.get("spec") or {})
        except ValueError:
            continue  # the CRD schema rejects such objects; never let one loosen anything
        name = str(body["metadata"]["name"])
        if namespace in (spec.namespaces or []):
            by_name.append((name, spec))
        elif spec.namespace_selector is not None and matches(spec.namespace_selector, labels):
            by_label.append((name, spec))
    chosen = sorted(by_name or by_label, key=lambda item: item[0])
    if not chosen:
        return Governing(defaults, DEFAULTS_SOURCE)
    name, spec = chosen[0]
    rules = TenantRules(delivery=spec.delivery, clusters=spec.clusters)
    return Governing(rules, f"{TenantPolicy.KIND} {name}")


# -- clusters ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Refusal:
    reason: str  # condition reason: CredentialsRequired, AccountNotAllowed, QuotaExceeded
    message: str


def _account_fields(spec: HybridClusterSpec) -> list[tuple[str, str | None, str]]:
    """(field path, value, allowlist field) of every option that picks a cloud account/role.

    OpenStack has none: its project and auth URL come only from the credentials Secret."""
    fields: list[tuple[str, str | None, str]] = []
    if spec.aws is not None:
        fields += [("spec.aws.roleArn", spec.aws.role_arn, "awsRoleARNs"),
                   ("spec.aws.nodeRoleArn", spec.aws.node_role_arn, "awsRoleARNs")]
    if spec.gcp is not None:
        fields.append(("spec.gcp.project", spec.gcp.project, "gcpProjects"))
    if spec.azure is not None:
        fields += [("spec.azure.subscriptionId", spec.azure.subscription_id,
                    "azureSubscriptionIDs"),
                   ("spec.azure.resourceGroup", spec.azure.resource_group,
                    "azureResourceGroups")]
    return fields


def credentials_refusal(governing: Governing, spec: HybridClusterSpec) -> Refusal | None:
    """Refuse the platform's default credentials unless the namespace opted in, and then any
    account-changing option outside the allowlists. Own credentials are the tenant's business."""
    if spec.credentials_ref is not None or str(spec.provider) == "local":
        return None
    rules = governing.rules.clusters
    if not rules.allow_default_credentials:
        return Refusal(CREDENTIALS_REQUIRED, (
            "spec.credentialsRef is required: this namespace may not use the platform's default "
            f"{spec.provider} credentials (spec.clusters.allowDefaultCredentials is off in "
            f"{governing.source})"))
    accounts = rules.accounts.model_dump(by_alias=True)
    for path, value, allowlist in _account_fields(spec):
        if value is not None and not allowed_by(value, accounts[allowlist]):
            return Refusal(ACCOUNT_NOT_ALLOWED, (
                f"{path} {value!r} is not allowed with the platform's default credentials: it is "
                f"not in spec.clusters.accounts.{allowlist} ({governing.source}); set "
                "spec.credentialsRef to use your own account"))
    return None


@dataclass(frozen=True)
class ClusterUsage:
    """What one HybridCluster of the namespace asks for and holds."""

    name: str
    created: str  # metadata.creationTimestamp (RFC 3339 sorts as text)
    demand: int  # nodes the spec asks for (autoscaling groups: maxSize)
    held: int = 0  # nodes the provider reported (status.nodeGroups sizes)
    at_provider: bool = False  # status.providerID is set: it exists in a cloud
    quota_stalled: bool = False  # its last pass stopped at a quota
    deleting: bool = False


def node_demand(spec: HybridClusterSpec) -> int:
    total = 0
    for group in spec.node_groups:
        scaling = group.auto_scaling
        bounded = scaling is not None and scaling.enabled and scaling.max_size is not None
        total += max(group.size, scaling.max_size or 0) if bounded and scaling else group.size
    return total


def usage_of(body: Mapping[str, Any]) -> ClusterUsage | None:
    """A HybridCluster object's usage; None when its spec is not valid (it gets no cloud call)."""
    meta = body["metadata"]
    try:
        spec = HybridClusterSpec.model_validate(body.get("spec") or {})
    except ValueError:
        return None
    status = body.get("status") or {}
    stalled: Mapping[str, Any] = get_condition(status.get("conditions"), STALLED) or {}
    return ClusterUsage(
        name=str(meta["name"]), created=str(meta.get("creationTimestamp") or ""),
        demand=node_demand(spec),
        held=sum(int(g.get("size") or 0) for g in status.get("nodeGroups") or []),
        at_provider=bool(status.get("providerID")),
        quota_stalled=stalled.get("status") == "True" and stalled.get("reason") == QUOTA_EXCEEDED,
        deleting=bool(meta.get("deletionTimestamp")))


def _counts(this: ClusterUsage, other: ClusterUsage) -> bool:
    """Whether ``other`` takes a share of the quota before ``this``: older clusters win, a
    cluster the quota stopped before it reached a cloud holds nothing, a deleted one neither."""
    if other.deleting or other.name == this.name:
        return False
    if other.at_provider:
        return True
    return not other.quota_stalled and (other.created, other.name) < (this.created, this.name)


def quota_refusal(governing: Governing, this: ClusterUsage,
                  namespace_clusters: Iterable[ClusterUsage]) -> Refusal | None:
    """Refuse creating (or growing) ``this`` beyond the namespace's cluster and node quotas.

    A cluster that exists at a provider is never refused for the cluster count, and only for
    nodes when it asks for more than it holds: shrinking is always allowed."""
    rules = governing.rules.clusters
    if this.deleting:
        return None
    counted = [o for o in namespace_clusters if _counts(this, o)]
    if rules.max_clusters is not None and not this.at_provider and \
            len(counted) + 1 > rules.max_clusters:
        return Refusal(QUOTA_EXCEEDED, (
            f"cluster quota exceeded: the namespace already has {len(counted)} cluster(s) and "
            f"spec.clusters.maxClusters is {rules.max_clusters} ({governing.source})"))
    if rules.max_nodes is not None and (not this.at_provider or this.demand > this.held):
        used = sum(o.held if o.quota_stalled else max(o.demand, o.held) for o in counted)
        if used + this.demand > rules.max_nodes:
            return Refusal(QUOTA_EXCEEDED, (
                f"node quota exceeded: spec.nodeGroups ask for {this.demand} node(s), the "
                f"namespace's other clusters use {used}, and spec.clusters.maxNodes is "
                f"{rules.max_nodes} ({governing.source})"))
    return None


def cluster_refusal(governing: Governing, spec: HybridClusterSpec, this: Mapping[str, Any],
                    namespace_clusters: Iterable[Mapping[str, Any]]) -> Refusal | None:
    """Everything the rules refuse of the HybridCluster object ``this``: its credentials and
    accounts first, then the quotas (counted over the namespace's cluster objects)."""
    refusal = credentials_refusal(governing, spec)
    limits = governing.rules.clusters
    if refusal is not None or (limits.max_clusters is None and limits.max_nodes is None):
        return refusal
    usage = usage_of(this)
    if usage is None:
        return None
    others = [found for body in namespace_clusters if (found := usage_of(body)) is not None]
    return quota_refusal(governing, usage, others)

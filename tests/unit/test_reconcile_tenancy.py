"""Tenant limits as pure decisions: which policy governs, what delivery and clusters may do."""

from __future__ import annotations

from typing import Any

import pytest

from hybridcloud.models import HybridClusterSpec, TenantRules
from hybridcloud.models.application import DeploymentState, Health
from hybridcloud.reconcile import tenancy
from hybridcloud.reconcile.application import ClusterOutcome, Observation, derive_status
from hybridcloud.reconcile.placement import Placement, Target
from hybridcloud.reconcile.tenancy import ClusterUsage, Governing, PlannedObject

DEFAULTS = Governing(TenantRules(), tenancy.DEFAULTS_SOURCE)


def policy(name: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": spec}


def rules(**spec: Any) -> Governing:
    return Governing(TenantRules.model_validate(spec), "TenantPolicy test")


def namespaced(kind: str, namespace: str, name: str = "x", api: str = "v1") -> PlannedObject:
    return PlannedObject(api, kind, namespace, name, "app.yaml:1")


def cluster_scoped(kind: str, api: str, name: str = "x",
                   crd_group: str | None = None) -> PlannedObject:
    return PlannedObject(api, kind, None, name, "app.yaml:1", crd_group)


# -- choosing the policy -------------------------------------------------------------------------

def test_a_namespace_no_policy_selects_gets_the_defaults() -> None:
    chosen = tenancy.governing("team-a", {}, [policy("other", namespaces=["team-b"])],
                               TenantRules())
    assert chosen.source == tenancy.DEFAULTS_SOURCE


def test_a_policy_naming_the_namespace_wins_over_one_selecting_it_by_label() -> None:
    by_label = policy("a-by-label", namespaceSelector={"matchLabels": {"tier": "gold"}},
                      clusters={"maxClusters": 50})
    by_name = policy("z-by-name", namespaces=["team-a"], clusters={"maxClusters": 2})
    chosen = tenancy.governing("team-a", {"tier": "gold"}, [by_label, by_name], TenantRules())
    assert chosen.source == "TenantPolicy z-by-name"
    assert chosen.rules.clusters.max_clusters == 2


def test_label_selection_and_alphabetical_tie_break() -> None:
    policies = [policy("beta", namespaceSelector={"matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["gold", "silver"]}]}),
        policy("alpha", namespaceSelector={"matchLabels": {"tier": "gold"}})]
    assert tenancy.governing("t", {"tier": "gold"}, policies, TenantRules()).source == \
        "TenantPolicy alpha"
    assert tenancy.governing("t", {"tier": "silver"}, policies, TenantRules()).source == \
        "TenantPolicy beta"
    assert tenancy.governing("t", {}, policies, TenantRules()).source == tenancy.DEFAULTS_SOURCE


def test_an_invalid_policy_never_loosens_anything() -> None:
    broken = policy("broken", namespaces=["team-a"], clusters={"maxClusters": "many"})
    chosen = tenancy.governing("team-a", {}, [broken], TenantRules())
    assert chosen.source == tenancy.DEFAULTS_SOURCE


# -- delivery --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "api"), [
    ("ClusterRole", "rbac.authorization.k8s.io/v1"),
    ("ClusterRoleBinding", "rbac.authorization.k8s.io/v1"),
    ("ValidatingWebhookConfiguration", "admissionregistration.k8s.io/v1"),
    ("MutatingWebhookConfiguration", "admissionregistration.k8s.io/v1"),
    ("ValidatingAdmissionPolicy", "admissionregistration.k8s.io/v1"),
    ("ValidatingAdmissionPolicyBinding", "admissionregistration.k8s.io/v1"),
    ("MutatingAdmissionPolicy", "admissionregistration.k8s.io/v1"),
    ("MutatingAdmissionPolicyBinding", "admissionregistration.k8s.io/v1"),
    ("APIService", "apiregistration.k8s.io/v1"),
    ("PriorityClass", "scheduling.k8s.io/v1"),
    ("PersistentVolume", "v1"),
])
def test_defaults_refuse_cluster_scoped_kinds_naming_the_rule(kind: str, api: str) -> None:
    why = tenancy.object_refusal(DEFAULTS, cluster_scoped(kind, api))
    assert why is not None and "spec.delivery.allowedClusterKinds" in why and kind in why
    assert tenancy.DEFAULTS_SOURCE in why


def test_a_policy_allows_a_cluster_scoped_kind_by_kind_or_group_kind() -> None:
    crb = cluster_scoped("ClusterRoleBinding", "rbac.authorization.k8s.io/v1")
    by_group = rules(delivery={"allowedClusterKinds": ["rbac.authorization.k8s.io/"
                                                       "ClusterRoleBinding"]})
    by_kind = rules(delivery={"allowedClusterKinds": ["ClusterRoleBinding"]})
    assert tenancy.object_refusal(by_group, crb) is None
    assert tenancy.object_refusal(by_kind, crb) is None
    assert tenancy.object_refusal(by_kind, cluster_scoped(
        "ClusterRole", "rbac.authorization.k8s.io/v1")) is not None


def test_crds_only_of_allowed_groups() -> None:
    crd = cluster_scoped("CustomResourceDefinition", "apiextensions.k8s.io/v1",
                         crd_group="widgets.example.com")
    refused = tenancy.object_refusal(DEFAULTS, crd)
    assert refused is not None and "allowedCRDGroups" in refused
    assert "widgets.example.com" in refused
    assert tenancy.object_refusal(
        rules(delivery={"allowedCRDGroups": ["*.example.com"]}), crd) is None
    assert tenancy.object_refusal(rules(delivery={"allowedCRDGroups": ["*.example.com"]}),
                                  cluster_scoped("CustomResourceDefinition",
                                                 "apiextensions.k8s.io/v1",
                                                 crd_group="evil.k8s.io")) is not None


@pytest.mark.parametrize("namespace", ["kube-system", "kube-public", "kube-node-lease"])
def test_kube_namespaces_are_refused_unless_named_exactly(namespace: str) -> None:
    assert tenancy.object_refusal(DEFAULTS, namespaced("ConfigMap", namespace)) is not None
    assert tenancy.object_refusal(DEFAULTS, cluster_scoped("Namespace", "v1",
                                                           namespace)) is not None
    wildcard = rules(delivery={"allowedNamespaces": ["*"]})
    assert tenancy.object_refusal(wildcard, namespaced("ConfigMap", namespace)) is not None
    exact = rules(delivery={"allowedNamespaces": [namespace]})
    assert tenancy.object_refusal(exact, namespaced("ConfigMap", namespace)) is None


def test_the_platform_namespace_is_never_writable_whatever_the_policy() -> None:
    open_door = rules(delivery={"allowedNamespaces": ["*", "hybridcloud-system"],
                                "allowedClusterKinds": ["Namespace"]})
    inventory = namespaced("ConfigMap", "hybridcloud-system", "app-1234")
    why = tenancy.object_refusal(open_door, inventory)
    assert why is not None and "reserved for the platform" in why
    assert tenancy.object_refusal(open_door, cluster_scoped("Namespace", "v1",
                                                            "hybridcloud-system")) is not None


def test_allowed_namespaces_restrict_targets_and_namespace_objects() -> None:
    only_shop = rules(delivery={"allowedNamespaces": ["shop-*"]})
    assert tenancy.object_refusal(only_shop, namespaced("Service", "shop-eu")) is None
    refused = tenancy.object_refusal(only_shop, namespaced("Service", "default"))
    assert refused is not None and "spec.delivery.allowedNamespaces" in refused
    assert tenancy.object_refusal(only_shop, cluster_scoped("Namespace", "v1", "shop-us")) is None
    assert tenancy.object_refusal(only_shop, cluster_scoped("Namespace", "v1", "bank")) \
        is not None
    assert tenancy.object_refusal(DEFAULTS, namespaced("Deployment", "anything",
                                                       api="apps/v1")) is None


def test_delivery_refusals_name_file_object_and_rule() -> None:
    found = tenancy.delivery_refusals(DEFAULTS, [
        namespaced("ConfigMap", "shop"),
        cluster_scoped("ClusterRoleBinding", "rbac.authorization.k8s.io/v1", "pwn")])
    assert found == ["app.yaml:1: ClusterRoleBinding pwn: cluster-scoped kind "
                     "rbac.authorization.k8s.io/ClusterRoleBinding is not in "
                     f"spec.delivery.allowedClusterKinds ({tenancy.DEFAULTS_SOURCE})"]


# -- clusters: credentials and accounts ----------------------------------------------------------

def spec(provider: str = "gcp", **extra: Any) -> HybridClusterSpec:
    return HybridClusterSpec.model_validate({
        "provider": provider, "region": "r1", "version": "v1.29",
        "nodeGroups": [{"name": "workers", "size": 2}], **extra})


def test_default_credentials_need_the_namespace_to_opt_in() -> None:
    refusal = tenancy.credentials_refusal(DEFAULTS, spec())
    assert refusal is not None and refusal.reason == "CredentialsRequired"
    assert "spec.credentialsRef" in refusal.message
    assert tenancy.credentials_refusal(DEFAULTS, spec(credentialsRef={"name": "mine"})) is None
    assert tenancy.credentials_refusal(DEFAULTS, spec("local")) is None


@pytest.mark.parametrize(("extra", "field", "allowlist"), [
    ({"aws": {"roleArn": "arn:aws:iam::999999999999:role/admin"}}, "spec.aws.roleArn",
     "awsRoleARNs"),
    ({"aws": {"nodeRoleArn": "arn:aws:iam::999999999999:role/n"}}, "spec.aws.nodeRoleArn",
     "awsRoleARNs"),
    ({"gcp": {"project": "someone-elses"}}, "spec.gcp.project", "gcpProjects"),
    ({"azure": {"subscriptionId": "0000-1111"}}, "spec.azure.subscriptionId",
     "azureSubscriptionIDs"),
    ({"azure": {"resourceGroup": "prod-rg"}}, "spec.azure.resourceGroup",
     "azureResourceGroups"),
])
def test_account_changing_options_outside_the_allowlist_are_refused(
        extra: dict[str, Any], field: str, allowlist: str) -> None:
    opted_in = rules(clusters={"allowDefaultCredentials": True, "accounts": {
        "awsRoleARNs": ["arn:aws:iam::123456789012:role/*"], "gcpProjects": ["team-*"],
        "azureSubscriptionIDs": ["abcd"], "azureResourceGroups": ["team-rg"]}})
    refusal = tenancy.credentials_refusal(opted_in, spec(**extra))
    assert refusal is not None and refusal.reason == "AccountNotAllowed"
    assert field in refusal.message and f"spec.clusters.accounts.{allowlist}" in refusal.message
    # The same option with the tenant's own credentials is the tenant's own business.
    assert tenancy.credentials_refusal(opted_in, spec(credentialsRef={"name": "own"},
                                                      **extra)) is None


def test_allowed_accounts_pass() -> None:
    opted_in = rules(clusters={"allowDefaultCredentials": True, "accounts": {
        "awsRoleARNs": ["arn:aws:iam::123456789012:role/*"], "gcpProjects": ["team-*"]}})
    assert tenancy.credentials_refusal(opted_in, spec(gcp={"project": "team-a"})) is None
    assert tenancy.credentials_refusal(opted_in, spec(
        "aws", aws={"roleArn": "arn:aws:iam::123456789012:role/eks"})) is None
    assert tenancy.credentials_refusal(opted_in, spec()) is None  # provider's default account


# -- clusters: quotas ----------------------------------------------------------------------------

def usage(name: str, created: str, demand: int, **kw: Any) -> ClusterUsage:
    return ClusterUsage(name, created, demand, **kw)


QUOTA = rules(clusters={"maxClusters": 2, "maxNodes": 10})


def test_the_cluster_count_quota_stops_the_newest_cluster() -> None:
    a = usage("a", "2026-01-01T00:00:00Z", 2, at_provider=True, held=2)
    b = usage("b", "2026-01-02T00:00:00Z", 2)
    c = usage("c", "2026-01-03T00:00:00Z", 2)
    everyone = [a, b, c]
    assert tenancy.quota_refusal(QUOTA, b, everyone) is None
    refusal = tenancy.quota_refusal(QUOTA, c, everyone)
    assert refusal is not None and refusal.reason == "QuotaExceeded"
    assert "spec.clusters.maxClusters is 2" in refusal.message
    assert "already has 2 cluster(s)" in refusal.message
    # A stopped, never-created cluster holds no share; a deleted one neither.
    stalled_b = usage("b", "2026-01-02T00:00:00Z", 2, quota_stalled=True)
    assert tenancy.quota_refusal(QUOTA, c, [a, stalled_b, c]) is None
    gone_b = usage("b", "2026-01-02T00:00:00Z", 2, deleting=True)
    assert tenancy.quota_refusal(QUOTA, c, [a, gone_b, c]) is None


def test_the_node_quota_names_demand_usage_and_limit() -> None:
    a = usage("a", "2026-01-01T00:00:00Z", 6, at_provider=True, held=6)
    big = usage("big", "2026-01-02T00:00:00Z", 5)
    refusal = tenancy.quota_refusal(QUOTA, big, [a, big])
    assert refusal is not None and refusal.reason == "QuotaExceeded"
    assert refusal.message.startswith("node quota exceeded: spec.nodeGroups ask for 5 node(s),"
                                      " the namespace's other clusters use 6")
    assert "spec.clusters.maxNodes is 10" in refusal.message
    assert tenancy.quota_refusal(QUOTA, usage("ok", "2026-01-02T00:00:00Z", 4), [a]) is None


def test_scaling_up_beyond_the_node_quota_is_refused_but_shrinking_never() -> None:
    other = usage("other", "2026-01-01T00:00:00Z", 5, at_provider=True, held=5)
    grown = usage("mine", "2026-01-02T00:00:00Z", 8, at_provider=True, held=4)
    assert tenancy.quota_refusal(QUOTA, grown, [other, grown]) is not None
    shrunk = usage("mine", "2026-01-02T00:00:00Z", 3, at_provider=True, held=4)
    assert tenancy.quota_refusal(QUOTA, shrunk, [other, shrunk]) is None
    # An existing cluster never falls to the count quota when it was lowered afterwards.
    tight = rules(clusters={"maxClusters": 1})
    assert tenancy.quota_refusal(tight, shrunk, [other, shrunk]) is None


def test_no_quota_and_deleting_clusters_are_never_refused() -> None:
    many = [usage(f"c{i}", f"2026-01-0{i}T00:00:00Z", 100) for i in range(1, 9)]
    assert tenancy.quota_refusal(DEFAULTS, many[-1], many) is None
    leaving = usage("x", "2026-01-09T00:00:00Z", 100, deleting=True)
    assert tenancy.quota_refusal(QUOTA, leaving, many) is None


def test_node_demand_counts_autoscaling_maximum() -> None:
    scaled = spec(nodeGroups=[{"name": "a", "size": 2},
                              {"name": "b", "size": 1, "autoScaling": {
                                  "enabled": True, "minSize": 1, "maxSize": 7}}])
    assert tenancy.node_demand(scaled) == 9


# -- an application refused by the rules -------------------------------------------------------

def test_a_policy_violation_stalls_the_application_and_keeps_what_runs() -> None:
    placed = Placement((Target("east", None, {}),), True, "Placed", "placed on east")
    running = ClusterOutcome("east", DeploymentState.SYNCED, Health.HEALTHY, revision="a" * 40,
                             synced_now=True)
    before = derive_status(None, Observation(1, revision="a" * 40, placement=placed,
                                             outcomes=[running]), now="2026-01-01T00:00:00Z")
    why = "cluster east: rbac.yaml:1: ClusterRoleBinding x: cluster-scoped kind ..."
    after = derive_status(before.status, Observation(
        2, revision="b" * 40, placement=placed, policy_error=why,
        outcomes=[ClusterOutcome("east", DeploymentState.SYNCED, Health.HEALTHY,
                                 revision="a" * 40)]), now="2026-01-01T00:05:00Z").status
    found = {c["type"]: (c["status"], c["reason"], c["message"]) for c in after["conditions"]}
    assert found["Synced"] == ("False", "PolicyViolation", why)
    assert found["Stalled"] == ("True", "PolicyViolation", why)
    assert after["phase"] == "Failed"
    assert after["deployments"][0]["revision"] == "a" * 40, "what runs is recorded unchanged"


def test_cluster_refusal_checks_credentials_then_quotas_over_the_namespace_objects() -> None:
    def body(name: str, created: str, size: int) -> dict[str, Any]:
        return {"metadata": {"name": name, "creationTimestamp": created},
                "spec": {"provider": "gcp", "region": "r1", "version": "v1.29",
                         "nodeGroups": [{"name": "workers", "size": size}]}}
    old, new = body("old", "2026-01-01T00:00:00Z", 3), body("new", "2026-01-02T00:00:00Z", 3)
    limited = rules(clusters={"allowDefaultCredentials": True, "maxNodes": 5})
    refusal = tenancy.cluster_refusal(limited, spec(), new, [old, new])
    assert refusal is not None and refusal.reason == "QuotaExceeded"
    assert tenancy.cluster_refusal(limited, spec(), old, [old, new]) is None
    closed = tenancy.cluster_refusal(rules(clusters={"maxNodes": 5}), spec(), new, [old, new])
    assert closed is not None and closed.reason == "CredentialsRequired"

"""The SecurityPolicy compiler (pure): spec → ValidatingAdmissionPolicy + binding.

Whether the CEL really denies and admits is proven against a member's kube-apiserver in
tests/integration/test_security_policies.py; here: the shape, the mapping of enforcement,
namespaces and kinds, names, escaping, and the per-cluster status decisions."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from hybridcloud.models import SecurityPolicySpec, TenantRules
from hybridcloud.models.securitypolicy import ClusterPolicyState, TargetKind
from hybridcloud.models.tenantpolicy import DeliveryRules
from hybridcloud.reconcile import tenancy
from hybridcloud.reconcile.placement import ClusterFacts
from hybridcloud.security import compiler, decisions
from hybridcloud.security.decisions import ClusterOutcome


def spec(**overrides: Any) -> SecurityPolicySpec:
    body: dict[str, Any] = {"enforcement": "deny",
                            "targets": {"namespaces": ["production"], "kinds": ["Pod"]},
                            "rules": {"requireResourceLimits": {"cpu": True, "memory": True}}}
    body.update(overrides)
    return SecurityPolicySpec.model_validate(body)


@pytest.mark.parametrize(("enforcement", "action"),
                         [("deny", "Deny"), ("warn", "Warn"), ("audit", "Audit")])
def test_enforcement_maps_to_the_bindings_validation_action(enforcement: str,
                                                            action: str) -> None:
    compiled = compiler.compile_policy("shop", "limits", "uid-1", spec(enforcement=enforcement))
    assert compiled.binding["spec"]["validationActions"] == [action]
    assert compiled.binding["spec"]["policyName"] == compiled.policy["metadata"]["name"]


def test_namespaces_become_a_metadata_name_selector_on_policy_and_binding() -> None:
    compiled = compiler.compile_policy("shop", "limits", "uid-1", spec(
        targets={"namespaces": ["b", "a"]}))
    expected = {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In",
                                      "values": ["a", "b"]}]}
    assert compiled.policy["spec"]["matchConstraints"]["namespaceSelector"] == expected
    assert compiled.binding["spec"]["matchResources"]["namespaceSelector"] == expected


def test_pod_kind_also_matches_every_workload_with_a_pod_template() -> None:
    rules = compiler.resource_rules([TargetKind.POD])
    matched = {(r["apiGroups"][0], res) for r in rules for res in r["resources"]}
    assert matched == {("", "pods"), ("apps", "deployments"), ("apps", "statefulsets"),
                       ("apps", "daemonsets"), ("apps", "replicasets"), ("batch", "jobs"),
                       ("batch", "cronjobs")}
    only = compiler.resource_rules([TargetKind.DEPLOYMENT])
    assert only == [{"apiGroups": ["apps"], "apiVersions": ["v1"], "resources": ["deployments"],
                     "operations": ["CREATE", "UPDATE"]}]


def test_pod_spec_variable_reaches_pods_templates_and_cronjob_templates() -> None:
    variables = {v["name"]: v["expression"] for v in compiler.VARIABLES}
    assert "object.spec.jobTemplate.spec.template.spec" in variables["podSpec"]
    assert "object.spec.template.spec" in variables["podSpec"]
    assert list(variables)[:2] == ["podSpec", "podMeta"]  # used by the later ones


def test_every_catalogue_rule_compiles_to_validations_naming_rule_and_field() -> None:
    rules = {"requireResourceLimits": {"cpu": True, "memory": False},
             "requireResourceRequests": {}, "requireSecurityContext": True,
             "disallowPrivileged": True, "disallowHostNamespaces": True,
             "disallowHostPath": True, "allowedRegistries": ["ghcr.io/acme"],
             "disallowLatestTag": True, "requireLabels": ["team"], "maxReplicas": 3,
             "cel": [{"expression": "object.metadata.name != 'x'", "message": "no x"}]}
    found = compiler.validations(spec(rules=rules).rules)
    by_rule: dict[str, list[compiler.Validation]] = {}
    for v in found:
        by_rule.setdefault(v.rule, []).append(v)
    assert sorted(by_rule) == sorted(["require_resource_limits", "require_resource_requests",
                                      "require_security_context", "disallow_privileged",
                                      "disallow_host_namespaces", "disallow_host_path",
                                      "allowed_registries", "disallow_latest_tag",
                                      "require_labels", "max_replicas", "cel[0]"])
    assert len(by_rule["require_resource_limits"]) == 1  # memory off
    assert "resources.limits.cpu" in by_rule["require_resource_limits"][0].message_expression
    assert len(by_rule["require_resource_requests"]) == 2
    assert len(by_rule["require_security_context"]) == 3
    assert len(by_rule["disallow_host_namespaces"]) == 3
    for v in found:
        if v.rule != "cel[0]":
            assert v.message_expression.startswith(f"'{v.rule}:")
    per_container = by_rule["disallow_privileged"][0].message_expression
    assert "map(c, c.name)" in per_container and "securityContext.privileged" in per_container


def test_member_names_come_from_namespace_and_policy_and_never_collide() -> None:
    # DNS labels carry no dots, so splitting on them recovers the pair: one-to-one.
    a = compiler.member_object_name("team-a", "limits")
    b = compiler.member_object_name("team", "a-limits")
    assert a == "hybridcloud.team-a.limits" and a != b
    compiled = compiler.compile_policy("team-a", "limits", "u", spec())
    assert compiled.name == a
    labels = compiled.policy["metadata"]["labels"]
    assert compiler.owned_by(compiled.policy, "team-a", "limits")
    assert not compiler.owned_by(compiled.policy, "team-b", "limits")
    assert not compiler.owned_by({"metadata": {"labels": {**labels,
                                  compiler.MANAGED_BY: "someone"}}}, "team-a", "limits")


def test_tenant_values_are_escaped_as_cel_strings() -> None:
    assert compiler.cel_string("it's\\") == "'it\\'s\\\\'"
    raw = spec(rules={"cel": [{"expression": "true", "message": "quote ' here"}]})
    (validation,) = compiler.validations(raw.rules)
    assert validation.message_expression == "'cel[0]: quote \\' here'"


@pytest.mark.parametrize("bad", [
    {"rules": {}},
    {"rules": {"requireResourceLimits": {"cpu": False, "memory": False}}},
    {"rules": {"allowedRegistries": ["bad registry'"]}},
    {"rules": {"requireLabels": ["no spaces allowed"]}},
    {"rules": {"unknownRule": True}},
    {"targets": {"namespaces": []}},
    {"targets": {"namespaces": ["UPPER"]}},
    {"targets": {"namespaces": ["a"], "clusters": ["x"], "clusterSelector": {}}},
    {"targets": {"namespaces": ["a"], "kinds": ["Service"]}},
])
def test_specs_the_crd_would_reject_are_rejected_by_the_model(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        spec(**bad)


def facts(name: str, phase: str = "Active", **labels: str) -> ClusterFacts:
    return ClusterFacts(name=name, phase=phase, provider="local", labels=labels)


def test_targets_are_explicit_selected_or_all_and_unready_ones_wait() -> None:
    known = {"a": facts("a", pool="x"), "b": facts("b", "Creating", pool="x"),
             "c": facts("c", pool="y")}
    every = decisions.target_clusters(spec().targets, known)
    assert every.ready == ["a", "c"] and set(every.waiting) == {"b"}
    selected = decisions.target_clusters(spec(targets={
        "namespaces": ["p"], "clusterSelector": {"matchLabels": {"pool": "x"}}}).targets, known)
    assert selected.ready == ["a"] and set(selected.waiting) == {"b"}
    explicit = decisions.target_clusters(spec(targets={
        "namespaces": ["p"], "clusters": ["c", "ghost"]}).targets, known)
    assert explicit.ready == ["c"]
    assert explicit.waiting["ghost"][0] == decisions.CLUSTER_NOT_FOUND


def test_a_policy_may_not_target_namespaces_its_tenant_may_not_write() -> None:
    defaults = tenancy.Governing(TenantRules(), tenancy.DEFAULTS_SOURCE)
    refused = decisions.namespace_refusals(defaults, ["apps", "kube-system",
                                                      "hybridcloud-system"])
    assert [r.split(":", 1)[0] for r in refused] == ["spec.targets.namespaces[1]",
                                                      "spec.targets.namespaces[2]"]
    narrow = tenancy.Governing(TenantRules(delivery=DeliveryRules(
        allowed_namespaces=["shop-*"])), "TenantPolicy shop")
    (only,) = decisions.namespace_refusals(narrow, ["shop-prod", "billing"])
    assert "billing" in only and "TenantPolicy shop" in only


def test_status_reports_each_cluster_and_summarises_in_conditions() -> None:
    applied = decisions.derive_status(None, generation=2, policy_name="p", outcomes=[
        ClusterOutcome("b", ClusterPolicyState.APPLIED), ClusterOutcome("a",
                                                                       ClusterPolicyState.APPLIED)],
        now="2026-01-01T00:00:00Z")
    assert [c["cluster"] for c in applied["clusters"]] == ["a", "b"]
    assert applied["clusters"][0]["observedGeneration"] == 2
    ready = {c["type"]: c for c in applied["conditions"]}
    assert ready["Ready"]["status"] == "True" and "Stalled" not in ready
    failed = decisions.derive_status(applied, generation=3, policy_name="p", outcomes=[
        ClusterOutcome("a", ClusterPolicyState.FAILED, "ApplyFailed", "denied: boom")])
    conds = {c["type"]: c for c in failed["conditions"]}
    assert conds["Ready"]["status"] == "False" and "cluster a: denied: boom" in \
        conds["Ready"]["message"]
    assert failed["clusters"][0]["reason"] == "ApplyFailed"
    stalled = decisions.derive_status(None, generation=1, policy_name="p", outcomes=[],
                                      stalled=("PolicyViolation", "no"))
    conds = {c["type"]: c for c in stalled["conditions"]}
    assert conds["Stalled"]["status"] == "True" and conds["Ready"]["reason"] == \
        "PolicyViolation"

"""SecurityPolicy rules evaluated by a scan (pure): per catalogue rule a violating and a compliant
workload, the admission message's wording, and which policies apply to a scanned cluster."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from hybridcloud.models import SecurityPolicySpec, TenantRules
from hybridcloud.models.tenantpolicy import DeliveryRules
from hybridcloud.reconcile import tenancy
from hybridcloud.reconcile.placement import ClusterFacts
from hybridcloud.security import compiler, policy_checks
from hybridcloud.security.policy_checks import PolicyInForce

IMAGE = "ghcr.io/acme/web:1.2"


def container(name: str = "app", **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": IMAGE,
            "resources": {"limits": {"cpu": "1", "memory": "1Gi"},
                          "requests": {"cpu": "1", "memory": "1Gi"}},
            "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]}}, **extra}


def deployment(*containers: dict[str, Any], replicas: int = 2, namespace: str = "shop",
               labels: dict[str, str] | None = None, **pod: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {"replicas": replicas, "template": {
                "metadata": {"labels": labels if labels is not None else {"team": "a"}},
                "spec": {"containers": list(containers) or [container()], **pod}}}}


def policy(rules: dict[str, Any], name: str = "p", **targets: Any) -> PolicyInForce:
    spec = SecurityPolicySpec.model_validate({
        "enforcement": "audit", "targets": {"namespaces": ["shop"], **targets}, "rules": rules})
    return PolicyInForce(name, spec)


def messages(obj: dict[str, Any], rules: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(f.check_id, f.target, f.message) for f in policy_checks.check(obj, [policy(rules)])]


# (rules, a violating workload, the finding it gives); the compliant workload is deployment().
WHERE = "Deployment/shop/web"
CASES: dict[str, tuple[dict[str, Any], dict[str, Any], list[tuple[str, str, str]]]] = {
    "require_resource_limits": (
        {"requireResourceLimits": {"cpu": True, "memory": False}},
        deployment(container(resources={"limits": {"memory": "1Gi"}})),
        [("require_resource_limits", f"{WHERE} container app",
          "require_resource_limits: container app must set resources.limits.cpu")]),
    "require_resource_requests": (
        {"requireResourceRequests": {"cpu": True, "memory": True}},
        deployment(container(resources={"requests": {"cpu": "1"}})),
        [("require_resource_requests", f"{WHERE} container app",
          "require_resource_requests: container app must set resources.requests.memory")]),
    "require_security_context": (
        {"requireSecurityContext": True},
        deployment(container(securityContext={"allowPrivilegeEscalation": True})),
        [("require_security_context", f"{WHERE} container app",
          "require_security_context: container app must set securityContext.runAsNonRoot: "
          "true (or the pod's)"),
         ("require_security_context", f"{WHERE} container app",
          "require_security_context: container app must set "
          "securityContext.allowPrivilegeEscalation: false"),
         ("require_security_context", f"{WHERE} container app",
          "require_security_context: container app must set "
          "securityContext.capabilities.drop: [ALL]")]),
    "disallow_privileged": (
        {"disallowPrivileged": True},
        deployment(container(), container("sidecar", securityContext={"privileged": True})),
        [("disallow_privileged", f"{WHERE} container sidecar",
          "disallow_privileged: container sidecar must set securityContext.privileged: false "
          "(or leave it unset)")]),
    "disallow_host_namespaces": (
        {"disallowHostNamespaces": True},
        deployment(hostPID=True, hostNetwork=False),
        [("disallow_host_namespaces", WHERE,
          "disallow_host_namespaces: the pod must not set hostPID: true")]),
    "disallow_host_path": (
        {"disallowHostPath": True},
        deployment(volumes=[{"name": "tmp", "emptyDir": {}},
                            {"name": "root", "hostPath": {"path": "/"}},
                            {"name": "logs", "hostPath": {"path": "/var/log"}}]),
        [("disallow_host_path", WHERE,
          "disallow_host_path: volume root, logs must not use hostPath")]),
    "allowed_registries": (
        {"allowedRegistries": ["ghcr.io/acme", "registry.internal:5000"]},
        # A prefix of the allowed path is not that path: ghcr.io/acme-evil is foreign.
        deployment(container(image="ghcr.io/acme-evil/web:1")),
        [("allowed_registries", f"{WHERE} container app",
          "allowed_registries: container app (image ghcr.io/acme-evil/web:1) must pull from "
          "one of: ghcr.io/acme, registry.internal:5000")]),
    "disallow_latest_tag": (
        {"disallowLatestTag": True},
        deployment(container(image="registry.internal:5000/web"),
                   container("b", image="ghcr.io/acme/web:latest")),
        [("disallow_latest_tag", f"{WHERE} container {name}",
          f"disallow_latest_tag: container {name} must set image with a tag other than latest "
          "(or a digest)") for name in ("app", "b")]),
    "require_labels": (
        {"requireLabels": ["team", "app.kubernetes.io/name", "tier"]},
        deployment(labels={"tier": "web"}),
        [("require_labels", WHERE, "require_labels: the pod (template) must carry label(s) "
          "team, app.kubernetes.io/name in metadata.labels")]),
    "max_replicas": (
        {"maxReplicas": 3},
        deployment(replicas=5),
        [("max_replicas", WHERE, "max_replicas: spec.replicas 5 exceeds the maximum of 3")]),
}
COMPLIANT_RULES = {"requireLabels": ["team"]}


@pytest.mark.parametrize("rule", sorted(CASES))
def test_each_rule_reports_a_violating_workload_with_the_admission_wording(rule: str) -> None:
    rules, violating, expected = CASES[rule]
    assert messages(violating, rules) == expected


@pytest.mark.parametrize("rule", sorted(CASES))
def test_each_rule_finds_nothing_on_a_compliant_workload(rule: str) -> None:
    rules, _, _ = CASES[rule]
    compliant = deployment(labels={"team": "a", "app.kubernetes.io/name": "web", "tier": "w"})
    assert messages(compliant, rules) == []


def test_the_compilers_admission_message_has_the_same_wording() -> None:
    """The compiler's messageExpression is the scan's message with the names left to CEL."""
    validation, = compiler.validations(policy({"disallowLatestTag": True}).spec.rules)
    assert validation.message_expression == (
        "'disallow_latest_tag: container ' + variables.containers.filter(c, !(" +
        validation.expression.removeprefix("variables.containers.all(c, ")[:-1] +
        ")).map(c, c.name).join(', ') + ' must set image with a tag other than latest "
        "(or a digest)'")


def test_init_containers_count_and_a_pod_level_run_as_non_root_satisfies_containers() -> None:
    rules = {"requireSecurityContext": True}
    relaxed = container()
    del relaxed["securityContext"]["runAsNonRoot"]
    init = container("init")
    init["securityContext"]["runAsNonRoot"] = False  # its own false beats the pod's true
    obj = deployment(relaxed, securityContext={"runAsNonRoot": True}, initContainers=[init])
    assert [(f[1], f[2].split(" must set ")[1]) for f in messages(obj, rules)] == [
        (f"{WHERE} container init", "securityContext.runAsNonRoot: true (or the pod's)")]


def test_digests_and_tags_pin_images_even_behind_a_registry_port() -> None:
    rules = {"disallowLatestTag": True}
    for image in ("reg:5000/web@sha256:" + "a" * 64, "reg:5000/web:1.0", "web:v2"):
        assert messages(deployment(container(image=image)), rules) == [], image
    assert len(messages(deployment(container(image="reg:5000/web")), rules)) == 1


def test_pods_and_cronjob_templates_are_checked_like_deployments() -> None:
    rules = {"requireLabels": ["team"]}
    pod = {"kind": "Pod", "metadata": {"name": "p", "namespace": "shop", "labels": {}},
           "spec": {"containers": [container()]}}
    cron = {"kind": "CronJob", "metadata": {"name": "c", "namespace": "shop"},
            "spec": {"jobTemplate": {"spec": {"template": {
                "metadata": {"labels": {"team": "a"}}, "spec": {"containers": [container()]}}}}}}
    assert [f[1] for f in messages(pod, rules)] == ["Pod/shop/p"]
    assert messages(cron, rules) == []


def test_max_replicas_only_judges_replicated_kinds() -> None:
    job = deployment(replicas=50)
    job["kind"] = "DaemonSet"
    assert messages(job, {"maxReplicas": 3}) == []


def test_a_policy_applies_only_to_its_namespaces_and_kinds() -> None:
    rules = {"maxReplicas": 1}
    assert policy_checks.check(deployment(namespace="other"), [policy(rules)]) == []
    only_jobs = policy(rules, kinds=["Job"])
    assert policy_checks.check(deployment(), [only_jobs]) == []
    only_deployments = policy(rules, name="d", kinds=["Deployment"])
    (found,) = policy_checks.check(deployment(), [only_deployments])
    assert (found.policy, found.severity, found.title) == ("d", "LOW", "Replica limit")


def test_raw_cel_rules_are_not_evaluated_by_a_scan() -> None:
    rules = {"cel": [{"expression": "false", "message": "never"}]}
    assert messages(deployment(), rules) == []


# -- which policies apply to the scanned cluster ---------------------------------------------

CLUSTER = ClusterFacts(name="east", phase="Active", provider="local", labels={"tier": "gpu"})
OPEN = tenancy.Governing(TenantRules(), "defaults")


def body(name: str, **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"enforcement": "audit", "targets": {"namespaces": ["shop"]},
                            "rules": {"disallowLatestTag": True}}
    merged = copy.deepcopy(base)
    merged.update(spec)
    return {"metadata": {"name": name}, "spec": merged}


def test_policies_in_force_select_the_cluster_by_name_selector_or_all() -> None:
    bodies = [
        body("all"),
        body("by-name", targets={"namespaces": ["shop"], "clusters": ["east"]}),
        body("by-label", targets={"namespaces": ["shop"],
                                  "clusterSelector": {"matchLabels": {"tier": "gpu"}}}),
        body("other-name", targets={"namespaces": ["shop"], "clusters": ["west"]}),
        body("other-label", targets={"namespaces": ["shop"],
                                     "clusterSelector": {"matchLabels": {"tier": "cpu"}}}),
    ]
    names = [p.name for p in policy_checks.in_force(bodies, CLUSTER, OPEN)]
    assert names == ["all", "by-label", "by-name"]


def test_disabled_invalid_deleting_and_refused_policies_are_not_in_force() -> None:
    deleting = body("deleting")
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    bodies = [body("disabled", enabled=False), body("invalid", rules={}), deleting,
              body("system", targets={"namespaces": ["kube-system"]}), body("kept")]
    assert [p.name for p in policy_checks.in_force(bodies, CLUSTER, OPEN)] == ["kept"]
    narrow = tenancy.Governing(TenantRules(delivery=DeliveryRules(
        allowed_namespaces=["billing"])), "TenantPolicy t")
    assert policy_checks.in_force([body("shop")], CLUSTER, narrow) == []

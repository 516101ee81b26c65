"""The generated SecurityPolicy CRD on a real kube-apiserver: what `kubectl apply` of a bad
policy gets (schema and CEL rejections naming the field), printer columns, `kubectl explain`."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.integration
Kubectl = Callable[..., subprocess.CompletedProcess[str]]

VALID: dict[str, Any] = {
    "apiVersion": "platform.example.com/v1", "kind": "SecurityPolicy",
    "metadata": {"name": "limits"},
    "spec": {"enforcement": "deny", "targets": {"namespaces": ["production"]},
             "rules": {"requireResourceLimits": {"cpu": True, "memory": True}}},
}


def apply(kubectl: Kubectl, namespace: str,
          obj: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return kubectl("apply", "--server-side", "-n", namespace, "-f", "-", stdin=json.dumps(obj))


def with_spec(**spec: Any) -> dict[str, Any]:
    obj = copy.deepcopy(VALID)
    obj["spec"].update(spec)
    return obj


def test_a_valid_policy_gets_defaults_and_shows_its_columns(kubectl: Kubectl,
                                                            namespace: str) -> None:
    assert apply(kubectl, namespace, VALID).returncode == 0
    stored = json.loads(kubectl("get", "securitypolicy", "limits", "-n", namespace,
                                "-o", "json").stdout)
    assert stored["spec"]["enabled"] is True and stored["spec"]["targets"]["kinds"] == ["Pod"]
    assert stored["spec"]["type"] == "admission_controller"
    table = kubectl("get", "secpol", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "ENFORCEMENT", "ENABLED", "NAMESPACES", "READY", "AGE"]
    assert table[1].split()[:3] == ["limits", "deny", "true"]


@pytest.mark.parametrize(("spec", "complaint"), [
    ({"rules": {}}, "at least one rule is required"),
    ({"rules": {"requireResourceLimits": {"cpu": False, "memory": False}}},
     "at least one of cpu and memory must be true"),
    ({"targets": {"namespaces": ["p"], "clusters": ["a"], "clusterSelector": {}}},
     "give clusters or clusterSelector, not both"),
    ({"targets": {"namespaces": []}}, "spec.targets.namespaces"),
    ({"targets": {"namespaces": ["p"], "kinds": ["Service"]}}, "spec.targets.kinds[0]"),
    ({"enforcement": "block"}, "spec.enforcement"),
    ({"rules": {"allowedRegistries": ["evil registry'"]}}, "spec.rules.allowedRegistries[0]"),
    ({"rules": {"requireMagic": True}}, ".spec.rules.requireMagic: field not declared"),
    ({"rules": {"maxReplicas": -1}}, "spec.rules.maxReplicas"),
])
def test_bad_policies_are_rejected_naming_the_field_or_rule(
        kubectl: Kubectl, namespace: str, spec: dict[str, Any], complaint: str) -> None:
    result = apply(kubectl, namespace, with_spec(**spec))
    assert result.returncode != 0
    assert complaint in result.stderr, result.stderr


def test_kubectl_explain_describes_the_rule_catalogue(kubectl: Kubectl) -> None:
    result = kubectl("explain", "securitypolicy.spec.rules")
    assert result.returncode == 0, result.stderr
    assert "disallowLatestTag" in result.stdout and "allowedRegistries" in result.stdout
    assert "Every container sets resources.limits" in result.stdout

"""The Security API against the real management apiserver: the contract's policy shapes, RBAC,
bad input (unknown rules, CEL the kube-apiserver's compiler refuses, namespaces the tenant may
not police). Scans: test_security_scans.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from lightkube import Client

from hybridcloud.api.settings import Settings
from hybridcloud.controlplane import ControlPlane
from hybridcloud.kube.resources import SecurityPolicyResource

from .api_support import bearer, identity, serve

pytestmark = pytest.mark.integration

CONTRACT_BODY: dict[str, Any] = {
    "name": "require-resource-limits",
    "type": "admission_controller",
    "description": "Require resource limits for all containers",
    "enforcement": "deny",
    "targets": {"namespaces": ["production"], "kinds": ["Pod"]},
    "rules": {"require_resource_limits": {"cpu": True, "memory": True}},
}


@pytest.fixture(scope="module")
def api(management: ControlPlane) -> Iterator[str]:
    with serve(Settings(kubeconfig=str(management.kubeconfig), auth_cache_seconds=0)) as base:
        yield base


@pytest.fixture
def client(api: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api, timeout=30) as http:
        yield http


@pytest.fixture
def tenant(kube: Client, namespace: str) -> dict[str, str]:
    return bearer(identity(kube, namespace, "tenant"))


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


def stored(kube: Client, namespace: str) -> list[str]:
    return [p.metadata.name for p in kube.list(SecurityPolicyResource, namespace=namespace)]


def test_policy_round_trip_in_the_contract_shape(client: httpx.Client, kube: Client,
                                                 namespace: str,
                                                 tenant: dict[str, str]) -> None:
    created = client.post("/v1/security/policies", json=CONTRACT_BODY, headers=tenant)
    assert created.status_code == 201, created.text
    view = created.json()
    assert view["id"] == view["name"] == "require-resource-limits"
    assert view["type"] == "admission_controller" and view["enabled"] is True
    assert view["targets"] == {"namespaces": ["production"], "kinds": ["Pod"]}
    assert view["rules"] == {"require_resource_limits": {"cpu": True, "memory": True}}
    assert view["created_at"] and view["status"] == "pending"
    obj = kube.get(SecurityPolicyResource, "require-resource-limits", namespace=namespace)
    assert obj["spec"]["rules"] == {"requireResourceLimits": {"cpu": True, "memory": True}}

    listed = client.get("/v1/security/policies", headers=tenant).json()
    assert [p["id"] for p in listed["policies"]] == ["require-resource-limits"]
    assert client.get("/v1/security/policies/require-resource-limits",
                      headers=tenant).json()["description"] == CONTRACT_BODY["description"]

    patched = client.patch("/v1/security/policies/require-resource-limits",
                           json={"enabled": False}, headers=tenant)
    assert patched.status_code == 200, patched.text
    assert patched.json()["enabled"] is False and patched.json()["status"] == "disabled"
    assert patched.json()["rules"] == view["rules"]  # a toggle keeps everything else
    replaced = client.patch("/v1/security/policies/require-resource-limits",
                            json={"rules": {"disallow_privileged": True}}, headers=tenant)
    assert replaced.json()["rules"] == {"disallow_privileged": True}

    deleted = client.delete("/v1/security/policies/require-resource-limits", headers=tenant)
    assert deleted.status_code == 202 and deleted.json()["status"] == "deleting"
    error_of(client.get("/v1/security/policies/require-resource-limits", headers=tenant),
             404, "NOT_FOUND")
    assert stored(kube, namespace) == []


def test_require_resource_limits_true_means_cpu_and_memory(
        client: httpx.Client, tenant: dict[str, str]) -> None:
    body = {**CONTRACT_BODY, "name": "short", "rules": {"require_resource_limits": True,
                                                        "max_replicas": 4}}
    view = client.post("/v1/security/policies", json=body, headers=tenant).json()
    assert view["rules"] == {"require_resource_limits": {"cpu": True, "memory": True},
                             "max_replicas": 4}


def test_an_unknown_rule_is_a_400_naming_it_and_nothing_is_stored(
        client: httpx.Client, kube: Client, namespace: str, tenant: dict[str, str]) -> None:
    body = {**CONTRACT_BODY, "rules": {"require_resource_limits": True, "require_magic": True}}
    error = error_of(client.post("/v1/security/policies", json=body, headers=tenant), 400,
                     "INVALID_REQUEST")
    assert error["details"]["field"] == "rules.require_magic"
    assert "unknown rule 'require_magic'" in error["message"]
    assert "disallow_privileged" in error["details"]["known_rules"]
    assert stored(kube, namespace) == []


@pytest.mark.parametrize(("expression", "complaint"), [
    ("object.metadata.name ==", "Syntax error"),
    ("1 + 'a'", "no matching overload"),
    ("object.metadata.name.noSuchFunction()", "undeclared reference"),
])
def test_cel_the_apiserver_cannot_compile_is_a_400_naming_the_rule(
        client: httpx.Client, kube: Client, namespace: str, tenant: dict[str, str],
        expression: str, complaint: str) -> None:
    body = {**CONTRACT_BODY, "rules": {"disallow_privileged": True,
                                       "cel": [{"expression": "true"},
                                               {"expression": expression, "message": "m"}]}}
    error = error_of(client.post("/v1/security/policies", json=body, headers=tenant), 400,
                     "INVALID_REQUEST")
    assert error["details"]["field"] == "rules.cel[1]", error
    assert complaint in error["message"], error
    assert stored(kube, namespace) == []
    ok = {**body, "rules": {"cel": [{"expression": "object.metadata.name != 'x'"}]}}
    assert client.post("/v1/security/policies", json=ok, headers=tenant).status_code == 201


@pytest.mark.parametrize(("change", "field"), [
    ({"enforcement": "block"}, "enforcement"),
    ({"targets": {"namespaces": []}}, "targets.namespaces"),
    ({"targets": {"namespaces": ["p"], "kinds": ["Service"]}}, "targets.kinds[0]"),
    ({"rules": {"allowed_registries": ["not a registry'"]}}, "rules.allowed_registries[0]"),
    ({"rules": {"require_resource_limits": {"cpu": False, "memory": False}}},
     "rules.require_resource_limits"),
    ({"rules": {}}, "rules"),
    ({"rules": {"max_replicas": -1}}, "rules.max_replicas"),
    ({"name": "Bad_Name"}, "name"),
])
def test_bad_fields_are_400s_naming_the_field(client: httpx.Client, kube: Client,
                                              namespace: str, tenant: dict[str, str],
                                              change: dict[str, Any], field: str) -> None:
    error = error_of(client.post("/v1/security/policies", json={**CONTRACT_BODY, **change},
                                 headers=tenant), 400, "INVALID_REQUEST")
    assert error["details"]["field"] == field, error
    assert stored(kube, namespace) == []


def test_patch_of_a_missing_policy_is_404_and_bad_patch_is_400(
        client: httpx.Client, tenant: dict[str, str]) -> None:
    error_of(client.patch("/v1/security/policies/nope", json={"enabled": False},
                          headers=tenant), 404, "NOT_FOUND")
    client.post("/v1/security/policies", json=CONTRACT_BODY, headers=tenant)
    error = error_of(client.patch("/v1/security/policies/require-resource-limits",
                                  json={"rules": {"allow_everything": True}}, headers=tenant),
                     400, "INVALID_REQUEST")
    assert error["details"]["field"] == "rules.allow_everything"


def test_a_caller_without_rbac_on_securitypolicies_is_forbidden(
        client: httpx.Client, kube: Client, namespace: str) -> None:
    nobody = bearer(identity(kube, namespace, "nobody", bind=False))
    for method, path, body in (("GET", "/v1/security/policies", None),
                               ("POST", "/v1/security/policies", CONTRACT_BODY),
                               ("GET", "/v1/security/policies/x", None),
                               ("PATCH", "/v1/security/policies/x", {"enabled": False}),
                               ("DELETE", "/v1/security/policies/x", None)):
        error = error_of(client.request(method, path, json=body, headers=nobody), 403,
                         "FORBIDDEN")
        assert error["details"]["resource"] == "securitypolicies"
    error_of(client.get("/v1/security/policies"), 401, "UNAUTHORIZED")


def test_the_dry_run_leaves_no_admission_policy_on_the_management_cluster(
        client: httpx.Client, kube: Client, tenant: dict[str, str]) -> None:
    from lightkube.generic_resource import create_global_resource

    policies = create_global_resource("admissionregistration.k8s.io", "v1",
                                      "ValidatingAdmissionPolicy",
                                      "validatingadmissionpolicies")
    before = {p.metadata.name for p in kube.list(policies)}
    assert client.post("/v1/security/policies", json=CONTRACT_BODY,
                       headers=tenant).status_code == 201
    assert {p.metadata.name for p in kube.list(policies)} == before

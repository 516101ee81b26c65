"""Security policies cross no tenant boundary. A hostile tenant tries to deny other tenants' (or
the system's) workloads with a policy aimed at namespaces it does not own, to overwrite an
admission policy it did not write by choosing a colliding name, and to read or change another
tenant's policies through the REST API.

The real operator runs against a real `local` member; the real API against the management
apiserver. Every attack must fail visibly, and the member must be left as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from lightkube import Client
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Namespace
from lightkube.types import PatchType

from hybridcloud.api.settings import Settings
from hybridcloud.controlplane import ControlPlane
from hybridcloud.kube.resources import SecurityPolicyResource
from tests.integration.api_support import bearer, ensure_namespace, identity, serve
from tests.integration.harness import (
    OperatorProcess,
    condition,
    delivery_operator,
    eventually,
    fresh_namespace,
)
from tests.integration.test_security_policies import (
    AdmissionPolicy,
    add_cluster,
    create_policy,
    get_policy,
    wait_ready,
)

from .policies import tenant_policy

pytestmark = pytest.mark.integration
BODY: dict[str, Any] = {"name": "limits", "enforcement": "deny",
                        "targets": {"namespaces": ["production"]},
                        "rules": {"require_resource_limits": True}}


# -- operator side ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tenant(kube: Client) -> Iterator[str]:
    with fresh_namespace(kube, "secpol-attack") as name:
        yield name


@pytest.fixture(scope="module")
def operator(management: ControlPlane, tenant: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    # Production tenant defaults: no TenantPolicy selects the namespace unless a test says so.
    with delivery_operator(management.kubeconfig, tenant, tmp_path_factory.mktemp("operator"),
                           HYBRIDCLOUD_OPERATOR_TENANT_DEFAULTS="{}") as process:
        yield process


@pytest.fixture(scope="module")
def member(kube: Client, tenant: str, operator: OperatorProcess,
           tmp_path_factory: pytest.TempPathFactory) -> Client:
    return add_cluster(kube, tenant, operator, "solo", tmp_path_factory.mktemp("solo"))[0]


def admission_names(member: Client) -> set[str]:
    return {p.metadata.name for p in member.list(AdmissionPolicy)}


def stalled_by(kube: Client, tenant: str, name: str, operator: OperatorProcess) -> str:
    def probe() -> str | None:
        found = condition(get_policy(kube, tenant, name), "Stalled")
        return str(found["message"]) if found and found.get("status") == "True" else None

    return str(eventually(probe, timeout=60, message=lambda: (
        f"{name} did not stall: {(get_policy(kube, tenant, name) or {}).get('status')}\n"
        f"{operator.tail(30)}")))


def test_a_policy_aimed_at_system_or_platform_namespaces_is_refused_and_never_applied(
        kube: Client, tenant: str, operator: OperatorProcess, member: Client) -> None:
    create_policy(kube, tenant, "deny-system", targets={
        "namespaces": ["default", "kube-system", "hybridcloud-system"]},
        rules={"disallowPrivileged": True})
    message = stalled_by(kube, tenant, "deny-system", operator)
    assert "spec.targets.namespaces[1]: namespace kube-system is a system namespace" in message
    assert "spec.targets.namespaces[2]: namespace hybridcloud-system is reserved" in message
    ready = condition(get_policy(kube, tenant, "deny-system"), "Ready") or {}
    assert ready.get("reason") == "PolicyViolation"
    assert f"hybridcloud.{tenant}.deny-system" not in admission_names(member)


def test_retargeting_an_applied_policy_at_a_system_namespace_removes_it(
        kube: Client, tenant: str, operator: OperatorProcess, member: Client) -> None:
    create_policy(kube, tenant, "sneaky", targets={"namespaces": ["apps"]},
                  rules={"disallowPrivileged": True})
    wait_ready(kube, tenant, "sneaky", operator, {"solo"})
    assert f"hybridcloud.{tenant}.sneaky" in admission_names(member)
    kube.patch(SecurityPolicyResource, "sneaky", {"spec": {"targets": {
        "namespaces": ["kube-system"]}}}, namespace=tenant, patch_type=PatchType.MERGE)
    stalled_by(kube, tenant, "sneaky", operator)
    eventually(lambda: f"hybridcloud.{tenant}.sneaky" not in admission_names(member),
               timeout=30, message=lambda: "the policy stayed on the member")


def test_a_tenant_policy_limits_which_namespaces_a_security_policy_may_target(
        kube: Client, tenant: str, operator: OperatorProcess, member: Client) -> None:
    with tenant_policy(kube, tenant, delivery={"allowedNamespaces": ["shop-*"]}) as limits:
        create_policy(kube, tenant, "other-team", targets={"namespaces": ["billing"]},
                      rules={"disallowPrivileged": True})
        message = stalled_by(kube, tenant, "other-team", operator)
        assert "namespace billing is not in spec.delivery.allowedNamespaces" in message
        assert f"TenantPolicy {limits}" in message
        assert f"hybridcloud.{tenant}.other-team" not in admission_names(member)


def test_a_foreign_admission_policy_under_the_derived_name_is_never_overwritten_or_deleted(
        kube: Client, tenant: str, operator: OperatorProcess, member: Client) -> None:
    name = f"hybridcloud.{tenant}.victim"
    foreign = {"apiVersion": "admissionregistration.k8s.io/v1",
               "kind": "ValidatingAdmissionPolicy", "metadata": {"name": name},
               "spec": {"matchConstraints": {"resourceRules": [{
                   "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"],
                   "operations": ["CREATE"]}]},
                   "validations": [{"expression": "true", "message": "someone else's"}]}}
    member.create(AdmissionPolicy.from_dict(foreign))
    create_policy(kube, tenant, "victim", targets={"namespaces": ["apps"]},
                  rules={"disallowPrivileged": True})

    def name_taken() -> dict[str, Any] | None:
        obj = get_policy(kube, tenant, "victim")
        records = ((obj or {}).get("status") or {}).get("clusters") or []
        return obj if any(r.get("reason") == "NameTaken" for r in records) else None

    eventually(name_taken, timeout=60, message=lambda: f"{operator.tail(30)}")
    kept = member.get(AdmissionPolicy, name)
    assert kept["spec"]["validations"][0]["message"] == "someone else's"
    assert not (kept.metadata.labels or {})
    kube.delete(SecurityPolicyResource, "victim", namespace=tenant)
    eventually(lambda: get_policy(kube, tenant, "victim") is None, timeout=60,
               message=lambda: f"victim not finalized\n{operator.tail(30)}")
    assert member.get(AdmissionPolicy, name)["spec"]["validations"][0]["message"] == \
        "someone else's"


# -- REST side -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def api(management: ControlPlane) -> Iterator[str]:
    with serve(Settings(kubeconfig=str(management.kubeconfig), auth_cache_seconds=0)) as base:
        yield base


@pytest.fixture
def tenants(kube: Client, namespace: str) -> Iterator[tuple[dict[str, str], dict[str, str],
                                                            str]]:
    other = f"{namespace}-b"
    ensure_namespace(kube, other)
    try:
        yield (bearer(identity(kube, namespace, "tenant-a")),
               bearer(identity(kube, other, "tenant-b")), other)
    finally:
        kube.delete(Namespace, other)


def test_rest_refuses_targets_the_tenant_may_not_police_naming_the_field(
        api: str, kube: Client, namespace: str,
        tenants: tuple[dict[str, str], dict[str, str], str]) -> None:
    a = tenants[0]
    with httpx.Client(base_url=api, timeout=30) as http:
        for index, target in ((1, "kube-system"), (1, "hybridcloud-system")):
            body = {**BODY, "targets": {"namespaces": ["production", target]}}
            answer = http.post("/v1/security/policies", json=body, headers=a)
            assert answer.status_code == 403, answer.text
            error = answer.json()["error"]
            assert error["code"] == "FORBIDDEN"
            assert error["details"]["field"] == f"targets.namespaces[{index}]"
            assert target in error["message"]
    assert list(kube.list(SecurityPolicyResource, namespace=namespace)) == []


def test_a_tenant_can_neither_see_nor_change_another_tenants_policies(
        api: str, kube: Client, namespace: str,
        tenants: tuple[dict[str, str], dict[str, str], str]) -> None:
    a, b, other = tenants
    with httpx.Client(base_url=api, timeout=30) as http:
        assert http.post("/v1/security/policies", json=BODY, headers=a).status_code == 201
        assert http.get("/v1/security/policies", headers=b).json()["policies"] == []
        for method, body in (("GET", None), ("PATCH", {"enabled": False}), ("DELETE", None)):
            answer = http.request(method, "/v1/security/policies/limits", json=body, headers=b)
            assert answer.status_code == 404, answer.text
            aimed = http.request(method, "/v1/security/policies/limits", json=body,
                                 headers={**b, "X-Tenant-Namespace": namespace})
            assert aimed.status_code == 403 and aimed.json()["error"]["code"] == "FORBIDDEN"
        listed = http.get("/v1/security/policies", headers={**b, "X-Tenant-Namespace":
                                                            namespace})
        assert listed.status_code == 403
        # A's policy is untouched; B creating the same name gets its own, separate object.
        assert http.post("/v1/security/policies", json=BODY, headers=b).status_code == 201
    mine = kube.get(SecurityPolicyResource, "limits", namespace=namespace)
    assert mine["spec"]["enabled"] is True
    assert kube.get(SecurityPolicyResource, "limits", namespace=other).metadata.uid != \
        mine.metadata.uid
    with pytest.raises(ApiError) as gone:
        kube.get(SecurityPolicyResource, "limits", namespace="hybridcloud-system")
    assert gone.value.status.code == 404

"""Alert rules and alerts end to end: ``POST /v1/alert-rules`` stores a PrometheusRule, the API
loads it (confined to the tenant) into a real Prometheus, which fires it to a real
Alertmanager; ``GET /v1/alerts`` shows it in the contract's shape, then it resolves. A second
tenant neither sees the alert nor reads the first tenant's series."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from lightkube import Client, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Namespace

from hybridcloud.controlplane import ControlPlane

from .api_support import bearer, eventually, register_member, set_cluster_status
from .metrics_support import MEMBER_APISERVER_ARGS, Stack, observability_stack, tenant_token
from .test_api_contract import CREATE_CLUSTER, assert_error

pytestmark = pytest.mark.integration
PrometheusRule = create_namespaced_resource("monitoring.coreos.com", "v1", "PrometheusRule",
                                            "prometheusrules")
# Fires while more than two ConfigMaps were created on the cluster in the last 20 seconds.
EXPRESSION = 'sum(increase(apiserver_request_total{resource="configmaps",verb="POST"}[20s])) > 2'


@pytest.fixture(scope="module")
def stack(management: ControlPlane, kube: Client,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with observability_stack(management, kube, tmp_path_factory.mktemp("alerts")) as stack:
        yield stack


@pytest.fixture(scope="module")
def member(member_cluster: Callable[..., ControlPlane]) -> tuple[Client, str]:
    plane = member_cluster("metrics-member", nodes=1,
                           apiserver_args=MEMBER_APISERVER_ARGS)
    return (Client(config=KubeConfig.from_file(plane.kubeconfig), field_manager="tests"),
            plane.kubeconfig.read_text())


def _tenant(stack: Stack, kube: Client, namespace: str) -> httpx.Client:
    return httpx.Client(base_url=stack.api, headers=bearer(tenant_token(kube, namespace)),
                        timeout=30)


@pytest.fixture(scope="module")
def tenant(stack: Stack, kube: Client, member: tuple[Client, str]) -> Iterator[httpx.Client]:
    namespace = "alerts-tenant-a"
    with _tenant(stack, kube, namespace) as client:
        assert client.post("/v1/clusters", json={**CREATE_CLUSTER, "name": "edge"}
                           ).status_code == 201
        register_member(kube, namespace, "edge", member[1])
        set_cluster_status(kube, namespace, "edge", "Active", ready=True)
        eventually(lambda: client.get("/v1/clusters/edge").json()["status"] == "active")
        yield client


RULE = {"name": "ManyConfigMapsCreated", "description": "ConfigMaps are being created",
        "expression": EXPRESSION, "duration": "1s", "severity": "warning",
        "labels": {"team": "backend"},
        "annotations": {"summary": "ConfigMap burst", "description": "{{ $value }} creations"}}


def _alerts(client: httpx.Client, **params: str) -> list[dict[str, Any]]:
    response = client.get("/v1/alerts", params=params)
    assert response.status_code == 200, response.text
    alerts: list[dict[str, Any]] = response.json()["alerts"]
    return [a for a in alerts if a["name"] == RULE["name"]]


def _burst(member: Client, count: int = 4) -> None:
    member.apply(Namespace(metadata=ObjectMeta(name="alert-burst")))
    for index in range(count):
        name = f"burst-{index}"
        with contextlib.suppress(ApiError):  # absent on the first burst
            member.delete(ConfigMap, name, namespace="alert-burst")
        member.create(ConfigMap(metadata=ObjectMeta(name=name, namespace="alert-burst")))


def test_alert_rule_fires_reaches_alertmanager_and_resolves(
        tenant: httpx.Client, kube: Client, member: tuple[Client, str], stack: Stack) -> None:
    created = tenant.post("/v1/alert-rules", json=RULE)
    assert created.status_code == 201, created.text
    rule = created.json()
    assert rule["id"] == "many-config-maps-created" and rule["expression"] == EXPRESSION
    stored = kube.get(PrometheusRule, rule["id"], namespace="alerts-tenant-a").to_dict()
    assert stored["spec"]["groups"][0]["rules"][0]["expr"] == EXPRESSION
    assert tenant.get(f"/v1/alert-rules/{rule['id']}").json()["severity"] == "warning"

    def loaded() -> bool:
        groups = httpx.get(f"{stack.prometheus}/api/v1/rules", timeout=10).json()
        return any(r["name"] == RULE["name"] for g in groups["data"]["groups"]
                   for r in g["rules"])
    eventually(loaded, timeout=30)

    def firing() -> list[dict[str, Any]]:
        _burst(member[0])
        return [a for a in _alerts(tenant, state="firing")]
    alert = eventually(firing, timeout=90, interval=2)[0]
    assert set(alert) == {"id", "name", "state", "severity", "description", "cluster",
                          "namespace", "started_at", "labels", "annotations"}
    assert (alert["state"], alert["severity"], alert["namespace"]) == (
        "firing", "warning", "alerts-tenant-a")
    assert alert["labels"]["alertname"] == RULE["name"]
    assert alert["labels"]["team"] == "backend"
    assert alert["labels"]["tenant"] == "alerts-tenant-a"
    assert alert["annotations"]["summary"] == "ConfigMap burst"
    assert alert["description"].endswith("creations")
    assert _alerts(tenant, severity="critical") == []
    # Alertmanager has it too (it is the source of the firing list).
    am = httpx.get(f"{stack.alertmanager}/api/v2/alerts", timeout=10).json()
    assert any(a["labels"]["alertname"] == RULE["name"] for a in am)

    eventually(lambda: _alerts(tenant) == [], timeout=120, interval=2)


def test_second_tenant_neither_sees_the_alert_nor_reads_the_first_tenants_series(
        stack: Stack, kube: Client, tenant: httpx.Client, member: tuple[Client, str]) -> None:
    with _tenant(stack, kube, "alerts-tenant-b") as other:
        spy = {**RULE, "name": "SpyOnTenantA",
               "expression": 'sum(increase(apiserver_request_total{resource="configmaps",'
                             'verb="POST",tenant="alerts-tenant-a"}[20s])) > 2'}
        assert other.post("/v1/alert-rules", json=spy).status_code == 201
        assert tenant.post("/v1/alert-rules", json={**RULE, "name": "OwnBurst"}
                           ).status_code == 201

        def own_fires() -> bool:
            _burst(member[0])
            alerts = tenant.get("/v1/alerts", params={"state": "firing"}).json()["alerts"]
            return any(a["name"] == "OwnBurst" for a in alerts)
        eventually(own_fires, timeout=90, interval=2)
        seen = other.get("/v1/alerts").json()["alerts"]
        assert seen == [], seen
        assert_error(other.get("/v1/alerts", params={"namespace": "alerts-tenant-a"}),
                     403, "FORBIDDEN")
        evaluated = httpx.get(f"{stack.prometheus}/api/v1/rules", timeout=10).json()
        spies = [r for g in evaluated["data"]["groups"] for r in g["rules"]
                 if r["name"] == "SpyOnTenantA"]
        assert spies and all(r["state"] == "inactive" for r in spies)
        assert 'tenant="alerts-tenant-b"' in spies[0]["query"]


def test_alert_rule_crud_and_bad_input(tenant: httpx.Client) -> None:
    body = {**RULE, "name": "CrudRule"}
    created = tenant.post("/v1/alert-rules", json=body).json()
    assert_error(tenant.post("/v1/alert-rules", json=body), 409, "CONFLICT")
    replaced = tenant.put(f"/v1/alert-rules/{created['id']}",
                          json={**body, "severity": "critical"})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["severity"] == "critical"
    listed = tenant.get("/v1/alert-rules").json()
    assert created["id"] in {r["id"] for r in listed["alert_rules"]}
    assert tenant.delete(f"/v1/alert-rules/{created['id']}").status_code == 204
    assert_error(tenant.get(f"/v1/alert-rules/{created['id']}"), 404, "NOT_FOUND")

    broken = tenant.post("/v1/alert-rules", json={**body, "expression": "sum(rate(x[5m])"})
    details = assert_error(broken, 400, "INVALID_REQUEST")
    assert details["field"] == "expression" and details["position"]
    templated = tenant.post("/v1/alert-rules", json={
        **body, "annotations": {"summary": '{{ query "up" }}'}})
    assert assert_error(templated, 400, "INVALID_REQUEST")["field"] == "annotations.summary"
    forged = tenant.post("/v1/alert-rules", json={**body, "labels": {"tenant": "other"}})
    assert assert_error(forged, 400, "INVALID_REQUEST")["field"] == "labels.tenant"
    severity = tenant.post("/v1/alert-rules", json={**body, "severity": "apocalyptic"})
    assert assert_error(severity, 400, "INVALID_REQUEST")["field"] == "severity"

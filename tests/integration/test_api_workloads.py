"""Workloads are read from and scaled on the member cluster itself, through the platform's copy
of the member credential; a real member control plane with kwok nodes runs the pods."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from lightkube import Client, KubeConfig
from lightkube.models.apps_v1 import DeploymentSpec
from lightkube.models.core_v1 import (
    Container,
    PodSpec,
    PodTemplateSpec,
    ServicePort,
    ServiceSpec,
    Toleration,
)
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace, Service

from hybridcloud.api.settings import Settings, Tier
from hybridcloud.controlplane import ControlPlane

from .api_support import (
    bearer,
    eventually,
    identity,
    register_member,
    serve,
    set_cluster_status,
    unregister_member,
)
from .test_api_contract import CREATE_CLUSTER, assert_error

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api(management: ControlPlane) -> Iterator[str]:
    settings = Settings(kubeconfig=str(management.kubeconfig), default_tier=Tier.ENTERPRISE,
                        oauth_namespace="api-workloads-oauth")
    with serve(settings) as base:
        yield base


@pytest.fixture(scope="module")
def member(member_cluster: Callable[..., ControlPlane]) -> Client:
    plane = member_cluster("api-member", nodes=1)
    client = Client(config=KubeConfig.from_file(plane.kubeconfig), field_manager="tests")
    client.apply(Namespace(metadata=ObjectMeta(name="production")))
    labels = {"app": "frontend"}
    client.apply(Deployment(
        metadata=ObjectMeta(name="frontend", namespace="production"),
        spec=DeploymentSpec(
            replicas=1, selector=LabelSelector(matchLabels=labels),
            template=PodTemplateSpec(metadata=ObjectMeta(labels=labels), spec=PodSpec(
                containers=[Container(name="web", image="registry.example.com/frontend:v1.2.3")],
                tolerations=[Toleration(operator="Exists")])))))
    client.apply(Service(
        metadata=ObjectMeta(name="frontend-service", namespace="production"),
        spec=ServiceSpec(selector=labels, ports=[ServicePort(port=80, targetPort=8080)])))
    client.kubeconfig_text = plane.kubeconfig.read_text()  # type: ignore[attr-defined]
    return client


@pytest.fixture
def http(api: str, kube: Client, namespace: str, member: Client) -> Iterator[httpx.Client]:
    token = identity(kube, namespace, "tenant")
    with httpx.Client(base_url=api, headers=bearer(token), timeout=30) as client:
        assert client.post("/v1/clusters", json={**CREATE_CLUSTER, "name": "edge"}).status_code \
            == 201
        register_member(kube, namespace, "edge", member.kubeconfig_text)  # type: ignore
        set_cluster_status(kube, namespace, "edge", "Active", ready=True)
        eventually(lambda: client.get("/v1/clusters/edge").json()["status"] == "active")
        yield client


def _deployment(http: httpx.Client) -> dict[str, Any] | None:
    workloads = http.get("/v1/clusters/edge/workloads",
                         params={"workload_namespace": "production"}).json()["workloads"]
    found = [d for d in workloads["deployments"] if d["name"] == "frontend"]
    return found[0] if found else None


def test_workloads_list_deployments_services_and_pods_of_the_member(
        http: httpx.Client) -> None:
    ready = eventually(lambda: (d := _deployment(http)) and d["status"] == "ready" and d,
                       timeout=60)
    assert ready == {"name": "frontend", "namespace": "production",
                     "replicas": {"desired": 1, "ready": 1, "available": 1},
                     "image": "registry.example.com/frontend:v1.2.3", "status": "ready"}
    workloads = http.get("/v1/clusters/edge/workloads").json()["workloads"]
    assert set(workloads) == {"deployments", "services", "pods"}
    service = next(s for s in workloads["services"] if s["name"] == "frontend-service")
    assert service["type"] == "ClusterIP" and service["cluster_ip"]
    assert service["ports"] == [{"port": 80, "target_port": 8080, "protocol": "TCP"}]
    pod = next(p for p in workloads["pods"] if p["name"].startswith("frontend-"))
    assert set(pod) == {"name", "namespace", "status", "ready", "node", "ip"}
    assert pod["status"] == "Running" and pod["ready"] is True and pod["node"]


def test_scale_changes_the_replicas_on_the_member(http: httpx.Client, member: Client) -> None:
    response = http.patch("/v1/clusters/edge/workloads/deployments/production/frontend/scale",
                          json={"replicas": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["namespace"], body["workload_type"]) == (
        "frontend", "production", "deployments")
    assert body["replicas"]["desired"] == 3
    assert member.get(Deployment, "frontend", namespace="production").spec.replicas == 3
    eventually(lambda: (d := _deployment(http)) and d["replicas"]["ready"] == 3, timeout=60)
    http.patch("/v1/clusters/edge/workloads/deployments/production/frontend/scale",
               json={"replicas": 1})


def test_scale_errors_name_the_problem(http: httpx.Client, kube: Client, namespace: str) -> None:
    missing = http.patch("/v1/clusters/edge/workloads/deployments/production/nope/scale",
                         json={"replicas": 2})
    assert assert_error(missing, 404, "WORKLOAD_NOT_FOUND")["name"] == "nope"
    negative = http.patch("/v1/clusters/edge/workloads/deployments/production/frontend/scale",
                          json={"replicas": -1})
    assert assert_error(negative, 400, "INVALID_REQUEST")["field"] == "replicas"
    kind = http.patch("/v1/clusters/edge/workloads/cronjobs/production/frontend/scale",
                      json={"replicas": 1})
    assert assert_error(kind, 400, "INVALID_REQUEST")["field"] == "workload_type"
    set_cluster_status(kube, namespace, "edge", "Creating", ready=False)
    eventually(lambda: http.get("/v1/clusters/edge").json()["status"] == "creating")
    assert assert_error(http.get("/v1/clusters/edge/workloads"), 409, "CONFLICT")[
        "status"] == "creating"
    set_cluster_status(kube, namespace, "edge", "Active", ready=True)
    unregister_member(kube, namespace, "edge")
    eventually(lambda: http.get("/v1/clusters/edge").json()["status"] == "active")
    assert_error(http.get("/v1/clusters/edge/workloads"), 503, "SERVICE_UNAVAILABLE")

"""Cluster metrics end to end: Prometheus (built from its module) finds the Active clusters
through the API's HTTP service discovery, scrapes each member's API server and each node's
container resource metrics (kwok's simulation on a ``local`` member) through the API's scrape
proxy, and ``GET /v1/clusters/{id}/metrics`` answers in the contract's shape with values that
follow the member's workloads."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from lightkube import Client, KubeConfig
from lightkube.models.apps_v1 import DeploymentSpec
from lightkube.models.core_v1 import Container, PodSpec, PodTemplateSpec, Toleration
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace, Pod
from lightkube.types import PatchType

from hybridcloud.api.settings import Settings, Tier
from hybridcloud.controlplane import ControlPlane
from hybridcloud.delivery.objects import stamp
from hybridcloud.kube.resources import MultiClusterApplicationResource

from ..observability_support import free_url
from .api_support import bearer, eventually, identity, register_member, serve, set_cluster_status
from .http_app_support import instrumented_app, network_address
from .metrics_support import (
    MEMBER_APISERVER_ARGS,
    observability_stack,
    scraper_token,
    tenant_token,
)
from .test_api_contract import CREATE_CLUSTER, DEPLOY_APPLICATION, assert_error

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def member(member_cluster: Callable[..., ControlPlane]) -> tuple[Client, str]:
    plane = member_cluster("metrics-member", nodes=1,
                           apiserver_args=MEMBER_APISERVER_ARGS)
    client = Client(config=KubeConfig.from_file(plane.kubeconfig), field_manager="tests")
    client.apply(Namespace(metadata=ObjectMeta(name="shop")))
    labels = {"app": "web"}
    client.apply(Deployment(
        metadata=ObjectMeta(name="web", namespace="shop"),
        spec=DeploymentSpec(
            replicas=1, selector=LabelSelector(matchLabels=labels),
            template=PodTemplateSpec(metadata=ObjectMeta(labels=labels), spec=PodSpec(
                containers=[Container(name="web", image="registry.example.com/web:1")],
                tolerations=[Toleration(operator="Exists")])))))
    return client, plane.kubeconfig.read_text()


@pytest.fixture(scope="module")
def stack(management: ControlPlane, kube: Client,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(API URL, Prometheus URL): the API queries that Prometheus, which scrapes via the API."""
    with observability_stack(management, kube, tmp_path_factory.mktemp("metrics")) as stack:
        yield stack.api, stack.prometheus


@pytest.fixture(scope="module")
def tenant(stack: tuple[str, str], kube: Client, member: tuple[Client, str],
           ) -> Iterator[tuple[httpx.Client, str]]:
    namespace = "metrics-tenant-a"
    with httpx.Client(base_url=stack[0], headers=bearer(tenant_token(kube, namespace)),
                      timeout=30) as client:
        assert client.post("/v1/clusters", json={**CREATE_CLUSTER, "name": "edge",
                                                 "provider": "local"}).status_code == 201
        register_member(kube, namespace, "edge", member[1])
        set_cluster_status(kube, namespace, "edge", "Active", ready=True)
        eventually(lambda: client.get("/v1/clusters/edge").json()["status"] == "active")
        yield client, namespace


def _last_minutes(http: httpx.Client, names: str, minutes: int = 2,
                  **extra: str) -> dict[str, Any]:
    end = datetime.now(UTC)
    response = http.get("/v1/clusters/edge/metrics", params={
        "start": (end - timedelta(minutes=minutes)).isoformat(), "end": end.isoformat(),
        "step": "1s", "metrics": names, **extra})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _latest(http: httpx.Client, name: str) -> float | None:
    values = _last_minutes(http, name)["metrics"][name]["values"]
    return float(values[-1][1]) if values else None


def test_discovery_lists_active_clusters_with_cluster_and_tenant_labels(
        stack: tuple[str, str], tenant: tuple[httpx.Client, str], kube: Client) -> None:
    api, prometheus_url = stack
    listed = httpx.get(f"{api}/internal/metrics/targets",
                       headers=bearer(scraper_token(kube)), timeout=10).json()
    mine = [g for g in listed if g["labels"]["tenant"] == tenant[1]
            and "node" not in g["labels"] and "pod" not in g["labels"]]
    assert [g["labels"]["cluster"] for g in mine] == ["edge"]
    assert mine[0]["labels"]["__metrics_path__"] == \
        f"/internal/metrics/scrape/{tenant[1]}/edge"

    def scraped() -> bool:
        targets = httpx.get(f"{prometheus_url}/api/v1/targets", timeout=10).json()
        return any(t["labels"].get("cluster") == "edge" and t["health"] == "up"
                   for t in targets["data"]["activeTargets"])
    eventually(scraped, timeout=60)


def test_each_node_is_scraped_for_container_metrics_with_cluster_tenant_and_pod_labels(
        stack: tuple[str, str], tenant: tuple[httpx.Client, str], kube: Client) -> None:
    api, prometheus_url = stack
    listed = httpx.get(f"{api}/internal/metrics/targets",
                       headers=bearer(scraper_token(kube)), timeout=10).json()
    nodes = [g["labels"] for g in listed if g["labels"]["tenant"] == tenant[1]
             and "node" in g["labels"]]
    assert [(n["cluster"], n["node"]) for n in nodes] == [("edge", "metrics-member-node-0")]
    assert nodes[0]["__metrics_path__"] == \
        f"/internal/metrics/scrape/{tenant[1]}/edge/nodes/metrics-member-node-0"

    def series() -> list[dict[str, str]]:
        answer = httpx.get(f"{prometheus_url}/api/v1/series", timeout=10, params={
            "match[]": 'container_memory_working_set_bytes{cluster="edge"}'}).json()
        found: list[dict[str, str]] = answer["data"]
        return found
    found = eventually(series, timeout=60, interval=1)
    web = [s for s in found if s["pod"].startswith("web-")]
    assert web and all(s["tenant"] == tenant[1] and s["namespace"] == "shop"
                       and s["container"] == "web" and s["node"] == "metrics-member-node-0"
                       for s in web), found


def test_a_node_the_member_does_not_have_is_not_scraped(
        stack: tuple[str, str], tenant: tuple[httpx.Client, str], kube: Client) -> None:
    api, _ = stack
    base = f"{api}/internal/metrics/scrape/{tenant[1]}/edge/nodes"
    headers = bearer(scraper_token(kube))
    assert_error(httpx.get(f"{base}/no-such-node", headers=headers, timeout=30), 503,
                 "SERVICE_UNAVAILABLE")
    assert_error(httpx.get(f"{base}/Not_A_Node", headers=headers, timeout=30), 400,
                 "INVALID_REQUEST")
    # A tenant's own token may not use the scrape proxy, even for its own cluster.
    assert_error(tenant[0].get(f"{base}/metrics-member-node-0"), 403, "FORBIDDEN")


def test_cluster_metrics_have_the_contract_shape(tenant: tuple[httpx.Client, str]) -> None:
    http, _ = tenant
    # The member refreshes its object counts every 5 s (MEMBER_APISERVER_ARGS).
    body = eventually(lambda: (b := _last_minutes(http, "cpu_usage,memory_usage,pods"))
                      and all(b["metrics"][n]["values"] for n in b["metrics"]) and b,
                      timeout=150, interval=2)
    assert set(body) == {"metrics"}
    assert set(body["metrics"]) == {"cpu_usage", "memory_usage", "pods"}
    for name, series in body["metrics"].items():
        assert set(series) == {"metric", "values"} and series["metric"] == name
        moment, value = series["values"][-1]
        assert datetime.fromisoformat(moment).tzinfo is not None
        assert isinstance(value, str) and float(value) >= 0
    assert float(body["metrics"]["memory_usage"]["values"][-1][1]) > 1e6


def test_pod_count_follows_the_replicas(tenant: tuple[httpx.Client, str],
                                        member: tuple[Client, str]) -> None:
    http, _ = tenant
    client = member[0]
    # Object counts are refreshed every 5 s (MEMBER_APISERVER_ARGS); the timeouts are bounds.
    eventually(lambda: _latest(http, "pods") == 1.0, timeout=150, interval=2)
    client.patch(Deployment, "web", {"spec": {"replicas": 3}}, namespace="shop",
                 patch_type=PatchType.MERGE)
    try:
        eventually(lambda: _latest(http, "pods") == 3.0, timeout=150, interval=2)
    finally:
        client.patch(Deployment, "web", {"spec": {"replicas": 1}}, namespace="shop",
                     patch_type=PatchType.MERGE)


def _running_pods(client: Client) -> int:
    return sum(1 for pod in client.list(Pod, namespace="*")
               if pod.status and pod.status.phase == "Running"
               and not (pod.metadata and pod.metadata.deletionTimestamp))


def test_container_cpu_and_memory_follow_the_replicas(tenant: tuple[httpx.Client, str],
                                                     member: tuple[Client, str]) -> None:
    http, _ = tenant
    client = member[0]
    per_container = 16 * 2**20  # kwok's simulated working set per container (16Mi)
    # Only web's single pod runs on the member now (earlier tests' extra replicas are gone).
    eventually(lambda: _running_pods(client) == 1
               and _latest(http, "memory_usage") == per_container, timeout=90, interval=1)
    cpu_before = eventually(lambda: _latest(http, "cpu_usage"), timeout=60)
    client.patch(Deployment, "web", {"spec": {"replicas": 3}}, namespace="shop",
                 patch_type=PatchType.MERGE)
    try:
        eventually(lambda: _latest(http, "memory_usage") == 3 * per_container,
                   timeout=90, interval=1)
        # 10m CPU per simulated container: two more make about 2 percent of a core more.
        try:
            eventually(lambda: (_latest(http, "cpu_usage") or 0.0) > cpu_before + 1.5,
                       timeout=90, interval=1)
        except AssertionError as exc:
            raise AssertionError(f"cpu_usage {cpu_before} -> "
                                 f"{_last_minutes(http, 'cpu_usage')['metrics']}") from exc
    finally:
        client.patch(Deployment, "web", {"spec": {"replicas": 1}}, namespace="shop",
                     patch_type=PatchType.MERGE)
    eventually(lambda: _latest(http, "memory_usage") == per_container, timeout=90, interval=1)


def test_catalog_lists_every_metric_with_unit_and_expression(
        tenant: tuple[httpx.Client, str]) -> None:
    http, _ = tenant
    catalog = http.get("/v1/metrics/catalog").json()["metrics"]
    names = {m["name"] for m in catalog}
    assert {"cpu_usage", "memory_usage", "pods"} <= names
    assert all(m["unit"] and m["description"] and m["expression"] for m in catalog)


def test_bad_parameters_are_400_naming_the_parameter(tenant: tuple[httpx.Client, str]) -> None:
    http, _ = tenant
    url = "/v1/clusters/edge/metrics"

    def field(**params: str) -> str:
        return str(assert_error(http.get(url, params=params), 400, "INVALID_REQUEST")["field"])

    assert field(metrics="cpu_usage,no_such_metric") == "metrics"
    assert field(start="2025-08-17T11:00:00Z", end="2025-08-17T10:00:00Z") == "end"
    assert field(start="yesterday") == "start"
    assert field(step="5 minutes") == "step"
    assert field(step="-5s") == "step"
    # Fifty years at 1s steps: refused before any query is sent.
    assert field(start="1976-01-01T00:00:00Z", end="2026-01-01T00:00:00Z", step="1s") == "step"
    details = assert_error(http.get(url, params={"metrics": "nope"}), 400, "INVALID_REQUEST")
    assert "cpu_usage" in details["available"]
    assert_error(http.get("/v1/clusters/missing/metrics"), 404, "CLUSTER_NOT_FOUND")


def test_same_cluster_name_in_another_tenant_reads_none_of_the_first_tenants_series(
        stack: tuple[str, str], kube: Client, tenant: tuple[httpx.Client, str]) -> None:
    first, first_namespace = tenant
    eventually(lambda: _latest(first, "pods") is not None, timeout=150, interval=2)
    namespace = "metrics-tenant-b"
    with httpx.Client(base_url=stack[0], headers=bearer(tenant_token(kube, namespace)),
                      timeout=30) as other:
        assert other.post("/v1/clusters", json={**CREATE_CLUSTER, "name": "edge"}
                          ).status_code == 201
        # Not Active and never scraped: whatever tenant A's "edge" reports is not B's.
        assert _last_minutes(other, "pods,memory_usage")["metrics"]["pods"]["values"] == []
        assert_error(other.get("/v1/clusters/edge/metrics",
                               params={"namespace": first_namespace}), 403, "FORBIDDEN")


def test_prometheus_down_is_503(management: ControlPlane, kube: Client,
                                tenant: tuple[httpx.Client, str]) -> None:
    _, namespace = tenant
    settings = Settings(kubeconfig=str(management.kubeconfig), default_tier=Tier.ENTERPRISE,
                        oauth_namespace="metrics-oauth", prometheus_url=free_url())
    token = identity(kube, namespace, "tenant")
    with serve(settings) as api:
        response = httpx.get(f"{api}/v1/clusters/edge/metrics", headers=bearer(token),
                             params={"namespace": namespace}, timeout=30)
        assert_error(response, 503, "SERVICE_UNAVAILABLE")
    unconfigured = Settings(kubeconfig=str(management.kubeconfig), oauth_namespace="m-oauth")
    with serve(unconfigured) as api:
        response = httpx.get(f"{api}/v1/clusters/edge/metrics", headers=bearer(token),
                             params={"namespace": namespace}, timeout=30)
        assert_error(response, 503, "SERVICE_UNAVAILABLE")




# --- application metrics: GET /v1/clusters/{id}/applications/{app}/metrics --------------------

def _stamped_deployment(name: str, uid: str | None, replicas: int) -> dict[str, Any]:
    """A Deployment as the delivery engine applies it for the application ``uid`` (its own
    ownership stamp), or unowned when ``uid`` is None."""
    labels = {"app": name}
    manifest: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels}, "spec": {
                "containers": [{"name": "app", "image": "registry.example.com/app:1"}],
                "tolerations": [{"operator": "Exists"}]}}}}
    return manifest if uid is None else stamp(manifest, uid, "storefront")


@pytest.fixture(scope="module")
def storefront(tenant: tuple[httpx.Client, str], kube: Client,
               member: tuple[Client, str]) -> str:
    """The application ``storefront`` placed on ``edge``, its Deployment on the member stamped
    as the delivery engine stamps it, beside an unowned look-alike ``storefront-canary``."""
    http, namespace = tenant
    assert http.post("/v1/clusters/edge/applications", json={
        **DEPLOY_APPLICATION, "name": "storefront"}).status_code == 201
    uid = kube.get(MultiClusterApplicationResource, "storefront",
                   namespace=namespace)["metadata"]["uid"]
    client = member[0]
    client.apply(Deployment.from_dict(_stamped_deployment("storefront", uid, 1)))
    client.apply(Deployment.from_dict(_stamped_deployment("storefront-canary", None, 2)))
    return "/v1/clusters/edge/applications/storefront/metrics"


def _usage(http: httpx.Client, url: str) -> dict[str, Any]:
    response = http.get(url)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_application_metrics_have_the_contract_shape_and_say_why_http_figures_are_null(
        tenant: tuple[httpx.Client, str], storefront: str) -> None:
    http, _ = tenant
    body = eventually(lambda: (b := _usage(http, storefront))
                      and b["metrics"]["resource_usage"]["memory"] is not None and b,
                      timeout=60, interval=1)
    assert body["application"] == "storefront"
    assert set(body["metrics"]) == {"request_rate", "error_rate", "response_time",
                                    "resource_usage"}
    # One owned pod of one container; the unowned look-alike's two pods are not counted.
    assert body["metrics"]["resource_usage"]["memory"] == "16Mi"
    # The simulated pods serve no HTTP metrics: null, with the reason.
    assert body["metrics"]["request_rate"] is None and body["metrics"]["response_time"] is None
    assert "http_requests_total" in body["unavailable"]["request_rate"]


def test_application_metrics_follow_the_apps_replicas(
        tenant: tuple[httpx.Client, str], storefront: str, member: tuple[Client, str]) -> None:
    http, _ = tenant
    def usage() -> dict[str, Any]:
        found: dict[str, Any] = _usage(http, storefront)["metrics"]["resource_usage"]
        return found
    def matches(replicas: int) -> bool:
        found = usage()
        # Memory is exact (16Mi per simulated container); CPU (10m each) is a rate between
        # two scrapes, so it carries the scrapes' timing jitter.
        return (found["memory"] == f"{16 * replicas}Mi" and found["cpu"] is not None
                and abs(int(found["cpu"].removesuffix("m")) - 10 * replicas) <= 3 * replicas)

    eventually(lambda: matches(1), timeout=90, interval=1)
    member[0].patch(Deployment, "storefront", {"spec": {"replicas": 3}}, namespace="shop",
                    patch_type=PatchType.MERGE)
    try:
        eventually(lambda: matches(3), timeout=90, interval=1)
    finally:
        member[0].patch(Deployment, "storefront", {"spec": {"replicas": 1}}, namespace="shop",
                        patch_type=PatchType.MERGE)


def test_another_tenants_application_is_404_and_its_namespace_403(
        stack: tuple[str, str], kube: Client, tenant: tuple[httpx.Client, str],
        storefront: str) -> None:
    first, first_namespace = tenant
    assert_error(first.get("/v1/clusters/edge/applications/nothing-here/metrics"), 404,
                 "APPLICATION_NOT_FOUND")
    assert_error(first.get("/v1/clusters/missing/applications/storefront/metrics"), 404,
                 "CLUSTER_NOT_FOUND")
    assert_error(first.get("/v1/clusters/edge/applications/Bad_Name/metrics"), 400,
                 "INVALID_REQUEST")
    namespace = "metrics-tenant-c"
    with httpx.Client(base_url=stack[0], headers=bearer(tenant_token(kube, namespace)),
                      timeout=30) as other:
        assert other.post("/v1/clusters", json={**CREATE_CLUSTER, "name": "edge"}
                          ).status_code == 201
        assert_error(other.get(storefront), 404, "APPLICATION_NOT_FOUND")
        assert_error(other.get(storefront, params={"namespace": first_namespace}), 403,
                     "FORBIDDEN")


def test_application_metrics_with_prometheus_down_are_503(
        management: ControlPlane, kube: Client, tenant: tuple[httpx.Client, str],
        storefront: str) -> None:
    _, namespace = tenant
    token = identity(kube, namespace, "tenant")
    for prometheus_url in (free_url(), None):
        settings = Settings(kubeconfig=str(management.kubeconfig), default_tier=Tier.ENTERPRISE,
                            oauth_namespace="metrics-oauth", prometheus_url=prometheus_url)
        with serve(settings) as api:
            response = httpx.get(f"{api}{storefront}", headers=bearer(token),
                                 params={"namespace": namespace}, timeout=30)
            assert_error(response, 503, "SERVICE_UNAVAILABLE")


def _scraped_pod(uid: str, port: int) -> dict[str, Any]:
    """The application's Pod as delivered, annotated for scraping the way users annotate."""
    return stamp({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "checkout", "namespace": "shop", "annotations": {
            "prometheus.io/scrape": "true", "prometheus.io/port": str(port),
            "prometheus.io/path": "/metrics"}},
        "spec": {"containers": [{"name": "app", "image": "registry.example.com/checkout:1",
                                 "ports": [{"containerPort": port}]}],
                 "tolerations": [{"operator": "Exists"}]}}, uid, "checkout")


def test_application_http_figures_follow_what_its_pods_export(
        stack: tuple[str, str], tenant: tuple[httpx.Client, str], kube: Client,
        member: tuple[Client, str]) -> None:
    http, namespace = tenant
    client = member[0]
    assert http.post("/v1/clusters/edge/applications", json={
        **DEPLOY_APPLICATION, "name": "checkout"}).status_code == 201
    uid = kube.get(MultiClusterApplicationResource, "checkout",
                   namespace=namespace)["metadata"]["uid"]
    url = "/v1/clusters/edge/applications/checkout/metrics"
    address = network_address()
    with instrumented_app(address) as app:
        client.apply(Pod.from_dict(_scraped_pod(uid, app.port)))
        try:
            eventually(lambda: (client.get(Pod, "checkout", namespace="shop").status.phase
                                == "Running"), timeout=60)
            # kwok simulates the pod's network too: the pod reports the address its container
            # (the app above) answers on, as a CNI would, and the member API server's pod
            # proxy goes there.
            client.patch(Pod.Status, "checkout", {"status": {"podIP": address,
                                                      "podIPs": [{"ip": address}]}},
                         namespace="shop", patch_type=PatchType.MERGE)
            _follow_http_figures(http, url, app)
        finally:
            client.delete(Pod, "checkout", namespace="shop", grace_period=0)


def _rate(figures: dict[str, Any]) -> float:
    return float(str(figures["request_rate"]).removesuffix(" req/s"))


def _error_percent(figures: dict[str, Any]) -> float | None:
    value = figures["error_rate"]
    return None if value is None else float(value.removesuffix("%"))


def _follow_http_figures(http: httpx.Client, url: str, app: Any) -> None:
    def figures() -> dict[str, Any]:
        body = _usage(http, url)
        found: dict[str, Any] = body["metrics"]
        return found
    # Scraped through discovery and the pod proxy: the series exist, nothing counted yet.
    eventually(lambda: figures()["request_rate"] is not None, timeout=90, interval=1)
    app.call("/", 150)
    first = eventually(lambda: (f := figures()) and _rate(f) > 0
                       and _error_percent(f) == 0 and f["response_time"] is not None and f,
                       timeout=60, interval=1)
    assert first["response_time"]["p50"].endswith("ms")
    assert first["response_time"]["p99"] is not None
    # Twice as many requests again, a third of all of them failing: the rate grows and the
    # error rate is the 5xx share (both series are scraped together, so it is exact).
    app.call("/", 150)
    app.call("/fail", 150)
    later = eventually(lambda: (f := figures()) and _rate(f) > _rate(first)
                       and abs((_error_percent(f) or 0) - 100 / 3) < 0.5 and f,
                       timeout=60, interval=1)
    assert _rate(later) > _rate(first), (first, later)
    body = _usage(http, url)
    assert "request_rate" not in body["unavailable"] and "response_time" not in body["unavailable"]

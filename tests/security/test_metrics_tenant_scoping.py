"""A tenant's PromQL only ever reads the series of its own clusters.

Tenant A has an Active cluster that the platform's Prometheus scrapes; tenant B has none. B
writes alert rules whose expressions try every way out of its scope (other tenants' label
values, regex matchers, ``__name__`` regexes, quoted metric names, ``label_replace``, offsets,
``@``, subqueries, vector matching). The platform loads each rule confined to B; each is
evaluated by the real Prometheus and finds nothing, while the very same expression as A's rule
finds A's series (so the probe can fail). Annotation templates that would run unconfined
queries are refused before anything is stored."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from lightkube import Client, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Pod
from lightkube.types import PatchType

from hybridcloud.api.settings import Settings, Tier
from hybridcloud.controlplane import ControlPlane

from ..integration.api_support import (
    bearer,
    eventually,
    register_member,
    serve,
    set_cluster_status,
)
from ..integration.http_app_support import instrumented_app, network_address
from ..integration.metrics_support import (
    Stack,
    observability_stack,
    scraper_token,
    tenant_token,
)
from ..integration.test_api_contract import CREATE_CLUSTER, DEPLOY_APPLICATION, assert_error

pytestmark = pytest.mark.integration
A, B = "scope-tenant-a", "scope-tenant-b"

ESCAPES = [
    '{__name__=~".+"}',
    f'up{{tenant="{A}"}}',
    'up{tenant=~".+"} or up{tenant!="nobody"}',
    '{"up", tenant=~"scope-.*"}',
    f'label_replace(up, "tenant", "{B}", "", "")',
    'max_over_time(up{tenant!="x"}[1m:1s])',
    "up offset 2s",
    "up @ end()",
    "sum by (cluster) (up) * on () group_left () count(up)",
    'count_values("v", up)',
]


@pytest.fixture(scope="module")
def stack(management: ControlPlane, kube: Client,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with observability_stack(management, kube, tmp_path_factory.mktemp("scoping")) as stack:
        yield stack


@pytest.fixture(scope="module")
def tenants(stack: Stack, kube: Client, member_cluster: Callable[..., ControlPlane],
            ) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    plane = member_cluster("metrics-member", nodes=1)
    with httpx.Client(base_url=stack.api, headers=bearer(tenant_token(kube, A)),
                      timeout=30) as first, \
            httpx.Client(base_url=stack.api, headers=bearer(tenant_token(kube, B)),
                         timeout=30) as second:
        assert first.post("/v1/clusters", json={**CREATE_CLUSTER, "name": "edge"}
                          ).status_code == 201
        register_member(kube, A, "edge", plane.kubeconfig.read_text())
        set_cluster_status(kube, A, "edge", "Active", ready=True)
        yield first, second


def _rules(stack: Stack) -> dict[str, dict[str, Any]]:
    groups = httpx.get(f"{stack.prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
    return {r["name"]: r for g in groups for r in g["rules"]}


def test_tenant_rules_cannot_read_another_tenants_series(
        stack: Stack, tenants: tuple[httpx.Client, httpx.Client]) -> None:
    first, second = tenants
    for index, escape in enumerate(ESCAPES):
        body = {"name": f"Escape{index}", "expression": f"count({escape}) > 0",
                "severity": "info"}
        response = second.post("/v1/alert-rules", json=body)
        assert response.status_code == 201, (escape, response.text)
        control = first.post("/v1/alert-rules", json={**body, "name": f"Control{index}"})
        assert control.status_code == 201, (escape, control.text)

    def all_evaluated() -> dict[str, dict[str, Any]] | None:
        rules = _rules(stack)
        names = [f"{p}{i}" for p in ("Escape", "Control") for i in range(len(ESCAPES))]
        if not all(n in rules and rules[n].get("lastEvaluation", "").startswith("2")
                   and rules[n]["health"] == "ok" for n in names):
            return None
        # A's controls only count once A's cluster has been scraped.
        if any(rules[f"Control{i}"]["state"] == "inactive" for i in range(len(ESCAPES))):
            return None
        return rules
    rules = eventually(all_evaluated, timeout=120, interval=1)
    for index, escape in enumerate(ESCAPES):
        assert rules[f"Escape{index}"]["state"] == "inactive", (escape, rules[f"Escape{index}"])
        assert f'tenant="{B}"' in rules[f"Escape{index}"]["query"], escape


def test_templates_that_would_query_unconfined_are_refused(
        tenants: tuple[httpx.Client, httpx.Client]) -> None:
    _, second = tenants
    for template in ('{{ query "up" }}', '{{ with query "up" }}{{ . }}{{ end }}',
                     "{{ $labels.tenant | query }}", "{{ template \"x\" }}", "{{"):
        response = second.post("/v1/alert-rules", json={
            "name": "Templated", "expression": "vector(1)", "severity": "info",
            "annotations": {"summary": template}})
        details = assert_error(response, 400, "INVALID_REQUEST")
        assert details["field"] == "annotations.summary", template
    assert second.get("/v1/alert-rules/templated").status_code == 404


def test_a_rule_cannot_claim_another_tenants_label(
        tenants: tuple[httpx.Client, httpx.Client]) -> None:
    _, second = tenants
    for label in ("tenant", "alert_rule_id", "alertname", "severity"):
        response = second.post("/v1/alert-rules", json={
            "name": "Forged", "expression": "vector(1)", "severity": "info",
            "labels": {label: A}})
        assert assert_error(response, 400, "INVALID_REQUEST")["field"] == f"labels.{label}"


def test_tenants_cannot_use_the_discovery_or_scrape_endpoints(
        tenants: tuple[httpx.Client, httpx.Client]) -> None:
    first, second = tenants
    for client in (first, second):
        assert_error(client.get("/internal/metrics/targets"), 403, "FORBIDDEN")
        assert_error(client.get(f"/internal/metrics/scrape/{A}/edge"), 403, "FORBIDDEN")
        assert_error(client.get(f"/internal/metrics/scrape/{A}/edge/nodes/metrics-member-node-0"),
                     403, "FORBIDDEN")
        assert_error(client.get(f"/internal/metrics/scrape/{A}/edge/pods/shop/web-0"),
                     403, "FORBIDDEN")


def test_a_tenant_cannot_read_another_tenants_application_metrics(
        tenants: tuple[httpx.Client, httpx.Client]) -> None:
    first, second = tenants
    assert first.post("/v1/clusters/edge/applications", json={
        **DEPLOY_APPLICATION, "name": "private-app"}).status_code == 201
    url = "/v1/clusters/edge/applications/private-app/metrics"
    assert first.get(url).status_code == 200
    # B has a cluster of the same name; A's application is still not B's to read.
    created = second.post("/v1/clusters", json={**CREATE_CLUSTER, "name": "edge"})
    assert created.status_code in (201, 409), created.text
    assert_error(second.get(url), 404, "APPLICATION_NOT_FOUND")
    assert_error(second.get(url, params={"namespace": A}), 403, "FORBIDDEN")


def _annotated_pod(name: str, port: int, *, scrape: bool) -> Pod:
    return Pod.from_dict({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "hostile", "annotations": {
            "prometheus.io/scrape": "true" if scrape else "false",
            "prometheus.io/port": str(port)}},
        "spec": {"containers": [{"name": "app", "image": "registry.example.com/app:1"}],
                 "tolerations": [{"operator": "Exists"}]}})


def test_a_scraped_pod_cannot_claim_another_tenants_cluster_or_pods(
        stack: Stack, kube: Client, member_cluster: Callable[..., ControlPlane],
        tenants: tuple[httpx.Client, httpx.Client]) -> None:
    """A's member runs a pod, annotated for scraping, whose exporter labels every series as B's
    (tenant, cluster, namespace, pod). Prometheus stores them under A's cluster with the claims
    renamed (``exported_*``); B's scope holds none of them. An unannotated pod is never proxied,
    even for the platform's own scraper."""
    plane = member_cluster("metrics-member", nodes=1)
    member = Client(config=KubeConfig.from_file(plane.kubeconfig), field_manager="tests")
    member.apply(Namespace(metadata=ObjectMeta(name="hostile")))
    address = network_address()
    claims = {"tenant": B, "cluster": "edge", "namespace": "victim", "pod": "victim-0"}
    with instrumented_app(address, claims) as app:
        for name, scrape in (("claims", True), ("quiet", False)):
            member.apply(_annotated_pod(name, app.port, scrape=scrape))
            eventually(lambda n=name: member.get(Pod, n, namespace="hostile").status.phase
                       == "Running", timeout=60)
            # The simulated pod network: the pod reports the address its app answers on.
            member.patch(Pod.Status, name,
                         {"status": {"podIP": address, "podIPs": [{"ip": address}]}},
                         namespace="hostile", patch_type=PatchType.MERGE)
        try:
            def series(match: str) -> list[dict[str, str]]:
                found: list[dict[str, str]] = httpx.get(
                    f"{stack.prometheus}/api/v1/series", params={"match[]": match},
                    timeout=10).json()["data"]
                return found
            # This pod's series, found by the labels the platform gives its target. (Selected
            # that way because the stack is shared: an earlier test's deleted pod may still be
            # a target for a moment, and its reused port now answers with these claims.)
            # A's target labels included: another test's target on the shared stack (another
            # tenant, another cluster) can expose a pod of the same namespace and name. The
            # checks below that nothing is stored as B stay global.
            mine = f'tenant="{A}",cluster="edge",namespace="hostile",pod="claims"'
            stored = eventually(
                lambda: series(f'http_requests_total{{exported_tenant="{B}",{mine}}}'),
                timeout=90, interval=1)
            assert all(s["exported_namespace"] == "victim" and s["exported_cluster"] == "edge"
                       and s["exported_pod"] == "victim-0" for s in stored), [
                {k: v for k, v in s.items() if k != "__name__"} for s in stored]
            # Whatever claimed tenant B, from any target, is never stored as B or as the
            # claimed pod.
            assert series(f'http_requests_total{{tenant="{B}"}}') == []
            assert series('http_requests_total{pod="victim-0"}') == []
            assert all(s["tenant"] != B for s in series(
                f'http_requests_total{{exported_tenant="{B}"}}'))
            scraper = bearer(scraper_token(kube))
            base = f"{stack.api}/internal/metrics/scrape/{A}/edge/pods/hostile"
            assert httpx.get(f"{base}/claims", headers=scraper, timeout=30).status_code == 200
            assert_error(httpx.get(f"{base}/quiet", headers=scraper, timeout=30), 404,
                         "NOT_FOUND")
        finally:
            for name in ("claims", "quiet"):
                member.delete(Pod, name, namespace="hostile", grace_period=0)


def test_pods_of_local_members_are_not_scraped_unless_the_platform_allows_it(
        stack: Stack, kube: Client, management: ControlPlane,
        member_cluster: Callable[..., ControlPlane],
        tenants: tuple[httpx.Client, httpx.Client]) -> None:
    """`local` members share the platform's host: a tenant with rights on its member can make
    an annotated Pod report any address of the host, and the member's pod proxy would then
    fetch the host's other services into the tenant's scope. With the platform's default
    settings the pods of a `local` cluster are neither listed for scraping nor proxied, while
    the same member's pods are listed under a cloud cluster in the same answer."""
    first, _ = tenants
    plane = member_cluster("metrics-member", nodes=1)
    created = first.post("/v1/clusters", json={**CREATE_CLUSTER, "name": "home",
                                               "provider": "local"})
    assert created.status_code in (201, 409), created.text
    register_member(kube, A, "home", plane.kubeconfig.read_text())
    set_cluster_status(kube, A, "home", "Active", ready=True)
    member = Client(config=KubeConfig.from_file(plane.kubeconfig), field_manager="tests")
    member.apply(Namespace(metadata=ObjectMeta(name="hostile")))
    member.apply(_annotated_pod("pointer", 9100, scrape=True))
    try:
        eventually(lambda: member.get(Pod, "pointer", namespace="hostile").status.phase
                   == "Running", timeout=60)
        address = network_address()
        member.patch(Pod.Status, "pointer",
                     {"status": {"podIP": address, "podIPs": [{"ip": address}]}},
                     namespace="hostile", patch_type=PatchType.MERGE)
        defaults = Settings(kubeconfig=str(management.kubeconfig), default_tier=Tier.ENTERPRISE,
                            oauth_namespace="metrics-oauth")
        assert defaults.metrics_scrape_local_pods is False
        scraper = bearer(scraper_token(kube))

        def pod_targets(api: str) -> set[tuple[str, str]]:
            groups = httpx.get(f"{api}/internal/metrics/targets", headers=scraper,
                               timeout=30).json()
            return {(g["labels"]["cluster"], g["labels"]["pod"]) for g in groups
                    if "pod" in g["labels"]}

        with serve(defaults) as api:
            found = eventually(lambda: pod_targets(api) or None, timeout=30)
            assert ("edge", "pointer") in found and ("home", "pointer") not in found, found
            assert_error(httpx.get(f"{api}/internal/metrics/scrape/{A}/home/pods/hostile/pointer",
                                   headers=scraper, timeout=30), 404, "NOT_FOUND")
        # Where the platform allows it (the stack's API does), the local cluster's pod is listed.
        allowed = eventually(lambda: ("home", "pointer") in pod_targets(stack.api) or None,
                             timeout=30)
        assert allowed
    finally:
        member.delete(Pod, "pointer", namespace="hostile", grace_period=0)

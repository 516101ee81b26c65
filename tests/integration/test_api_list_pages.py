"""GET /v1/clusters from summaries rendered once per cluster version (``api/listing.py``), on the
real apiserver: the work a list request does is counted (summaries built), never timed, and the
pages stay exactly what the models render, through status changes, deletions and filters."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from lightkube import Client
from lightkube.types import PatchType

from hybridcloud.api import create_app, views
from hybridcloud.api.settings import Settings, Tier
from hybridcloud.controlplane import ControlPlane
from hybridcloud.kube.resources import HybridClusterResource

from .api_support import bearer, eventually, identity, serve_app, set_cluster_status
from .test_api_contract import CREATE_CLUSTER

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def served(management: ControlPlane) -> Iterator[tuple[str, FastAPI]]:
    settings = Settings(kubeconfig=str(management.kubeconfig), auth_cache_seconds=1,
                        default_tier=Tier.ENTERPRISE)
    app = create_app(settings)
    with serve_app(app) as base:
        yield base, app


@pytest.fixture
def api(served: tuple[str, FastAPI]) -> str:
    return served[0]


@pytest.fixture
def http(api: str, kube: Client, namespace: str) -> Iterator[httpx.Client]:
    token = identity(kube, namespace, "lister")
    with httpx.Client(base_url=api, headers=bearer(token), timeout=30) as client:
        yield client


def _builds_of(monkeypatch: pytest.MonkeyPatch, model: str) -> list[str]:
    """Names of the clusters whose ``views.<model>`` was built (and validated), in order: the view
    functions build it through the ``views`` module's global, on old and new code."""
    built: list[str] = []
    base = getattr(views, model)

    class Counted(base):  # type: ignore[misc,valid-type]
        def __init__(self, **fields: Any) -> None:
            built.append(fields["name"])
            super().__init__(**fields)

    monkeypatch.setattr(views, model, Counted)
    return built


@pytest.fixture
def summaries_built(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the clusters whose ``ClusterSummary`` model was built, in order."""
    return _builds_of(monkeypatch, "ClusterSummary")


def create(http: httpx.Client, name: str, provider: str = "openstack",
           region: str = "us-east-1") -> None:
    body = copy.deepcopy(CREATE_CLUSTER)
    body.update(name=name, provider=provider, region=region)
    assert http.post("/v1/clusters", json=body).status_code == 201


def rendered_by_the_models(kube: Client, namespace: str, **filters: str) -> list[dict[str, Any]]:
    """The clusters of ``namespace`` as the pydantic models render them, oldest first."""
    objects = sorted((o.to_dict() for o in kube.list(HybridClusterResource, namespace=namespace)),
                     key=lambda o: (o["metadata"]["creationTimestamp"], o["metadata"]["name"]))
    chosen = [o for o in objects
              if o["spec"]["provider"] == filters.get("provider", o["spec"]["provider"])
              and views.cluster_status(o) == filters.get("status", views.cluster_status(o))]
    return [views.cluster_summary(o).model_dump(mode="json") for o in chosen]


def test_an_unchanged_cluster_is_rendered_once_however_often_it_is_listed(
        http: httpx.Client, summaries_built: list[str]) -> None:
    for name in ("c1", "c2", "c3"):
        create(http, name)
    for _ in range(5):
        listing = http.get("/v1/clusters", params={"per_page": 10})
        assert listing.status_code == 200, listing.text
        assert [c["id"] for c in listing.json()["clusters"]] == ["c1", "c2", "c3"]
    # Five lists of three clusters: before, 15 summaries were built (plus FastAPI validating
    # each page again); now each cluster version once.
    assert sorted(summaries_built) == ["c1", "c2", "c3"]


def test_a_changed_cluster_is_rendered_again_and_only_that_one(
        http: httpx.Client, kube: Client, namespace: str, summaries_built: list[str]) -> None:
    for name in ("one", "two"):
        create(http, name)
    assert http.get("/v1/clusters").status_code == 200
    del summaries_built[:]
    set_cluster_status(kube, namespace, "two", "Active", ready=True, extra={
        "nodes": {"total": 4, "ready": 3, "master": 1, "worker": 3}, "version": "v1.29.1"})

    def two_is_active() -> dict[str, Any] | None:
        clusters = http.get("/v1/clusters").json()["clusters"]
        return clusters[1] if clusters[1]["status"] == "active" else None
    two = eventually(two_is_active)
    assert two["nodes"] == {"total": 4, "ready": 3, "master": 1, "worker": 3}
    assert two["version"] == "v1.29.1"
    assert summaries_built == ["two"]  # the watch brought one new version; "one" is reused


def test_pages_filters_and_deletions_match_what_the_models_render(
        http: httpx.Client, kube: Client, namespace: str) -> None:
    for i, (provider, region) in enumerate([("aws", "us-west-2"), ("openstack", "eu-1"),
                                            ("aws", "eu-1"), ("gcp", "us-west-2"),
                                            ("aws", "us-west-2")]):
        create(http, f"c{i}", provider, region)
    set_cluster_status(kube, namespace, "c2", "Active", ready=True)
    eventually(lambda: http.get("/v1/clusters", params={"status": "ACTIVE"}).json()["total"])
    everything = rendered_by_the_models(kube, namespace)
    for per_page in (1, 2, 5, 100):
        pages = [http.get("/v1/clusters", params={"page": page, "per_page": per_page})
                 for page in range(1, 7)]
        assert all(p.headers["content-type"] == "application/json" for p in pages)
        bodies = [p.json() for p in pages]
        assert all(set(b) == {"clusters", "total", "page", "per_page"} for b in bodies)
        assert [(b["total"], b["page"], b["per_page"]) for b in bodies] == [
            (5, page, per_page) for page in range(1, 7)]
        assert [c for b in bodies for c in b["clusters"]] == everything
    aws = http.get("/v1/clusters", params={"provider": "aws", "per_page": 2}).json()
    assert aws["total"] == 3
    assert aws["clusters"] == rendered_by_the_models(kube, namespace, provider="aws")[:2]
    both = http.get("/v1/clusters", params={"provider": "aws", "region": "eu-1"}).json()
    assert [c["id"] for c in both["clusters"]] == ["c2"]
    active = http.get("/v1/clusters", params={"status": "active"}).json()
    assert active["clusters"] == rendered_by_the_models(kube, namespace, status="active")
    kube.delete(HybridClusterResource, "c0", namespace=namespace)
    # The platform's finalizer keeps it while the operator (absent here) would clean up: the
    # new version is listed as deleting, then it goes once the finalizer is removed.
    eventually(lambda: http.get("/v1/clusters").json()["clusters"][0]["status"] == "deleting")
    kube.patch(HybridClusterResource, "c0", {"metadata": {"finalizers": None}},
               namespace=namespace, patch_type=PatchType.MERGE)
    eventually(lambda: http.get("/v1/clusters").json()["total"] == 4)
    after = http.get("/v1/clusters", params={"provider": "aws"}).json()
    assert [c["id"] for c in after["clusters"]] == ["c2", "c4"] and after["total"] == 2


def test_bad_list_parameters_are_invalid_requests_naming_the_parameter(
        http: httpx.Client) -> None:
    for params, field in (({"per_page": 0}, "per_page"), ({"per_page": 101}, "per_page"),
                          ({"page": "x"}, "page"), ({"provider": "ibm"}, "provider"),
                          ({"status": "s" * 17}, "status")):
        response = http.get("/v1/clusters", params=params)
        assert response.status_code == 400, (params, response.text)
        error = response.json()["error"]
        assert error["code"] == "INVALID_REQUEST" and field in str(error["details"]), error


@pytest.fixture
def details_built(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the clusters whose ``ClusterDetails`` model was built, in order."""
    return _builds_of(monkeypatch, "ClusterDetails")


def test_cluster_details_are_rendered_once_per_version_and_equal_the_models(
        http: httpx.Client, kube: Client, namespace: str, details_built: list[str]) -> None:
    create(http, "c1")
    answers = [http.get("/v1/clusters/c1") for _ in range(4)]
    assert {a.status_code for a in answers} == {200}
    live = kube.get(HybridClusterResource, "c1", namespace=namespace).to_dict()
    expected = views.cluster_details(live).model_dump(mode="json")
    assert all(a.json() == expected for a in answers)
    assert answers[0].json()["metrics"] == {"cpu_usage": None, "memory_usage": None,
                                            "disk_usage": None,
                                            "network_io": {"ingress": None, "egress": None}}
    assert answers[0].headers["ETag"] == f'"{live["metadata"]["resourceVersion"]}"'
    assert answers[0].headers["content-type"] == "application/json"
    assert details_built == ["c1"] * 2  # once for the API, once for ``expected`` above
    set_cluster_status(kube, namespace, "c1", "Active", ready=True)
    eventually(lambda: http.get("/v1/clusters/c1").json()["status"] == "active")
    after = http.get("/v1/clusters/c1")
    live = kube.get(HybridClusterResource, "c1", namespace=namespace).to_dict()
    assert after.json() == views.cluster_details(live).model_dump(mode="json")
    assert after.headers["ETag"] == f'"{live["metadata"]["resourceVersion"]}"'
    assert details_built == ["c1"] * 4  # the new version once, and ``live`` above


def test_a_page_polled_while_nothing_changes_is_assembled_once(
        http: httpx.Client, kube: Client, namespace: str, served: tuple[str, FastAPI]) -> None:
    pages = served[1].state.caches.cluster_pages
    for name in ("c1", "c2"):
        create(http, name)
    before = pages.assembled
    bodies = {http.get("/v1/clusters", params={"per_page": 50}).content for _ in range(5)}
    assert len(bodies) == 1 and pages.assembled == before + 1  # before: one per request
    set_cluster_status(kube, namespace, "c1", "Active", ready=True)
    eventually(lambda: http.get("/v1/clusters", params={"per_page": 50}).json()[
        "clusters"][0]["status"] == "active")
    assert pages.assembled >= before + 2  # the change made the next request assemble it anew

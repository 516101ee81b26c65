"""The API keeps cluster list and details bodies rendered per cluster version
(``api/listing.py``). A hostile tenant tries to be served from another tenant's renderings:
same cluster names in both namespaces, the other namespace named by query or header after the
victim warmed its entries, and a freshly revoked right. Every attempt gets the contract's 403 or
only the attacker's own clusters, and nothing of the victim's in any body."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from lightkube import Client
from lightkube.resources.core_v1 import Namespace
from lightkube.resources.rbac_authorization_v1 import RoleBinding

from hybridcloud.api.settings import Settings, Tier
from hybridcloud.controlplane import ControlPlane

from ..integration.api_support import bearer, ensure_namespace, eventually, identity, serve
from ..integration.test_api_contract import assert_error, cluster_body

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api(management: ControlPlane) -> Iterator[str]:
    settings = Settings(kubeconfig=str(management.kubeconfig), auth_cache_seconds=1,
                        default_tier=Tier.ENTERPRISE)
    with serve(settings) as base:
        yield base


@pytest.fixture
def victim_namespace(kube: Client) -> Iterator[str]:
    name = f"victim-{uuid.uuid4().hex[:8]}"
    ensure_namespace(kube, name)
    try:
        yield name
    finally:
        kube.delete(Namespace, name)


def test_warm_renderings_never_serve_another_tenants_clusters(
        api: str, kube: Client, namespace: str, victim_namespace: str) -> None:
    attacker = bearer(identity(kube, namespace, "attacker"))
    victim = bearer(identity(kube, victim_namespace, "victim"))
    with httpx.Client(base_url=api, timeout=30) as http:
        # The same name in both tenants; the victim's cluster is marked by its region.
        assert http.post("/v1/clusters", json=cluster_body("shared", region="victim-secret"),
                         headers=victim).status_code == 201
        assert http.post("/v1/clusters", json=cluster_body("shared", region="mine"),
                         headers=attacker).status_code == 201
        # The victim warms its list page and its details.
        assert http.get("/v1/clusters", headers=victim).json()["clusters"][0]["region"] == \
            "victim-secret"
        assert http.get("/v1/clusters/shared", headers=victim).json()["region"] == \
            "victim-secret"
        # The attacker, by default, gets its own cluster of that name.
        own_list = http.get("/v1/clusters", headers=attacker)
        own = http.get("/v1/clusters/shared", headers=attacker)
        assert [c["region"] for c in own_list.json()["clusters"]] == ["mine"]
        assert own.json()["region"] == "mine" and own.json()["namespace"] == namespace
        # Naming the victim's namespace is refused on both routes, by query or header.
        for path in ("/v1/clusters", "/v1/clusters/shared"):
            for where in ({"params": {"namespace": victim_namespace}},
                          {"headers": {**attacker, "X-Tenant-Namespace": victim_namespace}}):
                refused = http.get(path, **{"headers": attacker, **where})  # type: ignore[arg-type]
                assert assert_error(refused, 403, "FORBIDDEN")["namespace"] == victim_namespace
                assert "victim-secret" not in refused.text
        # Filters cannot reach across either: the victim's region matches nothing here.
        filtered = http.get("/v1/clusters", params={"region": "victim-secret"},
                            headers=attacker).json()
        assert filtered["clusters"] == [] and filtered["total"] == 0


def test_a_revoked_tenant_loses_its_warm_renderings(
        api: str, kube: Client, namespace: str) -> None:
    tenant = bearer(identity(kube, namespace, "leaving"))
    with httpx.Client(base_url=api, timeout=30) as http:
        assert http.post("/v1/clusters", json=cluster_body("c1"), headers=tenant).status_code \
            == 201
        assert http.get("/v1/clusters", headers=tenant).json()["total"] == 1
        assert http.get("/v1/clusters/c1", headers=tenant).status_code == 200
        kube.delete(RoleBinding, "leaving-tenant", namespace=namespace)

        def refused() -> bool:
            return all(http.get(path, headers=tenant).status_code == 403
                       for path in ("/v1/clusters", "/v1/clusters/c1"))
        eventually(refused, timeout=15)  # within the auth cache time (1 s here) + RBAC update
        assert_error(http.get("/v1/clusters", headers=tenant), 403, "FORBIDDEN")

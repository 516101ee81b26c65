"""Authentication and authorization on every endpoint: no/bad/expired tokens, RBAC, tenant
isolation across namespaces, and the OAuth 2.0 client-credentials flow end to end."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Secret

from hybridcloud.api.oauth import CLIENT_LABEL, hash_client_secret
from hybridcloud.api.settings import Settings, Tier
from hybridcloud.controlplane import ControlPlane

from .api_support import bearer, ensure_namespace, identity, serve, set_cluster_status
from .test_api_contract import CREATE_CLUSTER, DEPLOY_APPLICATION, MULTI_CLUSTER, assert_error

pytestmark = pytest.mark.integration

OAUTH_NAMESPACE = "api-auth-oauth"


def endpoints(cluster: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every /v1 endpoint with a valid request for it (the cluster may or may not exist)."""
    return [
        ("GET", "/v1/clusters", None),
        ("POST", "/v1/clusters", {**CREATE_CLUSTER, "name": f"x-{uuid.uuid4().hex[:6]}"}),
        ("GET", f"/v1/clusters/{cluster}", None),
        ("PATCH", f"/v1/clusters/{cluster}", {"version": "v1.29.0"}),
        ("POST", f"/v1/clusters/{cluster}/applications",
         {**DEPLOY_APPLICATION, "name": f"a-{uuid.uuid4().hex[:6]}"}),
        ("GET", f"/v1/clusters/{cluster}/applications", None),
        ("GET", f"/v1/clusters/{cluster}/workloads", None),
        ("PATCH", f"/v1/clusters/{cluster}/workloads/deployments/default/web/scale",
         {"replicas": 2}),
        ("POST", "/v1/multi-cluster/applications",
         {**MULTI_CLUSTER, "clusters": [{"cluster_id": cluster}]}),
        ("GET", "/v1/multi-cluster/status", None),
        ("DELETE", f"/v1/clusters/{cluster}", None),
    ]


@pytest.fixture(scope="module")
def api(management: ControlPlane, kube: Client) -> Iterator[str]:
    ensure_namespace(kube, OAUTH_NAMESPACE)
    settings = Settings(kubeconfig=str(management.kubeconfig), auth_cache_seconds=0,
                        default_tier=Tier.ENTERPRISE, oauth_namespace=OAUTH_NAMESPACE,
                        oauth_token_seconds=600)
    with serve(settings) as base:
        yield base


@pytest.fixture
def client(api: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api, timeout=30) as http:
        yield http


def call(http: httpx.Client, method: str, path: str, body: dict[str, Any] | None,
         headers: dict[str, str] | None = None,
         params: dict[str, str] | None = None) -> httpx.Response:
    return http.request(method, path, json=body, headers=headers, params=params)


class TestAuthentication:
    def test_every_endpoint_refuses_a_missing_token(self, client: httpx.Client) -> None:
        for method, path, body in [*endpoints("c1"), ("GET", "/v1/operations/op-x", None)]:
            response = call(client, method, path, body)
            assert_error(response, 401, "UNAUTHORIZED")
            assert response.headers["WWW-Authenticate"].startswith("Bearer")

    def test_every_endpoint_refuses_a_bad_token(self, client: httpx.Client) -> None:
        for method, path, body in endpoints("c1"):
            assert_error(call(client, method, path, body, bearer("not-a-token")), 401,
                         "UNAUTHORIZED")
            assert_error(call(client, method, path, body, {"Authorization": "Basic abc"}),
                         401, "UNAUTHORIZED")

    def test_an_expired_service_account_token_is_refused(
            self, client: httpx.Client, kube: Client, namespace: str,
            management: ControlPlane) -> None:
        token = identity(kube, namespace, "tenant")
        assert client.get("/v1/clusters", headers=bearer(token)).status_code == 200
        key = Path(management.ca_cert).parent / "sa.key"
        # Control: the same re-signing with a future expiry is accepted, so the refusal below
        # is about expiry alone, not about our signature.
        fresh = reissue(token, key, expires_in=600)
        assert client.get("/v1/clusters", headers=bearer(fresh)).status_code == 200
        expired = reissue(token, key, expires_in=-3600)
        assert_error(client.get("/v1/clusters", headers=bearer(expired)), 401, "UNAUTHORIZED")


class TestAuthorization:
    def test_a_valid_identity_without_rbac_is_forbidden_everywhere(
            self, client: httpx.Client, kube: Client, namespace: str) -> None:
        token = identity(kube, namespace, "nobody", bind=False)
        for method, path, body in endpoints("c1"):
            details = assert_error(call(client, method, path, body, bearer(token)), 403,
                                   "FORBIDDEN")
            assert details["namespace"] == namespace

    def test_workloads_need_the_workloads_subresource_not_just_clusters(
            self, client: httpx.Client, kube: Client, namespace: str) -> None:
        from lightkube.models.rbac_v1 import PolicyRule

        from hybridcloud import GROUP

        from .api_support import grant

        token = identity(kube, namespace, "reader", bind=False)
        grant(kube, namespace, "reader", "reader", [
            PolicyRule(apiGroups=[GROUP], resources=["hybridclusters"],
                       verbs=["get", "list", "create"])], binding="reader")
        headers = bearer(token)
        assert client.post("/v1/clusters", json=CREATE_CLUSTER, headers=headers).status_code \
            == 201
        assert client.get("/v1/clusters/new-cluster", headers=headers).status_code == 200
        details = assert_error(client.get("/v1/clusters/new-cluster/workloads",
                                          headers=headers), 403, "FORBIDDEN")
        assert details["resource"] == "hybridclusters/workloads"
        assert_error(client.delete("/v1/clusters/new-cluster", headers=headers), 403,
                     "FORBIDDEN")


class TestTenantIsolation:
    @pytest.fixture
    def tenants(self, kube: Client, namespace: str) -> Iterator[tuple[str, str, str]]:
        """Tenant A (the test namespace) and tenant B (another one), each with a cluster."""
        other = f"t-{uuid.uuid4().hex[:8]}"
        ensure_namespace(kube, other)
        try:
            yield identity(kube, namespace, "tenant-a"), identity(kube, other, "tenant-b"), \
                other
        finally:
            from lightkube.resources.core_v1 import Namespace

            kube.delete(Namespace, other)

    def test_each_tenant_sees_only_its_own_clusters(
            self, client: httpx.Client, kube: Client, namespace: str,
            tenants: tuple[str, str, str]) -> None:
        token_a, token_b, _ = tenants
        a, b = bearer(token_a), bearer(token_b)
        assert client.post("/v1/clusters", json={**CREATE_CLUSTER, "name": "alpha"},
                           headers=a).status_code == 201
        created_b = client.post("/v1/clusters", json={**CREATE_CLUSTER, "name": "beta"},
                                headers=b)
        assert created_b.status_code == 201
        assert [c["id"] for c in client.get("/v1/clusters", headers=a).json()["clusters"]] \
            == ["alpha"]
        assert [c["id"] for c in client.get("/v1/clusters", headers=b).json()["clusters"]] \
            == ["beta"]
        missing = assert_error(client.get("/v1/clusters/beta", headers=a), 404,
                               "CLUSTER_NOT_FOUND")
        assert missing["available_clusters"] == ["alpha"]  # never B's names
        assert_error(client.get(f"/v1/operations/{created_b.json()['operation_id']}",
                                headers=a), 404, "NOT_FOUND")
        assert client.get(f"/v1/operations/{created_b.json()['operation_id']}",
                          headers=b).status_code == 200
        assert client.get("/v1/multi-cluster/status", headers=a).json()["clusters"][
            "total"] == 1

    def test_naming_another_tenants_namespace_is_forbidden_on_every_endpoint(
            self, client: httpx.Client, kube: Client, namespace: str,
            tenants: tuple[str, str, str]) -> None:
        token_a, token_b, other = tenants
        client.post("/v1/clusters", json={**CREATE_CLUSTER, "name": "beta"},
                    headers=bearer(token_b))
        set_cluster_status(kube, other, "beta", "Active", ready=True)
        for method, path, body in endpoints("beta"):
            by_query = call(client, method, path, body, bearer(token_a),
                            params={"namespace": other})
            assert assert_error(by_query, 403, "FORBIDDEN")["namespace"] == other
            by_header = call(client, method, path, body,
                             {**bearer(token_a), "X-Tenant-Namespace": other})
            assert assert_error(by_header, 403, "FORBIDDEN")["namespace"] == other
        assert client.get("/v1/clusters/beta", headers=bearer(token_b)).status_code == 200

    def test_a_caller_granted_another_namespace_may_work_there(
            self, client: httpx.Client, kube: Client, namespace: str,
            tenants: tuple[str, str, str]) -> None:
        token_a, _, other = tenants
        identity(kube, other, "tenant-a-there")  # creates the role binding in B's namespace
        from lightkube.models.rbac_v1 import RoleRef, Subject
        from lightkube.resources.rbac_authorization_v1 import RoleBinding

        from .api_support import TENANT_ROLE

        kube.apply(RoleBinding(
            metadata=ObjectMeta(name="a-in-b", namespace=other),
            roleRef=RoleRef(apiGroup="rbac.authorization.k8s.io", kind="ClusterRole",
                            name=TENANT_ROLE),
            subjects=[Subject(kind="ServiceAccount", name="tenant-a", namespace=namespace)]))
        response = client.get("/v1/clusters", params={"namespace": other},
                              headers=bearer(token_a))
        assert response.status_code == 200, response.text


class TestOAuthClientCredentials:
    @pytest.fixture
    def registration(self, kube: Client, namespace: str) -> Iterator[tuple[str, str]]:
        identity(kube, namespace, "ci-bot")
        client_id, secret = f"ci-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
        name = f"oauth-{client_id}"
        kube.create(Secret(
            metadata=ObjectMeta(name=name, namespace=OAUTH_NAMESPACE,
                                labels={CLIENT_LABEL: "true"}),
            stringData={"client_id": client_id,
                        "client_secret_hash": hash_client_secret(secret),
                        "service_account": f"{namespace}/ci-bot", "tier": "professional"}))
        yield client_id, secret
        kube.delete(Secret, name, namespace=OAUTH_NAMESPACE)

    def token(self, http: httpx.Client, **form: str) -> httpx.Response:
        return http.post("/oauth/token", data=form)

    def test_client_credentials_mint_an_expiring_token_that_works_with_the_clients_tier(
            self, client: httpx.Client, registration: tuple[str, str]) -> None:
        client_id, secret = registration

        def issued() -> httpx.Response | None:
            got = self.token(client, grant_type="client_credentials", client_id=client_id,
                             client_secret=secret)
            return got if got.status_code == 200 else None
        from .api_support import eventually

        response = eventually(issued, timeout=10)  # the registration reaches the cache
        body = response.json()
        assert body["token_type"] == "Bearer"
        assert 0 < body["expires_in"] <= 600
        listing = client.get("/v1/clusters", headers=bearer(body["access_token"]))
        assert listing.status_code == 200
        assert listing.headers["X-RateLimit-Limit"] == "10000"  # professional, from registration
        assert client.post("/v1/clusters", json=CREATE_CLUSTER,
                           headers=bearer(body["access_token"])).status_code == 201

    def test_wrong_secret_unknown_client_and_bad_grants_are_refused(
            self, client: httpx.Client, registration: tuple[str, str]) -> None:
        client_id, secret = registration
        wrong = self.token(client, grant_type="client_credentials", client_id=client_id,
                           client_secret="wrong")
        assert assert_error(wrong, 401, "UNAUTHORIZED")["oauth_error"] == "invalid_client"
        unknown = self.token(client, grant_type="client_credentials", client_id="nobody",
                             client_secret=secret)
        assert assert_error(unknown, 401, "UNAUTHORIZED")["oauth_error"] == "invalid_client"
        grant = self.token(client, grant_type="password", client_id=client_id,
                           client_secret=secret)
        details = assert_error(grant, 400, "INVALID_REQUEST")
        assert details == {"oauth_error": "unsupported_grant_type", "field": "grant_type"}
        missing = self.token(client, grant_type="client_credentials", client_id=client_id)
        assert assert_error(missing, 400, "INVALID_REQUEST")["field"] == "client_secret"
        as_json = client.post("/oauth/token", json={"grant_type": "client_credentials"})
        assert_error(as_json, 400, "INVALID_REQUEST")
        assert secret not in wrong.text + unknown.text + grant.text


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def reissue(token: str, signing_key: Path, expires_in: int) -> str:
    """The same ServiceAccount token, validly signed by the cluster's key, expiring
    ``expires_in`` seconds from now (negative: already expired)."""
    header, payload, _ = token.split(".")
    claims = json.loads(_unb64(payload))
    now = int(time.time())
    claims.update(iat=now - 7200, nbf=now - 7200, exp=now + expires_in)
    signing_input = f"{header}.{_b64(json.dumps(claims).encode())}"
    key = serialization.load_pem_private_key(signing_key.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

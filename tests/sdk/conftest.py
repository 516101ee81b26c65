"""The live stack the Go and TypeScript SDK test suites run against: the real API served over
TCP on the real control plane, a tenant namespace with two active clusters, credentials of every
kind the suites need (a tenant token, an OAuth client, an expired token, a token without RBAC)
and a second API with a small rate-limit bucket for the 429 storm. Behind the API: a real
Prometheus, Alertmanager and VictoriaLogs (seeded with the tenant's log lines), and a second
namespace of the same tenant where the real operator runs (``live_stack.py``). Each test module
gets its own stack (fresh namespaces), so the Go and TypeScript suites never see each other's
objects."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Secret

from hybridcloud.api.oauth import CLIENT_LABEL, hash_client_secret
from hybridcloud.api.settings import Settings, Tier
from hybridcloud.controlplane import ControlPlane

from ..integration.api_support import (
    bearer,
    ensure_namespace,
    identity,
    serve,
    set_cluster_status,
)
from ..integration.metrics_support import tenant_token
from ..integration.test_api_auth import reissue
from ..integration.test_api_contract import cluster_body
from .live_stack import (
    LOG_CLUSTER,
    LOG_LINES,
    allow_tenant_in,
    observability_backends,
    operator_side,
    scraping,
    seed_logs,
)

OAUTH_NAMESPACE = "sdk-oauth"


@pytest.fixture(scope="module")
def sdk_env(management: ControlPlane, kube: Client,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """HYBRIDCLOUD_SDK_* variables describing a live stack, for an SDK's test process."""
    tenant = f"sdk-{uuid.uuid4().hex[:6]}"
    operated = f"{tenant}-op"
    work = tmp_path_factory.mktemp("sdk-stack")
    kube.create(Namespace(metadata=ObjectMeta(name=tenant)))
    ensure_namespace(kube, OAUTH_NAMESPACE)
    token = tenant_token(kube, tenant)  # the platform's resources and alert rules
    allow_tenant_in(kube, operated, tenant, "tenant")
    unbound = identity(kube, tenant, "no-rbac", bind=False)
    expired = reissue(token, Path(management.ca_cert).parent / "sa.key", expires_in=-3600)
    identity(kube, tenant, "ci-bot")
    client_id, secret = f"sdk-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    kube.create(Secret(
        metadata=ObjectMeta(name=f"oauth-{client_id}", namespace=OAUTH_NAMESPACE,
                            labels={CLIENT_LABEL: "true"}),
        stringData={"client_id": client_id, "client_secret_hash": hash_client_secret(secret),
                    "service_account": f"{tenant}/ci-bot", "tier": "enterprise"}))
    stack = ExitStack()
    try:
        backends = stack.enter_context(observability_backends(kube, work))
        seed_logs(backends.logs, tenant)
        settings = Settings(kubeconfig=str(management.kubeconfig), auth_cache_seconds=1,
                            default_tier=Tier.ENTERPRISE, oauth_namespace=OAUTH_NAMESPACE,
                            prometheus_url=backends.prometheus,
                            alertmanager_url=backends.alertmanager, logs_url=backends.logs,
                            rules_file=str(backends.rules_file), rules_sync_seconds=0.5,
                            allow_local_sources=True, webhook_allow_http=True,
                            webhook_allow_private=True)
        # Basic tier (burst 100) over a 1,000 s window: the bucket refills one request per second.
        limited = Settings(kubeconfig=str(management.kubeconfig), default_tier=Tier.BASIC,
                           rate_limit_window_seconds=1000, oauth_namespace=OAUTH_NAMESPACE)
        with serve(settings) as base, serve(limited) as limited_base, \
                scraping(backends, kube, base, work), \
                operator_side(management, operated, work) as operator_env:
            with httpx.Client(base_url=base, headers=bearer(token), timeout=30) as http:
                for name, region in (("cluster-001", "us-east-1"), ("cluster-002", "eu-west-1")):
                    created = http.post("/v1/clusters", json=cluster_body(name, region=region))
                    assert created.status_code == 201, created.text
                    set_cluster_status(kube, tenant, name, "Active", ready=True)
            yield {
                "HYBRIDCLOUD_SDK_BASE_URL": base,
                "HYBRIDCLOUD_SDK_TOKEN": token,
                "HYBRIDCLOUD_SDK_NAMESPACE": tenant,
                "HYBRIDCLOUD_SDK_UNBOUND_TOKEN": unbound,
                "HYBRIDCLOUD_SDK_EXPIRED_TOKEN": expired,
                "HYBRIDCLOUD_SDK_CLIENT_ID": client_id,
                "HYBRIDCLOUD_SDK_CLIENT_SECRET": secret,
                "HYBRIDCLOUD_SDK_LIMITED_URL": limited_base,
                "HYBRIDCLOUD_SDK_LIMITED_TOKEN": token,
                "HYBRIDCLOUD_SDK_LOG_CLUSTER": LOG_CLUSTER,
                "HYBRIDCLOUD_SDK_LOG_LINES": str(LOG_LINES),
                **operator_env,
            }
    finally:
        stack.close()
        kube.delete(Secret, f"oauth-{client_id}", namespace=OAUTH_NAMESPACE)
        kube.delete(Namespace, tenant)
        kube.delete(Namespace, operated)

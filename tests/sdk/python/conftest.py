"""A real API (in-process uvicorn) on the test management cluster and a tenant token for the
SDK and CLI tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule, RoleRef, Subject
from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding

from hybridcloud.api.settings import Settings, Tier
from hybridcloud.controlplane import ControlPlane
from tests.integration.api_support import identity, serve

OAUTH_NAMESPACE = "sdk-python-oauth"


@pytest.fixture(scope="module")
def api(management: ControlPlane) -> Iterator[str]:
    settings = Settings(kubeconfig=str(management.kubeconfig), auth_cache_seconds=1,
                        default_tier=Tier.ENTERPRISE, oauth_namespace=OAUTH_NAMESPACE,
                        oauth_token_seconds=600,
                        # The CLI test delivers from a local bare repository (file://).
                        allow_local_sources=True)
    with serve(settings) as base:
        yield base


@pytest.fixture
def token(kube: Client, namespace: str) -> str:
    token = identity(kube, namespace, "sdk-tenant")
    # GET /v1/alerts authorizes `list prometheusrules` (a tenant reads its alerting rules' alerts).
    kube.apply(Role(metadata=ObjectMeta(name="sdk-alert-reader", namespace=namespace),
                    rules=[PolicyRule(apiGroups=["monitoring.coreos.com"],
                                      resources=["prometheusrules"], verbs=["get", "list"])]))
    kube.apply(RoleBinding(
        metadata=ObjectMeta(name="sdk-alert-reader", namespace=namespace),
        roleRef=RoleRef(apiGroup="rbac.authorization.k8s.io", kind="Role",
                        name="sdk-alert-reader"),
        subjects=[Subject(kind="ServiceAccount", name="sdk-tenant", namespace=namespace)]))
    return token

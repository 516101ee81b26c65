"""A real API (in-process uvicorn) on the test management cluster and a tenant token for the
SDK and CLI tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lightkube import Client

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
    return identity(kube, namespace, "sdk-tenant")

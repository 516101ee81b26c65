"""The REST API's own requests to Kubernetes are counted in ``rest_client_requests_total``, as
client-go's REST client counts them: the watch caches' lists and watches, the TokenReviews and
SubjectAccessReviews that authenticate and authorize every caller.

The API runs in-process against the real apiserver; the counter lives in prometheus-client's
default registry, which the test reads directly (the test's own lightkube clients are not counted:
only the clients the API builds are).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest
from lightkube import Client, KubeConfig
from prometheus_client import REGISTRY

from hybridcloud.api.settings import Settings
from hybridcloud.controlplane import ControlPlane

from .api_support import bearer, identity, serve

pytestmark = pytest.mark.integration


def requests_counted(host: str, method: str, code: str) -> float:
    return REGISTRY.get_sample_value(
        "rest_client_requests_total", {"host": host, "method": method, "code": code}) or 0.0


def test_the_apis_reviews_lists_and_watches_are_counted_by_method_code_and_host(
        management: ControlPlane, kube: Client, namespace: str) -> None:
    config = KubeConfig.from_file(management.kubeconfig).get()
    assert config is not None
    host = urlsplit(config.cluster.server).netloc
    token = identity(kube, namespace, "counted")
    reads_before = requests_counted(host, "GET", "200")
    creates_before = requests_counted(host, "POST", "201")
    settings = Settings(kubeconfig=str(management.kubeconfig), auth_cache_seconds=0)
    with serve(settings) as base, httpx.Client(base_url=base, timeout=30) as http:
        # The caches' initial lists and their watches, before the API is ready.
        assert requests_counted(host, "GET", "200") >= reads_before + 2
        for _ in range(3):
            answer = http.get("/v1/clusters", headers=bearer(token))
            assert answer.status_code == 200, answer.text
    # Each request: one TokenReview and one SubjectAccessReview, uncached here.
    assert requests_counted(host, "POST", "201") >= creates_before + 6

"""Which member pods are scraped and at which pod-proxy path (``observability.pod_targets``)."""

from __future__ import annotations

from typing import Any

import pytest

from hybridcloud.observability.pod_targets import (
    MAX_POD_TARGETS_PER_CLUSTER,
    PodTarget,
    pod_proxy_path,
    pod_target,
    pod_targets,
)


def _pod(name: str = "web-0", namespace: str = "shop", phase: str = "Running",
         **annotations: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace,
                         "annotations": {"prometheus.io/scrape": "true",
                                         "prometheus.io/port": "8080", **annotations}},
            "status": {"phase": phase}}


def test_an_annotated_running_pod_is_scraped_at_metrics_by_default() -> None:
    target = pod_target(_pod())
    assert target == PodTarget("shop", "web-0", 8080, "/metrics", "http")
    assert pod_proxy_path(target) == "/api/v1/namespaces/shop/pods/web-0:8080/proxy/metrics"


def test_path_and_https_scheme_annotations_shape_the_proxy_path() -> None:
    target = pod_target(_pod(**{"prometheus.io/path": "/internal/stats",
                                "prometheus.io/scheme": "https"}))
    assert target is not None
    assert pod_proxy_path(target) == \
        "/api/v1/namespaces/shop/pods/https:web-0:8080/proxy/internal/stats"


@pytest.mark.parametrize("pod", [
    _pod(**{"prometheus.io/scrape": "false"}),
    _pod(phase="Pending"),
    {"metadata": {"name": "web-0", "namespace": "shop",
                  "annotations": {"prometheus.io/scrape": "true"}},
     "status": {"phase": "Running"}},
    _pod(**{"prometheus.io/port": "0"}),
    _pod(**{"prometheus.io/port": "65536"}),
    _pod(**{"prometheus.io/port": "80; rm"}),
    _pod(**{"prometheus.io/path": "metrics"}),
    _pod(**{"prometheus.io/path": "/../../secrets"}),
    _pod(**{"prometheus.io/path": "/metrics?x=1"}),
    _pod(**{"prometheus.io/path": "/%2e%2e/secrets"}),
    _pod(**{"prometheus.io/scheme": "file"}),
    _pod(name="Web_0"),
    _pod(namespace="a/b"),
], ids=["not-opted-in", "not-running", "no-port", "port-zero", "port-too-big", "port-not-number",
        "relative-path", "dot-segments", "query", "escapes", "scheme", "bad-name", "bad-namespace"])
def test_pods_not_opted_in_or_with_unsafe_annotations_are_not_scraped(
        pod: dict[str, Any]) -> None:
    assert pod_target(pod) is None


def test_targets_are_sorted_and_bounded_per_cluster() -> None:
    pods = [_pod(name=f"web-{i:04d}") for i in range(MAX_POD_TARGETS_PER_CLUSTER + 50)]
    found = pod_targets(list(reversed(pods)))
    assert len(found) == MAX_POD_TARGETS_PER_CLUSTER
    assert [t.name for t in found] == sorted(t.name for t in found)

"""Several API replicas share one rule file: each renders the whole file from the
PrometheusRule objects and replaces it atomically, so whichever writes last, Prometheus reads a
complete file holding every tenant rule, and a rule written or deleted through either replica
is loaded or unloaded."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from lightkube import Client

from hybridcloud.api.settings import Settings, Tier
from hybridcloud.controlplane import ControlPlane

from ..observability_support import free_url, prometheus
from .api_support import bearer, eventually, serve
from .metrics_support import install_prometheus_rule_crd, scraper_token, tenant_token

pytestmark = pytest.mark.integration
NAMESPACE = "rules-replicas"


def _loaded(prometheus_url: str) -> set[str]:
    groups = httpx.get(f"{prometheus_url}/api/v1/rules", timeout=10).json()["data"]["groups"]
    return {str(r["name"]) for g in groups for r in g["rules"]}


@pytest.fixture(scope="module")
def replicas(management: ControlPlane, kube: Client, tmp_path_factory: pytest.TempPathFactory,
             ) -> Iterator[tuple[str, str, str, Path]]:
    """(API 1, API 2, Prometheus) sharing the rule directory Prometheus reads."""
    install_prometheus_rule_crd(kube)
    work = tmp_path_factory.mktemp("rule-replicas")
    rules_dir = work / "rules"
    rules_dir.mkdir()
    prometheus_url = free_url()
    settings = Settings(kubeconfig=str(management.kubeconfig), default_tier=Tier.ENTERPRISE,
                        oauth_namespace="rules-oauth", prometheus_url=prometheus_url,
                        rules_file=str(rules_dir / "tenants.yaml"), rules_sync_seconds=0.2)
    with serve(settings) as first, serve(settings.model_copy()) as second, prometheus(
            work / "prometheus", f"{first}/internal/metrics/targets", scraper_token(kube),
            url=prometheus_url, rules_dir=rules_dir):
        yield first, second, prometheus_url, rules_dir


def test_two_api_replicas_keep_one_whole_rule_file_that_prometheus_loads(
        replicas: tuple[str, str, str, Path], kube: Client) -> None:
    first, second, prometheus_url, rules_dir = replicas
    path = rules_dir / "tenants.yaml"
    torn: list[str] = []
    stop = threading.Event()

    def watch() -> None:  # every read must parse as a whole rule file
        while not stop.is_set():
            try:
                text = path.read_text()
            except FileNotFoundError:
                continue
            parsed: Any = yaml.safe_load(text)
            if not isinstance(parsed, dict) or "groups" not in parsed:
                torn.append(text)

    watcher = threading.Thread(target=watch)
    watcher.start()
    headers = bearer(tenant_token(kube, NAMESPACE))
    try:
        names = [f"ReplicaRule{index}" for index in range(6)]
        for index, name in enumerate(names):  # alternate replicas, as a load balancer would
            api = (first, second)[index % 2]
            created = httpx.post(f"{api}/v1/alert-rules", headers=headers, timeout=30, json={
                "name": name, "expression": "vector(1) > 2", "severity": "info"})
            assert created.status_code == 201, created.text
        eventually(lambda: set(names) <= _loaded(prometheus_url), timeout=60, interval=0.5)
        deleted = httpx.delete(f"{second}/v1/alert-rules/replica-rule0", headers=headers,
                               timeout=30)
        assert deleted.status_code in (200, 204), deleted.text
        eventually(lambda: "ReplicaRule0" not in _loaded(prometheus_url)
                   and set(names[1:]) <= _loaded(prometheus_url), timeout=60, interval=0.5)
    finally:
        stop.set()
        watcher.join()
    assert torn == []
    # No replica leaves a temporary file behind in the directory Prometheus globs.
    assert sorted(p.name for p in rules_dir.iterdir()) == ["tenants.yaml"]

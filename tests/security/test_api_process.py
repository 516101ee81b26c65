"""The API as deployed: ``python -m hybridcloud api`` (the chart's entry point), not the app
object. What the process adds is its server configuration — uvicorn's own proxy-header
handling must stay off, and ``/metrics`` must move to its own port — so that is what these
tests attack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hybridcloud.controlplane import ControlPlane
from tests.integration.api_support import api_process as start_api_process

from ..integration.test_api_contract import assert_error

pytestmark = pytest.mark.integration

BURST = 3


@pytest.fixture
def api_process(management: ControlPlane, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The API process with a metrics port; yields (API URL, metrics URL)."""
    def env(extra: list[int]) -> dict[str, str]:
        return {"HYBRIDCLOUD_API_KUBECONFIG": str(management.kubeconfig),
                "HYBRIDCLOUD_API_METRICS_PORT": str(extra[0]),
                "HYBRIDCLOUD_API_AUTH_FAILURE_BURST": str(BURST)}

    with start_api_process(tmp_path / "api.log", env, extra_ports=1) as (base, extra):
        yield base, f"http://127.0.0.1:{extra[0]}"


def test_the_api_process_serves_metrics_only_on_the_metrics_port_and_no_docs(
        api_process: tuple[str, str]) -> None:
    base, metrics = api_process
    with httpx.Client(timeout=30) as http:
        assert_error(http.get(f"{base}/metrics"), 404, "NOT_FOUND")
        for page in ("/docs", "/redoc"):
            assert_error(http.get(f"{base}{page}"), 404, "NOT_FOUND")
        assert http.get(f"{base}/openapi.json").status_code == 200
        scraped = http.get(f"{metrics}/metrics")
        assert scraped.status_code == 200
        assert 'hybridcloud_api_cache_synced{resource="hybridclusters"} 1.0' in scraped.text
        assert http.get(f"{metrics}/v1/clusters").status_code == 404  # metrics only


def test_the_api_process_ignores_forwarded_headers_from_its_loopback_peer(
        api_process: tuple[str, str]) -> None:
    # uvicorn trusts X-Forwarded-For from 127.0.0.1 by default; the API must not.
    base, _ = api_process
    with httpx.Client(base_url=base, timeout=30) as http:
        codes = []
        for i in range(BURST + 1):
            response = http.get("/v1/clusters", headers={
                "Authorization": f"Bearer guess-{i}", "X-Forwarded-For": f"198.51.100.{i + 1}",
                "Forwarded": f"for=198.51.100.{i + 1}"})
            codes.append(response.status_code)
    assert codes == [401] * BURST + [429]
    assert_error(response, 429, "RATE_LIMITED")

"""Security scans, vulnerabilities and application metrics through the Python SDK (sync and
async) against the real API. This stack runs no operator, so a scan the SDK starts stays
``pending``: that is what the tests read back (the operator's side is tested in
tests/integration/test_security_scans.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from hybridcloud_sdk import (
    AsyncHybridCloudClient,
    BadRequestError,
    HybridCloudClient,
    NotFoundError,
    WaitTimeoutError,
)

from .events_support import POOLS, VERSION

pytestmark = pytest.mark.integration


@pytest.fixture
def client(api: str, token: str) -> Iterator[HybridCloudClient]:
    with HybridCloudClient(base_url=api, api_key=token) as sdk:
        sdk.clusters.create(name="scanned", provider="local", version=VERSION,
                            configuration=POOLS)
        yield sdk


def test_a_scan_of_a_registered_cluster_is_started_and_read_back_by_id(
        client: HybridCloudClient) -> None:
    started = client.security.trigger_scan(cluster_id="scanned", scan_types=["vulnerabilities"])
    assert started.id.startswith("scan-")
    assert started.status == "pending"
    read = client.security.get_scan(started.id)
    assert (read.id, read.status, read.scan_types) == (started.id, "pending",
                                                       ["vulnerabilities"])
    assert read.targets == [{"type": "cluster", "cluster_id": "scanned"}]
    # Nobody runs it here: the wait polls and gives up naming the state it last saw.
    with pytest.raises(WaitTimeoutError, match="still pending"):
        client.security.wait_for_scan(started.id, timeout=0.5, interval=0.2)


def test_scans_of_unknown_clusters_and_unknown_scan_ids_are_typed_404s(
        client: HybridCloudClient) -> None:
    with pytest.raises(NotFoundError) as cluster:
        client.security.trigger_scan(cluster_id="no-such-cluster")
    assert cluster.value.code == "CLUSTER_NOT_FOUND"
    assert cluster.value.details["cluster_id"] == "no-such-cluster"
    with pytest.raises(NotFoundError) as scan:
        client.security.get_scan("scan-000000000000")
    assert (scan.value.status, scan.value.details["scan_id"]) == (404, "scan-000000000000")


def test_vulnerabilities_are_listed_with_filters_and_a_bad_filter_is_a_400_naming_it(
        client: HybridCloudClient) -> None:
    # No scan has run in this namespace: nothing found, whatever the filter.
    found = client.security.list_vulnerabilities(severity=["critical", "high"], fixed=True,
                                                 cluster="scanned")
    assert found.vulnerabilities == []
    with pytest.raises(BadRequestError) as severity:
        client.security.list_vulnerabilities(severity="urgent")
    assert severity.value.details["field"] == "severity"
    assert "urgent" in severity.value.message
    with pytest.raises(BadRequestError) as cluster:
        client.security.list_vulnerabilities(cluster="Not_A_Name")
    assert cluster.value.details["field"] == "cluster"


def test_metrics_of_an_application_not_on_the_cluster_are_a_typed_404(
        client: HybridCloudClient) -> None:
    with pytest.raises(NotFoundError) as unknown:
        client.metrics.get_application_metrics("scanned", "no-such-app")
    assert unknown.value.code == "APPLICATION_NOT_FOUND"
    assert unknown.value.details == {"application": "no-such-app", "cluster_id": "scanned"}


def test_the_async_client_starts_reads_and_filters_scans_like_the_sync_one(
        client: HybridCloudClient, api: str, token: str) -> None:
    async def run() -> None:
        async with AsyncHybridCloudClient(base_url=api, api_key=token) as sdk:
            started = await sdk.security.trigger_scan(cluster_id="scanned")
            read = await sdk.security.get_scan(started.id)
            assert (read.id, read.status) == (started.id, "pending")
            with pytest.raises(WaitTimeoutError):
                await sdk.security.wait_for_scan(started.id, timeout=0.3, interval=0.1)
            with pytest.raises(BadRequestError) as severity:
                await sdk.security.list_vulnerabilities(severity="urgent")
            assert severity.value.details["field"] == "severity"
            with pytest.raises(NotFoundError) as unknown:
                await sdk.metrics.get_application_metrics("scanned", "no-such-app")
            assert unknown.value.code == "APPLICATION_NOT_FOUND"
    asyncio.run(run())

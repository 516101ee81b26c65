"""Metrics, alerts, logs and the event stream through the SDK against the real API. The test API
has no Prometheus, Alertmanager or log store: those answer a typed 503; events come from the
API's own watch cache, so a cluster created over REST shows up on ``events.subscribe``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from lightkube import Client

from hybridcloud_sdk import (
    AsyncHybridCloudClient,
    BadRequestError,
    HybridCloudClient,
    RetryPolicy,
    ServiceUnavailableError,
    StreamEvent,
)

from .events_support import POOLS, ClusterMaker, first_created

pytestmark = pytest.mark.integration

VERSION = "v1.37.2"
# The API's 503 carries Retry-After (5-10 s); one quick retry keeps the retry path exercised.
FAST_RETRY = RetryPolicy(max_retries=1, backoff=0.05, max_backoff=0.1)


@pytest.fixture
def client(api: str, token: str) -> Iterator[HybridCloudClient]:
    with HybridCloudClient(base_url=api, api_key=token, retry=FAST_RETRY) as sdk:
        yield sdk


def test_metrics_alerts_and_logs_without_their_backends_are_a_typed_503(
        client: HybridCloudClient) -> None:
    client.clusters.create(name="m1", provider="local", version=VERSION, configuration=POOLS)
    calls = [
        lambda: client.metrics.get_cluster_metrics("m1", metrics=["cpu_usage"]),
        lambda: client.alerts.list(state="firing"),
        lambda: client.logs.query("level:error AND namespace:production", limit=10),
    ]
    for call in calls:
        with pytest.raises(ServiceUnavailableError) as refused:
            call()
        assert (refused.value.status, refused.value.code) == (503, "SERVICE_UNAVAILABLE")
        assert "configured" in refused.value.message  # names what the server lacks


def test_bad_log_queries_and_metric_names_are_a_400_naming_the_parameter(
        client: HybridCloudClient) -> None:
    client.clusters.create(name="m2", provider="local", version=VERSION, configuration=POOLS)
    with pytest.raises(BadRequestError) as query:
        client.logs.query("level:(error")
    assert query.value.details["field"] == "query"
    with pytest.raises(BadRequestError) as window:
        client.logs.query("error", start_time="2026-01-02T00:00:00Z",
                          end_time="2026-01-01T00:00:00Z")
    assert window.value.details["field"] == "end_time"


def test_subscribe_streams_a_cluster_created_over_rest_and_resumes_after_it(
        client: HybridCloudClient, kube: Client, namespace: str) -> None:
    stream = client.events.subscribe(events=["cluster.created"], idle_timeout=60)
    with ClusterMaker(client, "ev", kube, namespace) as maker:
        seen = first_created(stream, "ev")
        made_when_seen = len(maker.made)
    assert seen.data["cluster_id"] in maker.made
    assert seen.data.get("namespace", namespace) == namespace
    # A new connection with Last-Event-ID first receives what followed from the history.
    resumed = list(client.events.subscribe(events=["cluster.created"], last_event_id=seen.id,
                                           idle_timeout=2.0))
    later = [event.data["cluster_id"] for event in resumed]
    assert seen.data["cluster_id"] not in later
    # The event can arrive before the maker records its create's answer, so the seen cluster
    # may be among those "made after": it is the one the resumed stream must not repeat.
    assert set(later) >= set(maker.made[made_when_seen:]) - {seen.data["cluster_id"]}
    assert set(later) <= set(maker.made)


def test_subscribe_filters_by_cluster_and_refuses_unknown_event_types(
        client: HybridCloudClient, kube: Client, namespace: str) -> None:
    with pytest.raises(BadRequestError) as refused:
        next(client.events.subscribe(events=["cluster.exploded"]))
    assert refused.value.details["field"] == "events"
    stream = client.events.subscribe(clusters=["flt3", "flt5"], idle_timeout=60)
    with ClusterMaker(client, "flt", kube, namespace):
        assert first_created(stream, "flt").data["cluster_id"] in ("flt3", "flt5")


def test_the_async_client_subscribes_and_queries_like_the_sync_one(
        api: str, token: str, client: HybridCloudClient, kube: Client, namespace: str) -> None:
    async def scenario() -> StreamEvent:
        async with AsyncHybridCloudClient(base_url=api, api_key=token,
                                          retry=FAST_RETRY) as sdk:
            with pytest.raises(ServiceUnavailableError):
                await sdk.alerts.list()
            with pytest.raises(BadRequestError):
                await sdk.logs.query("(")
            async for event in sdk.events.subscribe(events=["cluster.created"],
                                                    idle_timeout=60):
                if str(event.data.get("cluster_id", "")).startswith("as"):
                    return event
        raise AssertionError("the stream ended")

    with ClusterMaker(client, "as", kube, namespace):
        seen = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert seen.event == "cluster.created"

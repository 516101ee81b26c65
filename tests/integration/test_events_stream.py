"""GET /v1/events (SSE) against the real API and apiserver. The test writes the transitions into
the clusters' status the way the operator records them, so only the stream is under test."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from lightkube import Client
from lightkube.types import PatchType

from hybridcloud.controlplane import ControlPlane
from hybridcloud.events.transitions import recorded
from hybridcloud.kube.resources import HybridClusterResource

from .api_support import serve
from .harness import eventually, fresh_namespace
from .webhook_support import api_settings, tenant

pytestmark = pytest.mark.integration


class Stream:
    """An SSE client in a thread: the frames it received, in order."""

    def __init__(self, base: str, token: str, params: dict[str, str] | None = None,
                 last_event_id: str | None = None) -> None:
        self.frames: list[dict[str, Any]] = []
        self.comments = 0
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        self.client = httpx.Client(base_url=base, headers=headers,
                                   timeout=httpx.Timeout(30, read=60))
        self.response = self.client.send(self.client.build_request(
            "GET", "/v1/events", params=params), stream=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        current: dict[str, Any] = {}
        try:
            for line in self.response.iter_lines():
                if line.startswith(":"):
                    self.comments += 1
                elif line.startswith("id: "):
                    current["id"] = line[4:]
                elif line.startswith("event: "):
                    current["event"] = line[7:]
                elif line.startswith("data: "):
                    current["data"] = json.loads(line[6:])
                elif not line and current:
                    self.frames.append(current)
                    current = {}
        except httpx.HTTPError:
            pass

    def close(self) -> None:
        self.response.close()
        self.client.close()


def transition(kube: Client, namespace: str, name: str, event: str, phase: str) -> None:
    obj = kube.get(HybridClusterResource, name, namespace=namespace)
    status = recorded(obj.get("status"), {"phase": phase}, event, now="2026-12-01T10:00:00Z")
    kube.patch(HybridClusterResource.Status, name, {"status": status}, namespace=namespace,
               patch_type=PatchType.MERGE)


def make(kube: Client, namespace: str, name: str) -> None:
    kube.create(HybridClusterResource.from_dict({
        "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
        "metadata": {"name": name}, "spec": {"provider": "aws", "region": "us-east-1",
                                             "nodeGroups": [{"name": "w", "size": 1}]}}),
        namespace=namespace)


@pytest.fixture
def base(management: ControlPlane) -> Iterator[str]:
    settings = api_settings(management.kubeconfig).model_copy(
        update={"events_heartbeat_seconds": 0.5})
    with serve(settings) as url:
        yield url


def test_sse_streams_live_resumes_with_last_event_id_and_isolates_tenants(
        base: str, kube: Client, namespace: str) -> None:
    token = tenant(kube, namespace)
    with fresh_namespace(kube, "sse-other") as other:
        other_token = tenant(kube, other, "other")
        live = Stream(base, token)
        ready_only = Stream(base, token, {"events": "cluster.ready", "clusters": "alpha"})
        foreign = Stream(base, other_token)
        try:
            assert live.response.status_code == 200
            assert live.response.headers["content-type"].startswith("text/event-stream")
            make(kube, namespace, "alpha")
            make(kube, namespace, "beta")
            transition(kube, namespace, "alpha", "cluster.ready", "Active")
            transition(kube, namespace, "beta", "cluster.ready", "Active")
            got = eventually(lambda: live.frames if len(live.frames) >= 4 else None,
                             timeout=20, message=lambda: str(live.frames))
            assert [(f["event"], f["data"]["data"]["name"]) for f in got] == [
                ("cluster.created", "alpha"), ("cluster.ready", "alpha"),
                ("cluster.created", "beta"), ("cluster.ready", "beta")]
            assert all(f["id"] == f["data"]["id"] for f in got)
            eventually(lambda: ready_only.frames, timeout=10)
            assert [(f["event"], f["data"]["data"]["name"]) for f in ready_only.frames] == [
                ("cluster.ready", "alpha")]
            eventually(lambda: live.comments >= 3, timeout=10)  # heartbeats

            # A reconnect from the second event misses nothing still in the history.
            live.close()
            transition(kube, namespace, "alpha", "cluster.scaled", "Updating")
            kube.delete(HybridClusterResource, "beta", namespace=namespace)
            # No operator here to release its finalizer: let it go as the operator would.
            kube.patch(HybridClusterResource, "beta", {"metadata": {"finalizers": None}},
                       namespace=namespace, patch_type=PatchType.MERGE)
            resumed = Stream(base, token, last_event_id=got[1]["id"])
            try:
                eventually(lambda: len(resumed.frames) >= 4, timeout=20,
                           message=lambda: str(resumed.frames))
                assert [(f["event"], f["data"]["data"]["name"]) for f in resumed.frames] == [
                    ("cluster.created", "beta"), ("cluster.ready", "beta"),
                    ("cluster.scaled", "alpha"), ("cluster.deleted", "beta")]
            finally:
                resumed.close()
            assert foreign.frames == [], "a tenant saw another namespace's events"
            assert foreign.comments >= 1
        finally:
            for stream in (live, ready_only, foreign):
                stream.close()


def test_sse_refuses_unknown_event_types_and_callers_without_read_access(
        base: str, kube: Client, namespace: str) -> None:
    token = tenant(kube, namespace)
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
        bad = http.get("/v1/events", params={"events": "cluster.ready,cluster.exploded"})
        assert bad.status_code == 400 and bad.json()["error"]["details"] == {"field": "events"}
        with fresh_namespace(kube, "sse-forbidden") as elsewhere:
            refused = http.get("/v1/events", params={"namespace": elsewhere})
            assert refused.status_code == 403


def test_replay_without_an_id_first_sends_the_bounded_history_filtered_then_live(
        base: str, kube: Client, namespace: str) -> None:
    token = tenant(kube, namespace)
    live = Stream(base, token)
    try:
        make(kube, namespace, "gamma")
        transition(kube, namespace, "gamma", "cluster.ready", "Active")
        eventually(lambda: len(live.frames) >= 2, timeout=20, message=lambda: str(live.frames))
    finally:
        live.close()
    plain = Stream(base, token)
    replayed = Stream(base, token, {"replay": "true", "events": "cluster.ready"})
    try:
        eventually(lambda: replayed.frames, timeout=20)
        assert [(f["event"], f["data"]["data"]["name"]) for f in replayed.frames] == [
            ("cluster.ready", "gamma")]
        transition(kube, namespace, "gamma", "cluster.ready", "Active")  # then live events
        eventually(lambda: len(replayed.frames) >= 2, timeout=20)
        eventually(lambda: plain.comments >= 1, timeout=10)
        # Without replay a new connection starts with what happens next, not the history.
        assert [f["event"] for f in plain.frames] == ["cluster.ready"]
    finally:
        plain.close()
        replayed.close()

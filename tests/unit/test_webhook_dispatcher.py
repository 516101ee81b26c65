"""The webhook dispatcher against a real receiver on loopback: what reaches the subscription's
status after pings and redeliveries, and how often a redelivery is sent."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from prometheus_client import REGISTRY

from hybridcloud.events.dispatcher import PING_ANNOTATION, REDELIVER_PREFIX, Dispatcher
from hybridcloud.events.sender import DeliverySettings
from hybridcloud.events.transitions import APPLICATION_KIND
from hybridcloud.events.urls import URLPolicy


class Receiver:
    """A minimal HTTP/1.1 server answering 200, holding each request's first line of body."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.bodies: list[dict[str, Any]] = []
        self.server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                self.bodies.append(json.loads(await reader.readexactly(length)))
                await asyncio.sleep(self.delay)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hook"


class Subscription:
    """What the controller gives the dispatcher: its status writes and annotation removals."""

    def __init__(self, url: str) -> None:
        self.body: dict[str, Any] = {
            "metadata": {"uid": "sub-1", "name": "hook", "namespace": "team-a",
                         "creationTimestamp": "2026-12-01T00:00:00Z", "annotations": {}},
            "spec": {"url": url, "events": ["cluster.ready"], "secretRef": "hook-secret",
                     "active": True}}
        self.status: dict[str, Any] = {}
        self.removed: list[str] = []

    async def read_secret(self, namespace: str, name: str) -> bytes:
        return b"s" * 32

    async def write_status(self, body: Mapping[str, Any], status: dict[str, Any]) -> None:
        self.status = json.loads(json.dumps(status))

    async def remove_annotations(self, body: Mapping[str, Any], keys: list[str]) -> None:
        self.removed.extend(keys)

    def annotated(self, annotations: dict[str, str]) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(json.dumps(self.body))
        body["metadata"]["annotations"] = annotations
        return body


@pytest.fixture
async def wired() -> AsyncIterator[tuple[Dispatcher, Subscription, Receiver]]:
    receiver = Receiver(delay=0.3)
    subscription = Subscription(await receiver.start())
    settings = DeliverySettings(policy=URLPolicy.of(allow_http=True, allow_private=True),
                                flush_interval=0.05, lanes=1)
    dispatcher = Dispatcher(settings, subscription.read_secret, subscription.write_status,
                            subscription.remove_annotations, lambda namespace: [])
    yield dispatcher, subscription, receiver
    await dispatcher.close()
    assert receiver.server is not None
    receiver.server.close()


async def _until(predicate: Any) -> None:
    for _ in range(500):  # 10 s
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met within 10 s")


def _deliveries(subscription: Subscription) -> list[dict[str, Any]]:
    return list(subscription.status.get("deliveries") or [])


async def test_a_ping_delivered_after_a_flush_during_its_attempt_is_stored_as_succeeded(
        wired: tuple[Dispatcher, Subscription, Receiver]) -> None:
    dispatcher, subscription, receiver = wired
    dispatcher.subscription_changed("ADDED", subscription.annotated({PING_ANNOTATION: "n1"}))
    # The receiver answers after 0.3 s: flushes every 0.05 s store the attempt as pending first.
    await _until(lambda: any(d["state"] == "pending" for d in _deliveries(subscription)))
    await _until(lambda: any(d["state"] == "succeeded" for d in _deliveries(subscription)))
    [record] = _deliveries(subscription)
    assert record["event"] == "ping" and record["attempts"] == 1
    assert len(receiver.bodies) == 1


async def test_a_redelivery_seen_again_before_its_annotation_is_removed_is_sent_once(
        wired: tuple[Dispatcher, Subscription, Receiver]) -> None:
    dispatcher, subscription, receiver = wired
    dispatcher.subscription_changed("ADDED", subscription.annotated({PING_ANNOTATION: "n1"}))
    await _until(lambda: any(d["state"] == "succeeded" for d in _deliveries(subscription)))
    [ping] = _deliveries(subscription)
    redeliver = {PING_ANNOTATION: "n1", f"{REDELIVER_PREFIX}{ping['id']}": "round-1"}
    # The same annotation shows up in three watch events (status writes) before it is removed.
    for _ in range(3):
        dispatcher.subscription_changed("MODIFIED", subscription.annotated(redeliver))
        await asyncio.sleep(0.05)
    await _until(lambda: len(_deliveries(subscription)) == 2
                 and all(d["state"] == "succeeded" for d in _deliveries(subscription)))
    await asyncio.sleep(0.5)  # a second send, if one was queued, would arrive by now
    assert len(receiver.bodies) == 2  # the ping and one redelivery
    assert receiver.bodies[0]["id"] == receiver.bodies[1]["id"]  # same event id
    assert f"{REDELIVER_PREFIX}{ping['id']}" in subscription.removed


def _application(history: list[str]) -> dict[str, Any]:
    return {"metadata": {"uid": "app-1", "name": "shop", "namespace": "team-a"},
            "status": {"phase": "Deployed", "placedClusters": ["east"], "transitions": [
                {"seq": seq, "type": kind, "time": "2026-12-01T00:00:01Z", "phase": "Deployed"}
                for seq, kind in enumerate(history, start=1)]}}


async def test_transitions_only_the_deleted_body_shows_are_delivered_before_the_deleted_event(
        wired: tuple[Dispatcher, Subscription, Receiver]) -> None:
    # A watch that dropped and resumed may show an object next in its DELETED event, whose body
    # carries the transitions recorded meanwhile: they happened, and before the deletion.
    dispatcher, subscription, receiver = wired
    subscription.body["spec"]["events"] = ["application.deployed", "application.degraded",
                                           "application.deleted"]
    dispatcher.subscription_changed("ADDED", subscription.annotated({}))
    dispatcher.object_changed(APPLICATION_KIND, "ADDED", _application(["application.deployed"]))
    await _until(lambda: len(receiver.bodies) == 1)
    dispatcher.object_changed(APPLICATION_KIND, "DELETED", _application([
        "application.deployed", "application.degraded", "application.deployed"]))
    await _until(lambda: len(receiver.bodies) == 4)
    await asyncio.sleep(0.5)  # a duplicate, if one was queued, would arrive by now
    assert [b["event"] for b in receiver.bodies] == [
        "application.deployed", "application.degraded", "application.deployed",
        "application.deleted"]
    assert dispatcher.in_flight() == {"queued": 0, "attempting": 0, "retrying": 0}


async def test_an_event_for_a_dead_endpoint_is_counted_as_retrying_until_it_is_given_up() -> None:
    # What the benchmark reads at its deadline: an event not received yet is in flight (here
    # waiting for its retry), never silently gone; once the retry period ends it is failed.
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()  # nothing listens there now: every attempt is refused
    subscription = Subscription(f"http://127.0.0.1:{port}/hook")
    subscription.body["spec"]["events"] = ["application.deployed"]
    settings = DeliverySettings(policy=URLPolicy.of(allow_http=True, allow_private=True),
                                flush_interval=0.05, lanes=1, backoff_base=0.4,
                                retry_period=1.0)
    dispatcher = Dispatcher(settings, subscription.read_secret, subscription.write_status,
                            subscription.remove_annotations, lambda namespace: [])
    try:
        failed_before = _sample("hybridcloud_webhook_event_outcomes_total", result="failed")
        dispatcher.subscription_changed("ADDED", subscription.annotated({}))
        dispatcher.object_changed(APPLICATION_KIND, "ADDED",
                                  _application(["application.deployed"]))
        await _until(lambda: dispatcher.in_flight()["retrying"] == 1)
        await _until(lambda: subscription.status.get("failed") == 1)
        assert dispatcher.in_flight() == {"queued": 0, "attempting": 0, "retrying": 0}
        assert _sample("hybridcloud_webhook_event_outcomes_total",
                       result="failed") == failed_before + 1
    finally:
        await dispatcher.close()


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_an_object_gone_at_a_relist_before_its_first_delivery_gets_its_deleted_event(
        wired: tuple[Dispatcher, Subscription, Receiver]) -> None:
    # A relist (410 Gone) reports no DELETED events: objects that vanished meanwhile are found
    # by comparing with the list. One whose first event is still queued (so not in the cursor
    # yet) is gone as much as one in the cursor.
    dispatcher, subscription, receiver = wired
    present = [(APPLICATION_KIND, _application(["application.deployed"]))]
    dispatcher.objects = lambda namespace: list(present)
    subscription.body["spec"]["events"] = ["application.deployed", "application.deleted"]
    dispatcher.subscription_changed("ADDED", subscription.annotated({}))
    present.clear()  # deleted while the watch was down; its deployed is still being sent
    dispatcher.objects_listed()
    await _until(lambda: len(receiver.bodies) == 2)
    await asyncio.sleep(0.5)  # a duplicate, if one was queued, would arrive by now
    assert [b["event"] for b in receiver.bodies] == ["application.deployed",
                                                     "application.deleted"]
    await _until(lambda: subscription.status.get("cursor") == [])

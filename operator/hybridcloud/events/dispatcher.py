"""Webhook delivery in the operator: per-endpoint lanes, retries, cursors kept in status.

Every subscription (endpoint) has its own lanes (asyncio queues with one worker each); an
object's events always go to the same lane, so they are delivered in order, and a slow or dead
endpoint only holds up its own lanes. Events come from the transitions recorded in the objects'
status (``transitions.py``); after an event is delivered (or given up on) the subscription's
cursor for that object moves on, in memory at once and in the subscription's status in batches
(every ``flush_interval``). A restarted operator starts from the stored cursors and re-derives
everything after them, so an event is delivered at least once, duplicates with the same id.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
import time
import zlib
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from ..models.webhook import SECRET_KEY
from . import delivery_metrics
from .sender import DeliverySettings, Outcome, attempt, backoff
from .transitions import (
    APPLICATION_KIND,
    CLUSTER_KIND,
    DELETED_SEQ,
    Event,
    deleted_event,
    events_of,
)

log = logging.getLogger(__name__)

RECENT_DELIVERIES = 20
PING_ANNOTATION = "platform.example.com/ping"
REDELIVER_PREFIX = "redeliver.platform.example.com/"

SecretReader = Callable[[str, str], Any]  # (namespace, name) -> awaitable bytes | None
StatusWriter = Callable[[Mapping[str, Any], dict[str, Any]], Any]  # (body, status) -> awaitable
AnnotationRemover = Callable[[Mapping[str, Any], list[str]], Any]


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def delivery_id(subscription_uid: str, event_id: str, round_: str = "") -> str:
    return hashlib.sha256(f"{subscription_uid}/{event_id}/{round_}".encode()).hexdigest()[:20]


def ping_event(subscription: Mapping[str, Any], nonce: str) -> Event:
    meta = subscription["metadata"]
    return Event(id=hashlib.sha256(f"{meta['uid']}/ping/{nonce}".encode()).hexdigest()[:32],
                 type="ping", timestamp=now_rfc3339(), data={"webhook_id": meta["name"]},
                 namespace=meta["namespace"], uid=meta["uid"], kind="WebhookSubscription",
                 name=meta["name"], seq=0)


@dataclass
class _Job:
    event: Event
    delivery_id: str
    ack: bool = True  # move the cursor afterwards (not for pings and redeliveries)


@dataclass
class Endpoint:
    """One subscription's delivery state."""

    body: dict[str, Any]
    cursor: dict[str, dict[str, Any]]
    deliveries: deque[dict[str, Any]]
    delivered: int = 0
    failed: int = 0
    last_delivery: str | None = None
    last_ping: str | None = None
    # Redelivery annotations already queued ("key=value"): the subscription is seen again
    # (status writes, other edits) before the API's annotation removal lands, and queueing the
    # same round twice would send it twice and orphan the first job's record.
    redeliveries_queued: set[str] = field(default_factory=set)
    lanes: list[asyncio.Queue[_Job]] = field(default_factory=list)
    workers: list[asyncio.Task[None]] = field(default_factory=list)
    offered: dict[str, int] = field(default_factory=dict)  # uid -> highest seq queued
    # uid -> (kind, name, detail) of objects with events queued but not in the cursor yet:
    # if one is gone at a relist, its deleted event is due as for the cursor's objects.
    queued_objects: dict[str, tuple[str, str, str | None]] = field(default_factory=dict)
    attempting: int = 0  # jobs on the wire now
    retrying: int = 0  # jobs waiting for their next attempt
    dirty: bool = False

    @property
    def uid(self) -> str:
        return str(self.body["metadata"]["uid"])

    @property
    def namespace(self) -> str:
        return str(self.body["metadata"]["namespace"])

    @property
    def spec(self) -> Mapping[str, Any]:
        spec: Mapping[str, Any] = self.body.get("spec") or {}
        return spec

    def status(self) -> dict[str, Any]:
        return {"cursor": sorted(self.cursor.values(), key=lambda c: c["uid"]),
                "deliveries": list(self.deliveries), "delivered": self.delivered,
                "failed": self.failed, "lastDelivery": self.last_delivery,
                "lastPing": self.last_ping}


class Dispatcher:
    def __init__(self, settings: DeliverySettings, read_secret: SecretReader,
                 write_status: StatusWriter, remove_annotations: AnnotationRemover,
                 objects: Callable[[str], list[tuple[str, dict[str, Any]]]]) -> None:
        self.settings = settings
        self.read_secret = read_secret
        self.write_status = write_status
        self.remove_annotations = remove_annotations
        self.objects = objects  # namespace -> [(kind, body)] of the watched objects now
        self.endpoints: dict[str, Endpoint] = {}
        self.rng = random.Random()  # noqa: S311 - retry jitter, not cryptography
        self._chores: set[asyncio.Task[Any]] = set()
        self.http = httpx.AsyncClient(verify=settings.ca_bundle or True,
                                      follow_redirects=False, trust_env=False)
        self._flusher: asyncio.Task[None] | None = None
        delivery_metrics.track(self)

    def in_flight(self) -> dict[str, int]:
        endpoints = list(self.endpoints.values())
        return {"queued": sum(lane.qsize() for e in endpoints for lane in e.lanes),
                "attempting": sum(e.attempting for e in endpoints),
                "retrying": sum(e.retrying for e in endpoints)}

    # -- inputs ------------------------------------------------------------------------------

    def subscription_changed(self, event_type: str, body: dict[str, Any]) -> None:
        uid = body["metadata"]["uid"]
        if event_type == "DELETED":
            endpoint = self.endpoints.pop(uid, None)
            if endpoint is not None:
                for task in endpoint.workers:
                    task.cancel()
            return
        endpoint = self.endpoints.get(uid)
        if endpoint is None:
            endpoint = self._load(body)
            self.endpoints[uid] = endpoint
            for kind, obj in self.objects(endpoint.namespace):
                self._offer(endpoint, events_of(kind, obj))
            self._offer_gone(endpoint)
        endpoint.body = body
        self._requests(endpoint)

    def object_changed(self, kind: str, event_type: str, body: Mapping[str, Any]) -> None:
        meta = body["metadata"]
        for endpoint in self._in(meta["namespace"]):
            # The last body may carry transitions no earlier watch event showed (a watch that
            # dropped and resumed): they happened before the deletion and go out before it.
            self._offer(endpoint, events_of(kind, body))
            if event_type == "DELETED":
                detail = (body.get("spec") or {}).get("provider")
                self._offer(endpoint, [deleted_event(kind, meta["namespace"], meta["uid"],
                                                     meta["name"], now=now_rfc3339(),
                                                     detail=detail)])

    def objects_listed(self) -> None:
        """After a (re)list of the watched kinds: objects in a cursor that no longer exist
        were deleted while nobody watched; their deleted events are due."""
        for endpoint in list(self.endpoints.values()):
            self._offer_gone(endpoint)

    # -- queueing ----------------------------------------------------------------------------

    def _in(self, namespace: str) -> list[Endpoint]:
        return [e for e in self.endpoints.values() if e.namespace == namespace]

    def _load(self, body: Mapping[str, Any]) -> Endpoint:
        status = body.get("status") or {}
        endpoint = Endpoint(
            body=dict(body), cursor={c["uid"]: dict(c) for c in status.get("cursor") or []},
            deliveries=deque(status.get("deliveries") or [], maxlen=RECENT_DELIVERIES),
            delivered=int(status.get("delivered") or 0), failed=int(status.get("failed") or 0),
            last_delivery=status.get("lastDelivery"), last_ping=status.get("lastPing"))
        endpoint.lanes = [asyncio.Queue() for _ in range(self.settings.lanes)]
        endpoint.workers = [asyncio.create_task(self._work(endpoint, lane))
                            for lane in endpoint.lanes]
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_forever())
        return endpoint

    def _offer(self, endpoint: Endpoint, events: list[Event]) -> None:
        created = str(endpoint.body["metadata"].get("creationTimestamp") or "")
        for event in events:
            known = endpoint.cursor.get(event.uid)
            done = max(int(known["seq"]) if known else 0, endpoint.offered.get(event.uid, 0))
            if event.seq <= done:
                continue
            if known is None and event.timestamp < created:
                continue  # happened before the subscription existed
            endpoint.offered[event.uid] = event.seq
            if event.seq != DELETED_SEQ:
                provider = event.data.get("provider") if event.kind == CLUSTER_KIND else None
                endpoint.queued_objects[event.uid] = (event.kind, event.name,
                                                      str(provider) if provider else None)
            delivery_metrics.QUEUED.inc()
            self._enqueue(endpoint, _Job(event, delivery_id(endpoint.uid, event.id)))

    def _offer_gone(self, endpoint: Endpoint) -> None:
        present = {obj["metadata"]["uid"] for _, obj in self.objects(endpoint.namespace)}
        known = dict(endpoint.queued_objects)
        known.update({uid: (entry["kind"], entry["name"], entry.get("detail"))
                      for uid, entry in endpoint.cursor.items()})
        for uid, (kind, name, detail) in known.items():
            if uid not in present:
                self._offer(endpoint, [deleted_event(kind, endpoint.namespace, uid, name,
                                                     now=now_rfc3339(), detail=detail)])

    def _enqueue(self, endpoint: Endpoint, job: _Job) -> None:
        lane = zlib.crc32(job.event.uid.encode()) % len(endpoint.lanes)
        endpoint.lanes[lane].put_nowait(job)

    def _requests(self, endpoint: Endpoint) -> None:
        """Pings and redeliveries asked for through the API (annotations on the object)."""
        annotations: Mapping[str, str] = endpoint.body["metadata"].get("annotations") or {}
        nonce = annotations.get(PING_ANNOTATION)
        if nonce and nonce != endpoint.last_ping:
            endpoint.last_ping, endpoint.dirty = nonce, True
            event = ping_event(endpoint.body, nonce)
            self._enqueue(endpoint, _Job(event, delivery_id(endpoint.uid, "ping", nonce),
                                         ack=False))
        handled = []
        present = {f"{k}={v}" for k, v in annotations.items() if k.startswith(REDELIVER_PREFIX)}
        for key, value in annotations.items():
            if not key.startswith(REDELIVER_PREFIX):
                continue
            handled.append(key)
            if f"{key}={value}" in endpoint.redeliveries_queued:
                continue
            wanted = key.removeprefix(REDELIVER_PREFIX)
            record = next((d for d in endpoint.deliveries if d["id"] == wanted), None)
            if record is None or not record.get("payload"):
                continue
            payload = json.loads(record["payload"])
            event = Event(id=payload["id"], type=payload["event"],
                          timestamp=payload["timestamp"], data=payload["data"],
                          namespace=endpoint.namespace, uid=wanted, kind="", name="", seq=0)
            self._enqueue(endpoint, _Job(event, delivery_id(endpoint.uid, event.id, value),
                                         ack=False))
        endpoint.redeliveries_queued = present  # forget rounds whose annotation is gone
        if handled:
            chore = asyncio.create_task(self.remove_annotations(endpoint.body, handled))
            self._chores.add(chore)
            chore.add_done_callback(self._chores.discard)

    # -- delivering --------------------------------------------------------------------------

    async def _work(self, endpoint: Endpoint, lane: asyncio.Queue[_Job]) -> None:
        while True:
            job = await lane.get()
            try:
                await self._deliver(endpoint, job)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook delivery of %s crashed", job.event.id)

    async def _deliver(self, endpoint: Endpoint, job: _Job) -> None:
        event = job.event
        wanted = set(endpoint.spec.get("events") or [])
        if event.type != "ping" and (event.type not in wanted
                                     or not endpoint.spec.get("active", True)):
            if job.ack:
                delivery_metrics.OUTCOMES.labels("filtered").inc()
            self._ack(endpoint, job)
            return
        body = event.encoded()
        record: dict[str, Any] = {
            "id": job.delivery_id, "eventId": event.id, "event": event.type,
            "state": "pending", "attempts": 0, "time": now_rfc3339(),
            "payload": body.decode() if len(body) <= 8192 else None}
        self._record(endpoint, record)
        give_up_at = time.monotonic() + self.settings.retry_period
        while True:
            record["attempts"] += 1
            endpoint.attempting += 1
            try:
                outcome = await self._attempt(endpoint, event, body, job.delivery_id)
            finally:
                endpoint.attempting -= 1
            record.update(statusCode=outcome.status_code, durationMs=outcome.duration_ms,
                          error=outcome.error, nextRetry=None)
            if outcome.ok:
                record["state"] = "succeeded"
                endpoint.delivered += 1
                endpoint.last_delivery = now_rfc3339()
                break
            delay = backoff(record["attempts"], self.settings, self.rng)
            if not outcome.retryable or time.monotonic() + delay > give_up_at:
                record["state"] = "failed"
                endpoint.failed += 1
                log.warning("webhook %s/%s: gave up on event %s after %d attempts: %s",
                            endpoint.namespace, endpoint.body["metadata"]["name"], event.id,
                            record["attempts"], outcome.error)
                break
            record["nextRetry"] = datetime.fromtimestamp(time.time() + delay, UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ")
            endpoint.dirty = True
            delivery_metrics.retried(outcome.status_code, outcome.error)
            endpoint.retrying += 1
            try:
                await asyncio.sleep(delay)
            finally:
                endpoint.retrying -= 1
        # The record's final state must reach status even when nothing else changes: a ping or
        # redelivery moves no cursor, and a flush during the attempt stored it as pending.
        endpoint.dirty = True
        if job.ack:
            delivery_metrics.OUTCOMES.labels(record["state"]).inc()
        self._ack(endpoint, job)

    async def _attempt(self, endpoint: Endpoint, event: Event, body: bytes,
                       delivery: str) -> Outcome:
        secret = await self.read_secret(endpoint.namespace, str(endpoint.spec.get("secretRef")))
        if not secret:
            return Outcome(False, None, 0, f"Secret {endpoint.spec.get('secretRef')!r} (key "
                           f"{SECRET_KEY!r}) is missing")
        return await attempt(self.http, str(endpoint.spec.get("url")), secret, body,
                             event_id=event.id, event_type=event.type, delivery_id=delivery,
                             settings=self.settings)

    def _record(self, endpoint: Endpoint, record: dict[str, Any]) -> None:
        existing = [d for d in endpoint.deliveries if d["id"] == record["id"]]
        for old in existing:
            endpoint.deliveries.remove(old)
        endpoint.deliveries.appendleft(record)
        endpoint.dirty = True

    def _ack(self, endpoint: Endpoint, job: _Job) -> None:
        event = job.event
        if not job.ack:
            return
        if event.type.endswith(".deleted"):
            endpoint.cursor.pop(event.uid, None)
            endpoint.queued_objects.pop(event.uid, None)
        else:
            entry = {"uid": event.uid, "kind": event.kind, "name": event.name, "seq": event.seq}
            provider = event.data.get("provider") if event.kind == CLUSTER_KIND else None
            if provider:
                entry["detail"] = str(provider)[:100]
            endpoint.cursor[event.uid] = entry
            endpoint.queued_objects.pop(event.uid, None)  # the cursor knows it now
        endpoint.dirty = True

    # -- persisting --------------------------------------------------------------------------

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.flush_interval)
            await self.flush()

    async def flush(self) -> None:
        """Write the cursors and recent deliveries of every endpoint that changed (one status
        write per subscription per interval, whatever the number of events)."""
        for endpoint in list(self.endpoints.values()):
            if not endpoint.dirty:
                continue
            endpoint.dirty = False
            try:
                await self.write_status(endpoint.body, endpoint.status())
            except Exception as exc:
                endpoint.dirty = True
                log.warning("could not store webhook progress of %s/%s: %s", endpoint.namespace,
                            endpoint.body["metadata"]["name"], type(exc).__name__)

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
        for endpoint in self.endpoints.values():
            for task in endpoint.workers:
                task.cancel()
        with contextlib.suppress(Exception):
            await self.flush()
        await self.http.aclose()


KINDS = (CLUSTER_KIND, APPLICATION_KIND)

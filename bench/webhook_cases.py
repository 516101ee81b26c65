"""Webhooks and the event stream at fleet scale (issue 17): ``BENCH_ONLY=webhooks``.

Deliveries: the real operator (instant clusters) with 10 WebhookSubscriptions in one namespace,
each a different endpoint of ONE receiver process that verifies every signature the way
receivers are told to; N clusters are created at once, so 2N transitions (created, ready) go to
10 endpoints. Figures: deliveries per second from the first transition seen to the last delivery
received, and the p99 of (received - the transition seen on a watch by this process). Baseline:
a plain httpx loop in this process POSTing as many signed bodies to the same receiver at the same
parallelism (10 endpoints x 4 lanes) — the receiver's raw rate and latency.

Stream: the real API process with 100 SSE clients of ``GET /v1/events`` on one tenant while
the operator turns N clusters Active; frames per second received by all clients together. Baseline:
a bare SSE server process (``bench.sse_bare``) fanning out as many frames of the same size to
100 clients, one hub and a queue per client, as fast as it can.

The machine this runs on has 2 shared cores, hence the default 200 clusters x 10 endpoints
(4,000 deliveries) and BENCH_SCALE to go up.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time
from typing import Any

import httpx
from lightkube import AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Secret
from lightkube.types import PatchType

from hybridcloud.controlplane._net import free_ports
from hybridcloud.devenv.access import mint_dev_token
from hybridcloud.events import signing
from hybridcloud.events.transitions import CLUSTER_KIND, events_of
from hybridcloud.kube.resources import HybridClusterResource, WebhookSubscriptionResource

from .api_cases import serve
from .env import Bench, metric_total, stop
from .operator_cases import bounded, client, ensure_namespace, manifest, percentile
from .report import Result

ENDPOINTS = 10
LANES = 4  # the operator's default lanes per endpoint: the baseline gets the same parallelism
SSE_CLIENTS = 100
DEADLINE = 600.0  # seconds from the creates for every delivery to arrive
SECRET = "bench-webhook-signing-key"  # noqa: S105 - a benchmark key, signs test bodies
NAMESPACE = "default"  # the dev token's tenant (the stream needs a tenant's token)
WEBHOOK_ENV = {"HYBRIDCLOUD_OPERATOR_WEBHOOK_ALLOW_HTTP": "true",
               "HYBRIDCLOUD_OPERATOR_WEBHOOK_ALLOW_PRIVATE": "true"}


class _Receiver:
    """``bench.webhook_receiver`` in its own process: verifies, records (id, path, time)."""

    def __init__(self) -> None:
        self.process: asyncio.subprocess.Process | None = None
        self.url = ""

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.webhook_receiver", SECRET,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=2**26)
        assert self.process.stdout is not None
        self.url = (await self.process.stdout.readline()).decode().strip()

    async def records(self) -> list[list[Any]]:
        """[event id, path, received at, verified] per request so far."""
        assert self.process is not None and self.process.stdin and self.process.stdout
        self.process.stdin.write(b"dump\n")
        await self.process.stdin.drain()
        return list(json.loads(await self.process.stdout.readline()))

    async def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            await self.process.wait()


class _TransitionClock:
    """Watches the clusters; records when each transition was first seen (by event id)."""

    def __init__(self, kube: AsyncClient) -> None:
        self.kube = kube
        self.seen: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> _TransitionClock:
        self._task = asyncio.create_task(self._watch())
        await asyncio.sleep(0.3)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()

    async def _watch(self) -> None:
        while True:
            try:
                async for _, obj in self.kube.watch(HybridClusterResource, namespace=NAMESPACE):
                    body = obj.to_dict()  # type: ignore[no-untyped-call]
                    now = time.time()
                    for event in events_of(CLUSTER_KIND, body):
                        self.seen.setdefault(event.id, now)
            except asyncio.CancelledError:
                raise
            except Exception:  # a dropped watch: resume
                await asyncio.sleep(0.1)


async def _subscribe(kube: AsyncClient, url: str) -> None:
    await kube.create(Secret(metadata=ObjectMeta(name="bench-hook", namespace=NAMESPACE),
                             data={"secret": base64.b64encode(SECRET.encode()).decode()}))
    for index in range(ENDPOINTS):
        await kube.create(WebhookSubscriptionResource.from_dict({
            "apiVersion": "platform.example.com/v1", "kind": "WebhookSubscription",
            "metadata": {"name": f"bench-{index}", "namespace": NAMESPACE},
            "spec": {"url": f"{url}/hook/{index}", "events": ["cluster.created", "cluster.ready"],
                     "secretRef": "bench-hook", "active": True}}))


async def _wait_subscribed(kube: AsyncClient, receiver: _Receiver) -> None:
    """Ping every subscription until each endpoint answered one: the operator has them all."""
    nonce = 0
    while True:
        nonce += 1
        for index in range(ENDPOINTS):
            await kube.patch(WebhookSubscriptionResource, f"bench-{index}", {"metadata": {
                "annotations": {"platform.example.com/ping": f"bench-{nonce}"}}},
                namespace=NAMESPACE, patch_type=PatchType.MERGE)
        await asyncio.sleep(2)
        paths = {r[1] for r in await receiver.records()}
        if len(paths) == ENDPOINTS:
            return


class _Standing(dict[str, int]):
    """Where the wanted deliveries stand when the wait ends (all arrived, or the deadline)."""

    def summary(self) -> str:
        return ", ".join(f"{key}={value}" for key, value in self.items())


async def _standing(bench: Bench, wanted: int, records: list[list[Any]],
                    delivered: dict[tuple[str, str], float]) -> _Standing:
    """Tell late from lost: the receiver's count beside the operator's own account of every
    transition event (``events/delivery_metrics.py``). Events the operator never queued are
    lost; queued, attempting or retrying ones are late; failed ones were given up on."""
    async with httpx.AsyncClient(timeout=30) as http:
        text = (await http.get(f"http://127.0.0.1:{bench.metrics_port}/metrics")).text

    def metric(name: str, **labels: str) -> int:
        return int(metric_total(text, name, **labels))

    queued = metric("hybridcloud_webhook_events_queued_total")
    filtered = metric("hybridcloud_webhook_event_outcomes_total", result="filtered")
    return _Standing(
        wanted=wanted, received=len(delivered),
        received_unverified=sum(1 for r in records if not r[3]),
        operator_succeeded=metric("hybridcloud_webhook_event_outcomes_total",
                                  result="succeeded"),
        operator_failed=metric("hybridcloud_webhook_event_outcomes_total", result="failed"),
        in_lane=metric("hybridcloud_webhook_events_in_flight", state="queued"),
        attempting=metric("hybridcloud_webhook_events_in_flight", state="attempting"),
        retrying=metric("hybridcloud_webhook_events_in_flight", state="retrying"),
        never_enqueued=max(0, wanted - (queued - filtered)),
        retries=metric("hybridcloud_webhook_delivery_retries_total"))


async def _deliveries(bench: Bench, clusters: int) -> tuple[float, float, int, _Standing]:
    """(deliveries/s, p99 latency ms, deliveries, where they stand at the end) from the
    operator to the receiver."""
    receiver = _Receiver()
    await receiver.start()
    kube = client(bench)
    try:
        await ensure_namespace(kube, NAMESPACE)
        await _subscribe(kube, receiver.url)
        with bench.operator(NAMESPACE, **WEBHOOK_ENV):
            await _wait_subscribed(kube, receiver)
            pings = len(await receiver.records())
            wanted = 2 * clusters * ENDPOINTS
            async with _TransitionClock(kube) as clock:
                await bounded(kube.create(manifest(f"hook-{i:05d}", NAMESPACE))
                              for i in range(clusters))
                deadline = time.monotonic() + DEADLINE
                while True:
                    records = (await receiver.records())[pings:]
                    # Only the clusters' events (a late answer to a ping is not one).
                    delivered = {(r[0], r[1]): r[2] for r in records
                                 if r[3] and r[0] in clock.seen}
                    if len(delivered) >= wanted or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(1)
                standing = await _standing(bench, wanted, records, delivered)
                print(f"webhook deliveries at the end of the wait: {standing.summary()}",
                      flush=True)
        for index in range(ENDPOINTS):  # the stream case runs without them
            await kube.delete(WebhookSubscriptionResource, f"bench-{index}", namespace=NAMESPACE)
        if not delivered:
            raise RuntimeError(f"no delivery arrived: {standing.summary()}")
        first = min(clock.seen.values())
        rate = len(delivered) / (max(delivered.values()) - first)
        latencies = [(at - clock.seen[key[0]]) * 1000 for key, at in delivered.items()
                     if key[0] in clock.seen]
        return rate, percentile(latencies, 99), len(delivered), standing
    finally:
        await kube.close()
        await receiver.stop()


async def _raw_posts(count: int) -> tuple[float, float]:
    """(POSTs/s, p99 ms) of a plain httpx loop at the operator's parallelism, signed bodies."""
    receiver = _Receiver()
    await receiver.start()
    body = json.dumps({"id": "0" * 32, "event": "cluster.ready",
                       "timestamp": "2026-12-01T10:00:00Z",
                       "data": {"cluster_id": "hook-00000", "name": "hook-00000",
                                "provider": "local", "status": "active"}}).encode()
    samples: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def lane(http: httpx.AsyncClient, path: str) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            stamp = int(time.time())
            began = time.perf_counter()
            response = await http.post(f"{receiver.url}{path}", content=body, headers={
                "Content-Type": "application/json",
                signing.SIGNATURE_HEADER: signing.signature(SECRET.encode(), stamp, body),
                signing.TIMESTAMP_HEADER: str(stamp), signing.EVENT_ID_HEADER: f"raw-{i}",
                signing.EVENT_TYPE_HEADER: "cluster.ready"})
            samples.append((time.perf_counter() - began) * 1000)
            response.raise_for_status()

    try:
        async with httpx.AsyncClient(timeout=30) as http:
            start = time.perf_counter()
            await asyncio.gather(*(lane(http, f"/hook/{e}") for e in range(ENDPOINTS)
                                   for _ in range(LANES)))
            elapsed = time.perf_counter() - start
    finally:
        await receiver.stop()
    return count / elapsed, percentile(samples, 99)


async def run(bench: Bench, scale: float) -> list[Result]:
    clusters = max(20, int(200 * scale))
    rate, p99, count, standing = await _deliveries(bench, clusters)
    raw_rate, raw_p99 = await _raw_posts(count)
    params = {"clusters": clusters, "endpoints": ENDPOINTS, "deliveries": count,
              "lanes_per_endpoint": LANES, "at_end_of_wait": dict(standing),
              "baseline": "plain httpx POST loop, same receiver and parallelism"}
    # Short of the wanted count within the deadline: the figures cover what arrived, and the
    # note says where the rest stood (in the table instead of the parameters).
    note = None if count >= standing["wanted"] else (
        f"INCOMPLETE within {DEADLINE:.0f} s: {standing.summary()}")
    results = [
        Result("webhook_deliveries_per_s", rate, "deliveries/s", raw_rate, params,
               target="transitions, not the sender, bound the rate", note=note),
        Result("webhook_delivery_p99", p99, "ms", raw_p99,
               {**params, "measured": "receipt - transition seen on a watch"}, note=note)]
    results += await _stream(bench, clusters)
    return results


async def _stream(bench: Bench, clusters: int) -> list[Result]:
    """Frames/s received by 100 SSE clients of the real API vs a bare SSE server."""
    token = mint_dev_token(bench.plane.kubeconfig, NAMESPACE, "bench-events")
    api_port, bare_port = free_ports(2)
    api = serve(["hybridcloud", "api", "--host", "127.0.0.1", "--port", str(api_port),
                 "--log-level", "warning"], api_port,
                {"HYBRIDCLOUD_API_KUBECONFIG": str(bench.plane.kubeconfig),
                 "HYBRIDCLOUD_API_DEFAULT_TIER": "enterprise",
                 "HYBRIDCLOUD_API_RATE_LIMIT_WINDOW_SECONDS": "1"}, bench.workdir / "sse.log")
    kube = client(bench)
    try:
        frames = 2 * clusters
        async with httpx.AsyncClient(timeout=httpx.Timeout(600, connect=30),
                                     limits=httpx.Limits(max_connections=SSE_CLIENTS)) as http:
            counts = [0] * SSE_CLIENTS
            connected = asyncio.Event()
            clock = [0.0, 0.0, 0.0]
            listeners = [asyncio.create_task(_listen(
                http, f"http://127.0.0.1:{api_port}/v1/events?events=cluster.created,"
                "cluster.ready", {"Authorization": f"Bearer {token}"}, counts, i, clock,
                connected, frames)) for i in range(SSE_CLIENTS)]
            await asyncio.wait_for(connected.wait(), 120)
            with bench.operator(NAMESPACE):
                await bounded(kube.create(manifest(f"sse-{i:05d}", NAMESPACE))
                              for i in range(clusters))
                await asyncio.wait(listeners, timeout=600)
            for task in listeners:
                task.cancel()
        if sum(counts) < frames * SSE_CLIENTS:
            raise RuntimeError(f"{sum(counts)} of {frames * SSE_CLIENTS} frames arrived")
        api_rate = sum(counts) / (clock[2] - clock[1])
        bare_rate = await _bare_stream(bare_port, frames)
    finally:
        await kube.close()
        stop(api)
    params = {"clients": SSE_CLIENTS, "frames_per_client": frames,
              "received": sum(counts), "api": "one process",
              "baseline": "bare SSE server fanning out as fast as it can"}
    return [Result("sse_frames_per_s", api_rate, "frames/s", bare_rate, params,
                   target="transitions, not the stream, bound the rate")]


async def _listen(http: httpx.AsyncClient, url: str, headers: dict[str, str],
                  counts: list[int], index: int, clock: list[float],
                  connected: asyncio.Event, limit: int) -> None:
    """Count ``id:`` lines up to ``limit``; ``clock`` is [clients connected, first frame, last
    frame]."""
    async with http.stream("GET", url, headers=headers) as response:
        response.raise_for_status()
        clock[0] += 1
        if clock[0] == len(counts):
            connected.set()
        async for line in response.aiter_lines():
            if line.startswith("id: "):
                now = time.perf_counter()
                clock[1] = clock[1] or now
                clock[2] = now
                counts[index] += 1
                if counts[index] >= limit:
                    return


async def _bare_stream(port: int, frames: int) -> float:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.sse_bare", str(port), str(SSE_CLIENTS), str(frames))
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(600, connect=30),
                                     limits=httpx.Limits(max_connections=SSE_CLIENTS)) as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    await http.get(f"http://127.0.0.1:{port}/readyz")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
            counts = [0] * SSE_CLIENTS
            clock = [0.0, 0.0, 0.0]
            await asyncio.gather(*(_listen(http, f"http://127.0.0.1:{port}/events", {}, counts,
                                           i, clock, asyncio.Event(), frames)
                                   for i in range(SSE_CLIENTS)))
            return sum(counts) / (clock[2] - clock[1])
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()

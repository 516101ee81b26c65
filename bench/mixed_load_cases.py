"""The REST API under mixed load: reads, lists and writes offered open-loop at a fixed rate.

An open-loop generator sends each request at its scheduled time whether or not earlier ones
answered (a closed loop would slow down with the server and hide its queueing); latency is
measured from the scheduled time, so time spent waiting for a connection counts. If this
process cannot keep the schedule (one core, shared machine), the achieved rate says so.

Mix: 75% ``GET /v1/clusters/{id}``, 20% ``GET /v1/clusters?per_page=100`` (a random page),
5% ``POST /v1/clusters`` (new clusters the operator must converge). The effect on the operator:
the time from a create's scheduled send to the cluster being Active, under load against the
same measured at rest (REST creates at 5/s with nothing else running) in the same run.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from hybridcloud.controlplane._net import free_ports
from hybridcloud.devenv.access import mint_dev_token

from .api_cases import serve
from .env import ROOT, Bench, stop
from .operator_cases import ActiveWatcher, bounded, client, ensure_namespace, manifest, percentile
from .profile import profiled
from .report import Result

NAMESPACE = "default"
ROUTES = ("get", "list", "create")
# Requests in flight at once (= the client's connections). The generator queues the rest on a
# FIFO semaphore rather than in httpx's pool: the pool scans its whole queue against every
# connection on each change, so with thousands queued the generator itself used the core and
# the latencies measured its queue, not the API. Waiting here still counts (from the scheduled
# time), as it would in the pool.
IN_FLIGHT = 256


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {r: [] for r in ROUTES})
    errors: dict[str, int] = field(default_factory=lambda: {r: 0 for r in ROUTES})
    examples: list[str] = field(default_factory=list)
    created_at: dict[str, float] = field(default_factory=dict)  # scheduled send times
    failed_creates: set[str] = field(default_factory=set)
    # Answers by route and status code ("error" when none came): shows how many failures were
    # the API refusing work it had no capacity for (503 with Retry-After) rather than faults.
    codes: dict[str, dict[str, int]] = field(default_factory=lambda: {r: {} for r in ROUTES})


def create_body(name: str) -> dict[str, object]:
    return {"name": name, "provider": "local", "version": "v1.37.2",
            "configuration": {"node_pools": [{"name": "workers", "size": 2}]}}


async def _send(tally: Tally, slots: asyncio.Semaphore, route: str, scheduled: float,
                call: Callable[[], Awaitable[httpx.Response]], ok: int,
                name: str | None = None) -> None:
    try:
        async with slots:
            response = await call()
        failed = response.status_code != ok
        reason = f"{response.status_code} {response.text[:120]}"
        code = str(response.status_code)
    except httpx.HTTPError as exc:
        failed, reason, code = True, f"{type(exc).__name__}: {exc}", "error"
    tally.codes[route][code] = tally.codes[route].get(code, 0) + 1
    tally.latencies[route].append((time.monotonic() - scheduled) * 1000)
    if failed:
        tally.errors[route] += 1
        if name is not None:
            tally.failed_creates.add(name)
        if len(tally.examples) < 5:
            tally.examples.append(f"{route}: {reason}")


async def open_loop(http: httpx.AsyncClient, base: str, fleet: int, rate: float,
                    seconds: float, tally: Tally) -> tuple[int, float, float]:
    """Offer ``rate`` requests/s for ``seconds``; returns (sent, worst lateness in s, seconds
    the sending took); it returns once every request has answered."""
    rng = random.Random(19)  # noqa: S311 -- a reproducible request mix, not a secret
    slots = asyncio.Semaphore(IN_FLIGHT)
    tasks: list[asyncio.Task[None]] = []
    start = time.monotonic()
    worst_late, sent = 0.0, 0
    while True:
        scheduled = start + sent / rate
        if scheduled - start >= seconds:
            break
        delay = scheduled - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        worst_late = max(worst_late, time.monotonic() - scheduled)
        pick = rng.random()
        if pick < 0.75:
            url = f"{base}/v1/clusters/c-{rng.randrange(fleet):05d}"
            tasks.append(asyncio.create_task(_send(tally, slots, "get", scheduled,
                                                   functools.partial(http.get, url), 200)))
        elif pick < 0.95:
            url = f"{base}/v1/clusters?per_page=100&page={rng.randrange(fleet // 100) + 1}"
            tasks.append(asyncio.create_task(_send(tally, slots, "list", scheduled,
                                                   functools.partial(http.get, url), 200)))
        else:
            name = f"w-{sent:06d}"
            tally.created_at[name] = time.time() - (time.monotonic() - scheduled)
            post = functools.partial(http.post, f"{base}/v1/clusters", json=create_body(name))
            tasks.append(asyncio.create_task(_send(tally, slots, "create", scheduled, post, 201,
                                                   name)))
        sent += 1
    sending = time.monotonic() - start
    await asyncio.gather(*tasks)
    return sent, worst_late, sending


async def _converge_at_rest(http: httpx.AsyncClient, base: str, watcher: ActiveWatcher,
                            count: int) -> list[float]:
    sent: dict[str, float] = {}
    for i in range(count):
        name = f"rest-{i:04d}"
        sent[name] = time.time()
        response = await http.post(f"{base}/v1/clusters", json=create_body(name))
        response.raise_for_status()
        await asyncio.sleep(0.2)
    await watcher.wait(sent, limit=600)
    return [watcher.active_at[n] - sent[n] for n in sent]


async def run(bench: Bench, scale: float) -> list[Result]:
    fleet = max(500, int(5000 * scale))
    rate = float(max(100, int(1000 * scale)))
    seconds = max(15.0, 60.0 * scale)
    kube = client(bench)
    await ensure_namespace(kube, NAMESPACE)
    process = bench.start_operator(NAMESPACE, HYBRIDCLOUD_OPERATOR_RESYNC_INTERVAL="3600")
    token = mint_dev_token(bench.plane.kubeconfig, NAMESPACE, "bench-mixed")
    port = free_ports(1)[0]
    api = serve(["hybridcloud", "api", "--host", "127.0.0.1", "--port", str(port),
                 "--log-level", "warning"], port,
                {"HYBRIDCLOUD_API_KUBECONFIG": str(bench.plane.kubeconfig),
                 "HYBRIDCLOUD_API_DEFAULT_TIER": "enterprise", "PYTHONPATH": str(ROOT),
                 "HYBRIDCLOUD_API_RATE_LIMIT_WINDOW_SECONDS": "1"},
                bench.workdir / "mixed-api.log")
    base = f"http://127.0.0.1:{port}"
    tally = Tally()
    try:
        async with ActiveWatcher(kube, NAMESPACE) as watcher:
            names = [f"c-{i:05d}" for i in range(fleet)]
            await bounded(kube.create(manifest(n, NAMESPACE)) for n in names)
            await watcher.wait(names, limit=1800)
            limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
            async with httpx.AsyncClient(limits=limits, timeout=60, headers={
                    "Authorization": f"Bearer {token}"}) as http:
                at_rest = await _converge_at_rest(http, base, watcher, max(10, int(50 * scale)))
                began = time.monotonic()
                with profiled(api.pid, "api-mixed-load"):
                    sent, late, sending = await open_loop(http, base, fleet, rate, seconds,
                                                          tally)
                elapsed = time.monotonic() - began
            created = [n for n in tally.created_at if n not in tally.failed_creates]
            await watcher.wait(created, limit=900)
            under_load = [watcher.active_at[n] - tally.created_at[n] for n in created]
    finally:
        stop(api)
        stop(process)
        await kube.close()
    # Measured figures are nested: the scalar parameters identify the case across runs.
    # achieved: what the generator really sent per second; served: answers per second until
    # the last one came (below the offered rate: the API saturated and queued).
    params = {"clusters": fleet, "offered_rate_per_s": rate, "seconds": seconds,
              "measured": {"achieved_rate_per_s": round(sent / sending, 1),
                           "served_rate_per_s": round(sent / elapsed, 1),
                           "worst_send_lateness_s": round(late, 3)}}
    note = None if late < 0.5 else (
        f"this process fell {late:.1f}s behind its schedule: less than {rate:.0f} req/s "
        "was really offered")
    results = []
    for route in ROUTES:
        samples = tally.latencies[route]
        results.append(Result(f"mixed_{route}_p99", percentile(samples, 99) if samples else None,
                              "ms", None, {**params, "requests": len(samples),
                                           "p50_ms": round(percentile(samples, 50), 1)
                                           if samples else None}, note=note))
    errors = sum(tally.errors.values())
    results.append(Result("mixed_errors", errors, "requests", None,
                          {**params, "by_route": dict(tally.errors),
                           "by_code": tally.codes,
                           "examples": "; ".join(tally.examples)}, target="0"))
    # What the API answered successfully per second, and how many requests it refused as
    # overloaded (503, counted in mixed_errors too) instead of queueing them.
    answered = sum(tally.codes[r].get(str(ok), 0) for r, ok in
                   (("get", 200), ("list", 200), ("create", 201)))
    results.append(Result("mixed_ok_rate", answered / elapsed, "req/s", None, params))
    results.append(Result("mixed_shed", sum(c.get("503", 0) for c in tally.codes.values()),
                          "requests", None, params))
    results.append(Result("mixed_converge_p50_under_load", percentile(under_load, 50), "s",
                          percentile(at_rest, 50),
                          {"created_under_load": len(under_load), "created_at_rest":
                           len(at_rest), "baseline": "REST create to Active at rest (5/s)",
                           "p99_under_load_s": round(percentile(under_load, 99), 2)}))
    return results

"""Operator cases: converge rate, write amplification, create-to-Ready latency, idle, restart."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterable
from typing import Any

from lightkube import AsyncClient, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace
from lightkube.types import PatchType

from hybridcloud.kube.resources import HybridClusterResource
from hybridcloud.models import HybridClusterSpec
from hybridcloud.providers.base import ClusterState, ObservedCluster, ObservedNodeGroup
from hybridcloud.reconcile.cluster import ClusterView, decide

from .env import WRITE_VERBS, Bench, rss_bytes, stop
from .profile import profiled
from .report import Result

CONCURRENCY = 16  # creators in flight, on both sides
OPERATOR_WORKERS = 16  # the operator's default worker count
# The operator side has CONCURRENCY creators plus its workers in flight: the raw client gets
# the same total, so the ratio compares equal parallelism against the apiserver.
RAW_CONCURRENCY = CONCURRENCY + OPERATOR_WORKERS
READ_VERBS = {"get", "list"}


def manifest(name: str, namespace: str) -> Any:
    return HybridClusterResource.from_dict({
        "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"provider": "local", "version": "v1.37.2",
                 "nodeGroups": [{"name": "workers", "size": 2}]}})


def client(bench: Bench) -> AsyncClient:
    return AsyncClient(config=KubeConfig.from_file(bench.plane.kubeconfig),
                       field_manager="bench")


async def ensure_namespace(kube: AsyncClient, name: str) -> None:
    await kube.apply(Namespace(metadata=ObjectMeta(name=name)))


async def bounded(calls: Iterable[Any], concurrency: int = CONCURRENCY) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def run(call: Any) -> None:
        async with gate:
            await call

    await asyncio.gather(*(run(call) for call in calls))


class ActiveWatcher:
    """Watches one namespace and records when each cluster first became Active."""

    def __init__(self, kube: AsyncClient, namespace: str) -> None:
        self.kube, self.namespace = kube, namespace
        self.active_at: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ActiveWatcher:
        self._task = asyncio.create_task(self._watch())
        await asyncio.sleep(0.3)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()

    async def _watch(self) -> None:
        while True:
            try:
                async for _, obj in self.kube.watch(HybridClusterResource,
                                                    namespace=self.namespace):
                    status: dict[str, Any] = obj.status if isinstance(obj.status, dict) else {}
                    name = (obj.metadata.name if obj.metadata else None) or ""
                    if status.get("phase") == "Active" and name not in self.active_at:
                        self.active_at[name] = time.time()
            except asyncio.CancelledError:
                raise
            except Exception:  # a dropped watch: resume
                await asyncio.sleep(0.1)

    async def wait(self, names: Iterable[str], limit: float,
                   operator: subprocess.Popen[bytes] | None = None) -> float:
        """When every cluster of ``names`` was first Active; fails at once if ``operator``
        exits meanwhile (nothing would make them Active, and its exit code is the news)."""
        wanted = set(names)
        deadline = time.monotonic() + limit
        while not wanted <= self.active_at.keys():
            if operator is not None and operator.poll() is not None:
                missing = len(wanted - self.active_at.keys())
                raise RuntimeError(f"the operator exited with {operator.returncode} while "
                                   f"{missing} clusters were not Active yet")
            if time.monotonic() > deadline:
                missing = len(wanted - self.active_at.keys())
                raise TimeoutError(f"{missing} clusters not Active after {limit:.0f}s")
            await asyncio.sleep(0.1)
        return max(self.active_at[name] for name in wanted)


def active_status(name: str) -> dict[str, Any]:
    """The status document the operator writes for an Active instant cluster, built by the
    same pure decision code, so the baseline pays for the same payload and validation."""
    spec = HybridClusterSpec.model_validate(manifest(name, "raw").to_dict()["spec"])
    view = ClusterView(name, "raw", f"uid-{name}", 1, spec, {"phase": "Creating"})
    observed = ObservedCluster(f"instant/{name}", name, ClusterState.ACTIVE, version="1.37.2",
                               node_groups=(ObservedNodeGroup("workers", 2, 2,
                                                              ClusterState.ACTIVE),))
    return decide(view, observed).status


async def raw_baseline(bench: Bench, count: int) -> float:
    """What a bare client achieves: create + status patch per object, same concurrency, same
    status document."""
    kube = client(bench)
    await ensure_namespace(kube, "raw")
    status = {"status": active_status("raw")}

    async def one(name: str) -> None:
        await kube.create(manifest(name, "raw"))
        await kube.patch(HybridClusterResource.Status, name, status, namespace="raw",
                         patch_type=PatchType.MERGE)

    start = time.time()
    await bounded((one(f"raw-{i}") for i in range(count)), RAW_CONCURRENCY)
    elapsed = time.time() - start
    await kube.close()
    return count / elapsed


async def converge(bench: Bench, namespace: str, names: list[str]) -> tuple[float, float, float]:
    """Create ``names`` at once; returns (start, all-Active time, clusters/s)."""
    kube = client(bench)
    async with ActiveWatcher(kube, namespace) as watcher:
        start = time.time()
        await bounded(kube.create(manifest(n, namespace)) for n in names)
        done = await watcher.wait(names, limit=600)
    await kube.close()
    return start, done, len(names) / (done - start)


async def latency(bench: Bench, namespace: str, count: int, rate: float) -> list[float]:
    kube = client(bench)
    created: dict[str, float] = {}
    async with ActiveWatcher(kube, namespace) as watcher:
        tasks = []
        for i in range(count):
            name = f"lat-{count}-{i}"

            async def create(name: str = name) -> None:
                created[name] = time.time()  # before the request: its time is latency too
                await kube.create(manifest(name, namespace))

            tasks.append(asyncio.create_task(create()))
            await asyncio.sleep(1 / rate)
        await asyncio.gather(*tasks)
        await watcher.wait(created, limit=600)
        samples = [watcher.active_at[n] - created[n] for n in created]
    await kube.close()
    return samples


async def settled(bench: Bench, since: float, quiet_for: float = 2.0,
                  limit: float = 60.0) -> None:
    """Wait until the operator has made no request for ``quiet_for`` seconds."""
    deadline = time.time() + limit
    while time.time() < deadline:
        await asyncio.sleep(0.5)
        last = bench.last_request_time(since) or since
        if time.time() - last >= quiet_for:
            return


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def idle_window(bench: Bench, pid: int, seconds: float) -> tuple[int, float, int]:
    """(peak RSS bytes, operator requests per second, writes) over ``seconds``."""
    start, peak = time.time(), rss_bytes(pid)
    while time.time() - start < seconds:
        await asyncio.sleep(1)
        peak = max(peak, rss_bytes(pid))
    counts = bench.requests(start, time.time())
    writes = sum(v for k, v in counts.items() if k in WRITE_VERBS)
    return peak, sum(counts.values()) / seconds, writes


async def idle_window_with_work(bench: Bench, pid: int,
                                seconds: float) -> tuple[int, float, int, dict[str, float]]:
    """:func:`idle_window` plus the work the operator did meanwhile: cluster reconciles and
    provider reads (its metrics) and reads sent to the apiserver (the audit log), which show
    that a resync really ran in a window with zero writes."""
    def work() -> dict[str, float]:
        return {"reconciles": bench.operator_metric("controller_runtime_reconcile_total",
                                                    controller="hybridcluster"),
                "provider_reads": bench.operator_metric(
                    "hybridcloud_provider_call_duration_seconds_count", operation="describe")}

    before = work()
    start, peak = time.time(), rss_bytes(pid)
    while time.time() - start < seconds:
        await asyncio.sleep(1)
        peak = max(peak, rss_bytes(pid))
    after = work()
    counts = bench.requests(start, time.time())
    writes = sum(v for k, v in counts.items() if k in WRITE_VERBS)
    done = {k: after[k] - before[k] for k in after}
    done["apiserver_reads"] = sum(v for k, v in counts.items() if k in READ_VERBS)
    return peak, sum(counts.values()) / seconds, writes, done


async def run(bench: Bench, scale: float) -> list[Result]:
    results: list[Result] = []
    n = max(20, int(1000 * scale))
    fleet_big = max(50, int(5000 * scale))
    window = max(10.0, 60.0 * scale)
    kube = client(bench)
    for ns in ("lat", "fleet"):
        await ensure_namespace(kube, ns)
    await kube.close()

    # 3. latency at a steady 50 creates/s (own operator, stopped afterwards).
    with bench.operator("lat"):
        await asyncio.sleep(3)
        for count in (max(10, int(100 * scale)), n):
            samples = await latency(bench, "lat", count, rate=50)
            params = {"clusters": count, "rate_per_s": 50}
            results.append(Result("latency_p50", percentile(samples, 50), "s", None, params))
            results.append(Result("latency_p99", percentile(samples, 99), "s", None, params))

    # 1 + 2 + 4 + 5 on one fleet, with a resync short enough to happen inside an idle window.
    resync = str(max(5.0, window / 2))
    process = bench.start_operator("fleet", HYBRIDCLOUD_OPERATOR_RESYNC_INTERVAL=resync)
    try:
        await asyncio.sleep(3)
        rss0, rps0, _ = await idle_window(bench, process.pid, window)
        baseline = await raw_baseline(bench, n)
        names = [f"c-{i}" for i in range(n)]
        with profiled(process.pid, "operator-converge"):
            start, _, rate = await converge(bench, "fleet", names)
        results.append(Result("converge_rate", rate, "clusters/s", baseline,
                              {"clusters": n, "creators": CONCURRENCY,
                               "operator_workers": OPERATOR_WORKERS,
                               "baseline_concurrency": RAW_CONCURRENCY,
                               "baseline": "raw async create + the same status patch at the "
                                           "same total concurrency"},
                              target=">= 0.8x baseline"))
        await settled(bench, start)  # Events trail the last status write a little
        counts = bench.requests(start - 1, time.time())
        writes = sum(v for k, v in counts.items() if k in WRITE_VERBS)
        # The minimum: the Active status and its Event (the finalizer arrives with the create,
        # through the admission policy).
        results.append(Result("writes_per_create", writes / n, "requests", None,
                              {"by_verb": {k: round(v / n, 2) for k, v in counts.items()},
                               "ideal": 2}, target="<= 4"))
        rss1, rps1, resync_writes, work = await idle_window_with_work(bench, process.pid,
                                                                      window)
        results.append(Result("writes_per_noop_resync", resync_writes, "requests", None,
                              {"clusters": n, "resync_interval_s": float(resync),
                               "window_s": window, "work_in_window": work}, target="0",
                              note=None if work["reconciles"] >= n else
                              f"only {work['reconciles']:.0f} reconciles in the window: the "
                              "resync did not run for every cluster"))
        results.append(Result("noop_resync_reconciles", work["reconciles"], "reconciles", None,
                              {"clusters": n, "work_in_window": work},
                              target=f">= {n} (the resync ran)"))
        more = [f"c-{i}" for i in range(n, fleet_big)]
        more_start, _, _ = await converge(bench, "fleet", more)
        await settled(bench, more_start)
        rss5, rps5, _ = await idle_window(bench, process.pid, window)
        for count, rss, rps in ((0, rss0, rps0), (n, rss1, rps1), (fleet_big, rss5, rps5)):
            results.append(Result("idle_rss", rss / 2**20, "MiB", None,
                                  {"clusters": count, "window_s": window},
                                  target="<= 250 MiB at 5k" if count == fleet_big else None))
            results.append(Result("idle_requests_per_s", rps, "req/s", None,
                                  {"clusters": count, "window_s": window}))
        results.append(Result("bytes_per_object", (rss5 - rss0) / fleet_big, "B", None,
                              {"clusters": fleet_big}))
    finally:
        stop(process)

    # 5. restart with the fleet converged: time until quiet, writes made.
    started = time.time()
    process = bench.start_operator("fleet", HYBRIDCLOUD_OPERATOR_RESYNC_INTERVAL="600")
    try:
        quiet_for = 5.0
        last = started
        while time.time() - max(last, started) < quiet_for or time.time() - started < 8:
            await asyncio.sleep(1)
            last = bench.last_request_time(started) or started
        counts = bench.requests(started, time.time())
        writes = sum(v for k, v in counts.items() if k in WRITE_VERBS)
        results.append(Result("restart_seconds_to_idle", last - started, "s", None,
                              {"clusters": fleet_big, "quiet_window_s": quiet_for}))
        results.append(Result("restart_writes", writes, "requests", None,
                              {"clusters": fleet_big, "by_verb": dict(counts)}, target="0"))
    finally:
        stop(process)
    return results

"""Fleet size: 10k then 20k HybridClusters (instant provider) under one operator.

Figures: operator RSS at each size and the bytes each cluster costs (average and marginal,
so growth shows: a constant marginal cost means linear memory), seconds from a restart to
idle with 20k clusters (and its writes: 0 expected), and the REST list p99 at 20k against a
direct apiserver LIST of the same page size.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import time
from datetime import datetime
from pathlib import Path

import httpx

from hybridcloud.controlplane._net import free_ports
from hybridcloud.devenv.access import mint_dev_token

from .api_cases import load, serve
from .env import OPERATOR_USER, ROOT, WRITE_VERBS, Bench, rss_bytes, stop
from .operator_cases import ActiveWatcher, bounded, client, ensure_namespace, manifest
from .profile import profiled
from .report import Result

NAMESPACE = "default"  # the dev ServiceAccount's namespace: the REST list reads it too
CREATORS = 32


def _quiet_since(audit: Path, offset: int, user: str) -> tuple[float | None, int, int, int]:
    """(time of the last request by ``user`` after byte ``offset``, its writes, all its
    requests, where the last complete line ends), watches excluded — reading only what was
    logged since ``offset`` (the log grows by a line per request: 20k clusters make it big)."""
    last, writes, total = None, 0, 0
    with audit.open("rb") as handle:
        handle.seek(offset)
        for line in handle:
            if not line.endswith(b"\n"):
                break  # being written: read it next time
            offset += len(line)
            event = json.loads(line)
            if event.get("user", {}).get("username") != user or event.get("verb") == "watch":
                continue
            total += 1
            writes += event.get("verb") in WRITE_VERBS
            stamp = datetime.fromisoformat(
                event["requestReceivedTimestamp"].replace("Z", "+00:00")).timestamp()
            last = stamp if last is None else max(last, stamp)
    return last, writes, total, offset


async def _grow(bench: Bench, watcher: ActiveWatcher, first: int, last: int,
                operator: subprocess.Popen[bytes]) -> None:
    kube = client(bench)
    names = [f"f-{i:05d}" for i in range(first, last)]
    offset = bench.audit_log.stat().st_size
    await bounded((kube.create(manifest(n, NAMESPACE)) for n in names), CREATORS)
    await kube.close()
    await watcher.wait(names, limit=3600, operator=operator)
    # Quiet: no operator request for 3 s (Events trail the last status write a little).
    deadline, latest = time.time() + 300, time.time()
    while time.time() < deadline:
        await asyncio.sleep(1)
        found, _, _, offset = _quiet_since(bench.audit_log, offset, OPERATOR_USER)
        latest = max(latest, found or 0.0)
        if time.time() - latest >= 3.0:
            return


async def _peak_rss(pid: int, seconds: float) -> int:
    peak = rss_bytes(pid)
    for _ in range(int(seconds)):
        await asyncio.sleep(1)
        peak = max(peak, rss_bytes(pid))
    return peak


async def run(bench: Bench, scale: float) -> list[Result]:
    half, full = max(500, int(10_000 * scale)), max(1000, int(20_000 * scale))
    kube = client(bench)
    await ensure_namespace(kube, NAMESPACE)
    results: list[Result] = []
    process = bench.start_operator(NAMESPACE, HYBRIDCLOUD_OPERATOR_RESYNC_INTERVAL="3600")
    try:
        await asyncio.sleep(3)
        rss0 = await _peak_rss(process.pid, 5)
        async with ActiveWatcher(kube, NAMESPACE) as watcher:
            await _grow(bench, watcher, 0, half, process)
            rss_half = await _peak_rss(process.pid, 10)
            with profiled(process.pid, "operator-fleet-grow"):
                await _grow(bench, watcher, half, full, process)
            rss_full = await _peak_rss(process.pid, 10)
    finally:
        stop(process)
        await kube.close()
    results += [
        Result("fleet_rss", rss_full / 2**20, "MiB", None, {"clusters": full},
               target="<= 600 MiB"),
        Result("fleet_rss", rss_half / 2**20, "MiB", None, {"clusters": half}),
        Result("fleet_bytes_per_cluster", (rss_half - rss0) / half, "B", None,
               {"clusters": half, "idle_rss_mib": round(rss0 / 2**20, 1)}),
        Result("fleet_bytes_per_cluster", (rss_full - rss0) / full, "B", None,
               {"clusters": full, "idle_rss_mib": round(rss0 / 2**20, 1)}),
        Result("fleet_marginal_bytes_per_cluster", (rss_full - rss_half) / (full - half), "B",
               None, {"from": half, "to": full})]

    # Restart with the whole fleet converged: seconds until quiet, and what it wrote.
    offset = bench.audit_log.stat().st_size
    started = time.time()
    process = bench.start_operator(NAMESPACE, HYBRIDCLOUD_OPERATOR_RESYNC_INTERVAL="3600")
    try:
        quiet_for, last, writes, total, position = 5.0, started, 0, 0, offset
        while time.time() - last < quiet_for or time.time() - started < 8:
            await asyncio.sleep(1)
            found, more_writes, more, position = _quiet_since(bench.audit_log, position,
                                                               OPERATOR_USER)
            last, writes, total = max(last, found or 0.0), writes + more_writes, total + more
        rss_restart = rss_bytes(process.pid)
        # And 15 s later: whether what the listing burst left is given back or stays.
        await asyncio.sleep(15)
        rss_settled = rss_bytes(process.pid)
    finally:
        stop(process)
    results += [
        Result("fleet_restart_seconds_to_idle", last - started, "s", None,
               {"clusters": full, "quiet_window_s": quiet_for, "requests": total}),
        Result("fleet_restart_writes", writes, "requests", None, {"clusters": full},
               target="0"),
        Result("fleet_rss_after_restart", rss_restart / 2**20, "MiB", None,
               {"clusters": full}, target="<= 600 MiB"),
        Result("fleet_rss_after_restart_settled", rss_settled / 2**20, "MiB", None,
               {"clusters": full, "after_quiet_s": 15}, target="<= 600 MiB")]
    results += await _rest_list(bench, full, max(300, int(2000 * scale)))
    return results


async def _rest_list(bench: Bench, fleet: int, requests: int) -> list[Result]:
    token = mint_dev_token(bench.plane.kubeconfig, NAMESPACE, "bench-fleet")
    port = free_ports(1)[0]
    api = serve(["hybridcloud", "api", "--host", "127.0.0.1", "--port", str(port),
                 "--log-level", "warning"], port,
                {"HYBRIDCLOUD_API_KUBECONFIG": str(bench.plane.kubeconfig),
                 "HYBRIDCLOUD_API_DEFAULT_TIER": "enterprise", "PYTHONPATH": str(ROOT),
                 "HYBRIDCLOUD_API_RATE_LIMIT_WINDOW_SECONDS": "1"},
                bench.workdir / "fleet-api.log")
    try:
        context = ssl.create_default_context(cafile=str(bench.plane.ca_cert))
        pki = bench.plane.kubeconfig.parent / "pki"
        context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        pages = fleet // 100
        async with httpx.AsyncClient(timeout=60) as http, \
                httpx.AsyncClient(timeout=60, verify=context) as direct:
            with profiled(api.pid, "api-fleet-list"):
                ours = await load(http, lambda i: f"http://127.0.0.1:{port}/v1/clusters"
                                  f"?per_page=100&page={i % pages + 1}", requests,
                                  {"Authorization": f"Bearer {token}"})
            server = bench.plane.server
            theirs = await load(direct, lambda i: f"{server}/apis/platform.example.com/v1/"
                                f"namespaces/{NAMESPACE}/hybridclusters?limit=100", requests)
    finally:
        stop(api)
    params = {"clusters": fleet, "per_page": 100, "requests": requests,
              "baseline": "apiserver LIST limit=100 via httpx"}
    return [Result("fleet_rest_list_p99", ours[1], "ms", theirs[1], params),
            Result("fleet_rest_list_rps", ours[2], "req/s", theirs[2], params)]

"""Logs: shipper throughput vs the store's own bulk ingest, and query latency at 1M lines.

* ``logship_lines_per_s`` — the operator's shipper (``MemberShipper``, the code the operator
  runs) reading one container's backlog through a member apiserver's ``pods/log`` (kwok serving
  the file) into VictoriaLogs; baseline: the same lines written straight to the store's
  JSON-lines ingest in 10k-line requests.
* ``logs_query_p50_ms`` — ``POST /v1/logs/query``'s search (tenant scope, count, sorted page of
  100) over ``1M x BENCH_SCALE`` stored lines; baseline: the store answering the bare LogsQL
  filter with ``limit 100`` and no count.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from lightkube import AsyncClient, Client, KubeConfig

from hybridcloud.controlplane import ControlPlane, Profile
from hybridcloud.controlplane._net import free_ports
from hybridcloud.kube.pod_logs import PodLogReader
from hybridcloud.observability.cursors import CursorBook
from hybridcloud.observability.logquery import parse, render
from hybridcloud.observability.logsearch import format_ns, search, to_ns
from hybridcloud.observability.logship import Member, MemberShipper
from hybridcloud.observability.logstore import LogStore

from .env import ROOT
from .report import Result

SHIP_LINES = 50_000
QUERY_LINES = 1_000_000
LEVELS = ("info", "info", "info", "warning", "error")


def _binary() -> Path | None:
    out = subprocess.run([str(ROOT / "tests/tools/build.sh"), "--print-dir", "victorialogs"],
                         capture_output=True, text=True, check=False).stdout.strip()
    path = Path(out) / "victoria-logs"
    return path if path.exists() else None


async def _count(store: LogStore, logsql: str) -> int:
    await store.flush()
    rows = await store.query(f"{logsql} | stats count() as n", "2000-01-01T00:00:00Z")
    return int(rows[0]["n"]) if rows else 0


def _lines(count: int, start: datetime) -> list[tuple[datetime, str]]:
    return [(start + timedelta(microseconds=i * 10),
             f"{LEVELS[i % 5].upper()} request {i} served path=/api/v1/items/{i % 977}")
            for i in range(count)]


async def _ship(store: LogStore, work: Path, lines: int) -> tuple[float, float]:
    plane = ControlPlane(work / "member", Profile.MEMBER, name="logbench", nodes=1)
    plane.start()
    try:
        sync = Client(config=KubeConfig.from_file(plane.kubeconfig), field_manager="bench")
        from tests.integration.logs_support import append_lines, logging_pod, pod_running
        data = _lines(lines, datetime.now(UTC) - timedelta(hours=2))
        logfile = work / "app.log"
        append_lines(logfile, data)
        logging_pod(sync, "bench", "app-0", "app", logfile)
        deadline = time.monotonic() + 60
        while not pod_running(sync, "bench", "app-0") and time.monotonic() < deadline:
            time.sleep(0.2)  # noqa: ASYNC251  (setup, not measured)
        config = KubeConfig.from_file(plane.kubeconfig)
        client = AsyncClient(config=config)
        logs = PodLogReader(config)
        book = CursorBook(client, "default", "bench-member")
        shipper = MemberShipper(Member("bench-ship", "logbench", "uid"), client, logs, store,
                                book)
        started = time.perf_counter()
        while await shipper.poll():
            pass
        shipped = time.perf_counter() - started
        await client.close()
        await logs.close()
        assert await _count(store, 'tenant:="bench-ship" AND source:="application"') >= lines
        records = [{"_time": format_ns(to_ns(at)), "_msg": text, "tenant": "bench-bulk",
                    "cluster": "logbench", "namespace": "bench", "pod": "app-0",
                    "container": "app", "source": "application", "level": "info"}
                   for at, text in data]
        started = time.perf_counter()
        for i in range(0, len(records), 10_000):
            await store.ingest(records[i:i + 10_000])
        bulk = time.perf_counter() - started
        return lines / shipped, lines / bulk
    finally:
        plane.stop()


async def _fill(store: LogStore, lines: int) -> tuple[int, int]:
    start = datetime.now(UTC) - timedelta(hours=1)
    for offset in range(0, lines, 20_000):
        await store.ingest({
            "_time": format_ns(to_ns(start + timedelta(microseconds=i * 3))),
            "_msg": f"{LEVELS[i % 5].upper()} request {i} took {i % 500}ms",
            "tenant": f"tenant-{i % 4}", "cluster": f"c{i % 3}",
            "namespace": ("production", "staging")[i % 2], "pod": f"api-{i % 50}",
            "container": "api", "source": "application", "level": LEVELS[i % 5]}
            for i in range(offset, min(lines, offset + 20_000)))
    await store.flush()
    return to_ns(start), to_ns(start + timedelta(microseconds=lines * 3))


async def _query(store: LogStore, lines: int) -> tuple[float, float]:
    start, end = await _fill(store, lines)
    node = parse("level:error AND namespace:production")
    ours, raw = [], []
    for _ in range(10):
        began = time.perf_counter()
        await search(store, "tenant-0", node, "q", start, end, 100, True, None)
        ours.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        await store.query(f"{render(node)} | limit 100", format_ns(start), format_ns(end + 1))
        raw.append((time.perf_counter() - began) * 1000)
    return statistics.median(ours), statistics.median(raw)


async def _measure(url: str, work: Path, scale: float) -> list[Result]:
    store = LogStore(url, timeout=120)
    try:
        ship_lines = max(1000, int(SHIP_LINES * scale))
        shipper, bulk = await _ship(store, work, ship_lines)
        query_lines = max(10_000, int(QUERY_LINES * scale))
        ours, raw = await _query(store, query_lines)
        return [Result("logship_lines_per_s", shipper, "lines/s", bulk, {"lines": ship_lines}),
                Result("logs_query_p50_ms", ours, "ms", raw,
                       {"stored_lines": query_lines + 2 * ship_lines, "page": 100})]
    finally:
        await store.close()


def run(work: Path, scale: float) -> list[Result]:
    """Blocking (run it in a thread): starts VictoriaLogs, measures, stops it."""
    binary = _binary()
    if binary is None:
        return [Result("logship_lines_per_s", None, "lines/s",
                       note="victorialogs not built (make tools)")]
    port = free_ports(1)[0]
    process = subprocess.Popen([str(binary), f"-storageDataPath={work / 'vl'}",
                                f"-httpListenAddr=127.0.0.1:{port}", "-retentionPeriod=100y",
                                "-loggerLevel=WARN"], stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        return asyncio.run(_measure(url, work, scale))
    finally:
        process.terminate()
        process.wait(timeout=15)

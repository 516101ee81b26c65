"""Case 8 (issue 14): ``GET /v1/clusters/{id}/metrics`` for a 1 h range at a 15 s step against
the same ``query_range`` (the catalogue expression already confined to that cluster and tenant)
sent straight to Prometheus.

Prometheus (built by ``make tools``) scrapes a small in-process exporter labelled as the
benchmark's cluster, so both sides query the same real series; both are driven by the same load
tool as the REST cases, so its cost is in both numbers. Skipped with a note when Prometheus is
not built.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import yaml

from hybridcloud.controlplane._net import free_ports
from hybridcloud.devenv.access import mint_dev_token
from hybridcloud.devenv.observability import tool
from hybridcloud.observability.catalog import CATALOG
from hybridcloud.observability.prometheus import PrometheusClient
from hybridcloud.observability.scoping import Scoper

from .api_cases import CONCURRENCY, NAMESPACE, load, serve
from .env import Bench, stop
from .operator_cases import client, ensure_namespace, manifest
from .profile import profiled
from .report import Result

CLUSTER = "c-metrics"
# A node's container resource metrics, as kwok/the kubelet serve them (the catalogue's
# cpu_usage and memory_usage read these).
_CONTAINER = b'{namespace="shop",pod="web-7d4b9c6f5-abcde",container="web"}'
EXPORTED = (b"# TYPE container_cpu_usage_seconds_total counter\n"
            b"container_cpu_usage_seconds_total" + _CONTAINER + b" %d\n"
            b"# TYPE container_memory_working_set_bytes gauge\n"
            b"container_memory_working_set_bytes" + _CONTAINER + b" 1.5e8\n")


class _Exporter(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = EXPORTED % int(time.time())
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        return


def _prometheus(binary: Path, work: Path, port: int, target: str) -> subprocess.Popen[bytes]:
    config = {"global": {"scrape_interval": "1s"}, "scrape_configs": [{
        "job_name": "bench", "static_configs": [{"targets": [target], "labels": {
            "cluster": CLUSTER, "tenant": NAMESPACE}}]}]}
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    process = subprocess.Popen(
        [str(binary), f"--config.file={work / 'prometheus.yml'}",
         f"--storage.tsdb.path={work / 'prometheus'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=(work / "prometheus.log").open("ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/-/ready", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    stop(process)
    raise RuntimeError("Prometheus did not become ready")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process ``pid`` has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(bench: Bench, scale: float) -> list[Result]:
    binary = tool("prometheus", "prometheus")
    if binary is None:
        return [Result("metrics_range_rps", None, "req/s",
                       note="Prometheus not built (make tools)")]
    requests = max(300, int(2000 * scale))
    kube = client(bench)
    await ensure_namespace(kube, NAMESPACE)
    await kube.create(manifest(CLUSTER, NAMESPACE))
    await kube.close()
    token = mint_dev_token(bench.plane.kubeconfig, NAMESPACE, "bench-metrics")
    exporter = ThreadingHTTPServer(("127.0.0.1", 0), _Exporter)
    threading.Thread(target=exporter.serve_forever, daemon=True).start()
    api_port, prometheus_port = free_ports(2)
    prometheus_url = f"http://127.0.0.1:{prometheus_port}"
    prometheus = _prometheus(binary, bench.workdir, prometheus_port,
                             f"127.0.0.1:{exporter.server_address[1]}")
    api = serve(["hybridcloud", "api", "--host", "127.0.0.1", "--port", str(api_port),
                 "--log-level", "warning"], api_port,
                {"HYBRIDCLOUD_API_KUBECONFIG": str(bench.plane.kubeconfig),
                 "HYBRIDCLOUD_API_DEFAULT_TIER": "enterprise",
                 "HYBRIDCLOUD_API_RATE_LIMIT_WINDOW_SECONDS": "1",
                 "HYBRIDCLOUD_API_PROMETHEUS_URL": prometheus_url},
                bench.workdir / "api-metrics.log")
    try:
        await asyncio.sleep(5)  # a few scrapes, so both sides return real points
        end = datetime.now(UTC)
        start = end - timedelta(hours=1)
        window = {"start": start.isoformat(), "end": end.isoformat(), "step": "15s"}
        auth = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=CONCURRENCY),
                                     timeout=30) as http:
            api_url = httpx.URL(f"http://127.0.0.1:{api_port}/v1/clusters/{CLUSTER}/metrics",
                                params={**window, "metrics": "cpu_usage"})
            first = await http.get(api_url, headers=auth)
            if first.status_code != 200 or not first.json()["metrics"]["cpu_usage"]["values"]:
                raise RuntimeError(f"metrics endpoint answered {first.status_code}: "
                                   f"{first.text[:200]}")
            # Exactly what the API sends: the catalogue entry confined by the same code.
            prometheus_client = PrometheusClient(prometheus_url, 10)
            scoped = await Scoper(prometheus_client).scope(
                CATALOG["cpu_usage"].expression, {"tenant": NAMESPACE, "cluster": CLUSTER})
            await prometheus_client.close()
            direct_url = httpx.URL(f"{prometheus_url}/api/v1/query_range", params={
                "query": scoped, "start": f"{start.timestamp():.3f}",
                "end": f"{end.timestamp():.3f}", "step": "15"})
            api_cpu = cpu_seconds(api.pid)
            with profiled(api.pid, "metrics-range"):
                through_api = await load(http, lambda _: str(api_url), requests, auth)
            api_cpu = cpu_seconds(api.pid) - api_cpu
            prometheus_cpu = cpu_seconds(prometheus.pid)
            direct = await load(http, lambda _: str(direct_url), requests)
            prometheus_cpu = cpu_seconds(prometheus.pid) - prometheus_cpu
        params = {"range": "1h", "step": "15s", "points": 241, "metrics": "cpu_usage",
                  "concurrency": CONCURRENCY, "requests": requests,
                  "baseline": "the same confined query_range sent to Prometheus directly"}
        return [Result("metrics_range_rps", through_api[2], "req/s", direct[2], params,
                       target=">= 0.8x baseline"),
                Result("metrics_range_p50", through_api[0], "ms", direct[0], params),
                Result("metrics_range_p99", through_api[1], "ms", direct[1], params),
                # CPU the server spent per answer: unlike requests/s, barely moved by what
                # else the shared machine runs (the baseline is Prometheus' own).
                Result("metrics_range_cpu_per_request", api_cpu / requests * 1000, "ms",
                       prometheus_cpu / requests * 1000, params)]
    finally:
        stop(api)
        stop(prometheus)
        exporter.shutdown()

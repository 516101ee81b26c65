"""Cases 6 and 7: the REST API against the apiserver and against a bare FastAPI endpoint.

Both sides of each ratio are served as separate uvicorn processes and driven by the same load
tool (an asyncio httpx client at concurrency 16 in this process), so the tool's own cost is in
both numbers.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from hybridcloud.controlplane._net import free_ports
from hybridcloud.devenv.access import mint_dev_token

from .env import ROOT, Bench, stop
from .operator_cases import bounded, client, ensure_namespace, manifest, percentile
from .profile import profiled
from .report import Result

CONCURRENCY = 16
NAMESPACE = "default"  # the dev ServiceAccount's own namespace: the API's default tenant


async def load(http: httpx.AsyncClient, url: Callable[[int], str], requests: int,
               headers: dict[str, str] | None = None) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, requests/s) for ``requests`` GETs at concurrency 16."""
    samples: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            began = time.perf_counter()
            try:
                response = await http.get(url(i), headers=headers)
            except (httpx.RemoteProtocolError, httpx.ReadError):
                # A keep-alive connection the server closed (or reset) while idle between phases:
                # any client reconnects; the request itself was never served.
                response = await http.get(url(i), headers=headers)
            samples.append((time.perf_counter() - began) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"GET {url(i)} answered {response.status_code}: "
                                   f"{response.text[:200]}")

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - start
    return percentile(samples, 50), percentile(samples, 99), requests / elapsed


def serve(args: list[str], port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env={**os.environ, **env},
                               stdout=log.open("ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180  # a loaded shared machine starts it slowly
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"server exited; see {log}")
        time.sleep(0.2)
    stop(process)
    raise RuntimeError(f"server on port {port} never became ready; see {log}")


async def run(bench: Bench, scale: float) -> list[Result]:
    fleet = max(200, int(5000 * scale))
    requests = max(500, int(3000 * scale))
    kube = client(bench)
    await ensure_namespace(kube, NAMESPACE)
    await bounded(kube.create(manifest(f"c-{i:05d}", NAMESPACE)) for i in range(fleet))
    await kube.close()
    token = mint_dev_token(bench.plane.kubeconfig, NAMESPACE, "bench-api")
    auth = {"Authorization": f"Bearer {token}"}
    api_port, bare_port = free_ports(2)
    api = serve(["hybridcloud", "api", "--host", "127.0.0.1", "--port", str(api_port),
                 "--log-level", "warning"], api_port,
                {"HYBRIDCLOUD_API_KUBECONFIG": str(bench.plane.kubeconfig),
                 "HYBRIDCLOUD_API_DEFAULT_TIER": "enterprise",
                 # Limiter on (its cost is part of every request) but never the limit.
                 "HYBRIDCLOUD_API_RATE_LIMIT_WINDOW_SECONDS": "1"},
                bench.workdir / "api.log")
    bare = serve(["uvicorn", "bench.bare_app:app", "--host", "127.0.0.1", "--port",
                  str(bare_port), "--log-level", "warning", "--no-access-log"], bare_port, {},
                 bench.workdir / "bare.log")
    cached_port = free_ports(1)[0]
    cached = serve(["uvicorn", "bench.cached_list_app:app", "--host", "127.0.0.1", "--port",
                    str(cached_port), "--log-level", "warning", "--no-access-log"], cached_port,
                   {"BENCH_KUBECONFIG": str(bench.plane.kubeconfig),
                    "BENCH_NAMESPACE": NAMESPACE, "PYTHONPATH": str(ROOT)},
                   bench.workdir / "cached.log")
    results: list[Result] = []
    try:
        context = ssl.create_default_context(cafile=str(bench.plane.ca_cert))
        pki = bench.plane.kubeconfig.parent / "pki"
        context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        limits = httpx.Limits(max_connections=CONCURRENCY)
        async with httpx.AsyncClient(limits=limits, timeout=30) as http, \
                httpx.AsyncClient(limits=limits, timeout=30, verify=context) as direct:
            pages = fleet // 100
            with profiled(api.pid, "api-list"):
                api_list = await load(http, lambda i: f"http://127.0.0.1:{api_port}/v1/clusters"
                                      f"?per_page=100&page={i % pages + 1}", requests, auth)
            server = bench.plane.server
            raw_list = await load(direct, lambda i: f"{server}/apis/platform.example.com/v1/"
                                  f"namespaces/{NAMESPACE}/hybridclusters?limit=100", requests)
            params = {"clusters": fleet, "per_page": 100, "concurrency": CONCURRENCY,
                      "requests": requests, "baseline": "apiserver LIST limit=100 via httpx"}
            results += [
                Result("rest_list_rps", api_list[2], "req/s", raw_list[2], params,
                       target=">= 1.0x baseline"),
                Result("rest_list_p50", api_list[0], "ms", raw_list[0], params),
                Result("rest_list_p99", api_list[1], "ms", raw_list[1], params)]
            cached_list = await load(http, lambda i: f"http://127.0.0.1:{cached_port}/v1/"
                                     f"clusters?per_page=100&page={i % pages + 1}", requests)
            params = {**params, "baseline": "a client-side lightkube watch cache of the "
                      "clusters served by a bare FastAPI page endpoint (no auth)"}
            results += [
                Result("rest_list_rps_vs_watch_cache", api_list[2], "req/s", cached_list[2],
                       params, note="baseline: a cached list the user builds with a lightkube "
                       "watch in the client, served without auth"),
                Result("rest_list_p99_vs_watch_cache", api_list[1], "ms", cached_list[1],
                       params)]
            with profiled(api.pid, "api-get"):
                api_get = await load(http, lambda i: f"http://127.0.0.1:{api_port}/v1/clusters/"
                                     f"c-{i % fleet:05d}", requests, auth)
            bare_get = await load(http, lambda i: f"http://127.0.0.1:{bare_port}/v1/clusters/"
                                  f"c-{i % fleet:05d}", requests)
            params = {"concurrency": CONCURRENCY, "requests": requests,
                      "baseline": "bare FastAPI JSON endpoint, same uvicorn layout"}
            results += [
                Result("rest_get_rps", api_get[2], "req/s", bare_get[2], params,
                       target=">= 0.6x baseline"),
                Result("rest_get_p50", api_get[0], "ms", bare_get[0], params),
                Result("rest_get_p99", api_get[1], "ms", bare_get[1], params)]
    finally:
        stop(api)
        stop(bare)
        stop(cached)
    return results

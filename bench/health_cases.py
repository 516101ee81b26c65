"""Member-health probe cost at fleet scale: requests to members per second, writes at rest.

The operator's idle fleet (``operator_cases``) uses instant clusters, which have no endpoint and
hence nothing to probe. This case runs the operator's real prober
(:class:`hybridcloud.controllers.health.MemberHealthProber`: its round loop, jitter, bounded
concurrency, verdicts, adaptive timing) over 1k and 5k healthy members whose endpoints are ONE
HTTP server answering ``/readyz`` and the node list like a member would, and counts what reaches
it. The server runs in its own process (members are other machines: their CPU is not the
prober's). Every member still gets its own probe client (one connection each), as in production.

Figures: ``health_probes_per_s`` (baseline: the ideal, every member once per interval),
``health_probe_requests_per_s`` (baseline: the ideal requests, ``/readyz`` per member per
interval plus a node listing per member per nodes interval), ``health_detection_bound_s`` (the
prober's computed bound at the throughput it measured; baseline: the grace period, target
≤ 1.0x) and ``health_probe_writes_at_rest`` (target 0: a healthy fleet's probes write nothing;
any status write or cluster pass requested would be counted). ``BENCH_PROFILE=1`` samples the
prober with py-spy at 5k members.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any, cast

from aiohttp import web
from lightkube import AsyncClient, KubeConfig

from hybridcloud.controllers.config import OperatorConfig
from hybridcloud.controllers.health import MemberHealthProber
from hybridcloud.controllers.hybridcluster import ClusterController
from hybridcloud.feed import Feed
from hybridcloud.kube.member_probe import MemberProbe
from hybridcloud.reconcile.health import Timing

from .profile import profiled
from .report import Result

INTERVAL = 5.0  # the default probe interval
CONFIG = OperatorConfig(health_probe_interval=INTERVAL)
CONFIG_TIMING = Timing(interval=INTERVAL, timeout=CONFIG.health_probe_timeout,
                       grace=CONFIG.health_grace_period)
_NODES = {"kind": "NodeList", "metadata": {}, "items": [
    {"metadata": {"name": f"node-{i}"},
     "status": {"conditions": [{"type": "Ready", "status": "True"}]}} for i in range(3)]}


class _Member:
    """One HTTP server in its own process standing in for every member; counts requests."""

    def __init__(self) -> None:
        self.process: asyncio.subprocess.Process | None = None
        self.url = ""

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.health_cases", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE)
        assert self.process.stdout is not None
        self.url = (await self.process.stdout.readline()).decode().strip()

    async def requests(self) -> int:
        assert self.process is not None and self.process.stdin and self.process.stdout
        self.process.stdin.write(b"count\n")
        await self.process.stdin.drain()
        return int(await self.process.stdout.readline())

    def cpu_seconds(self) -> float:
        """CPU time the member server used so far (to compare with an in-process server)."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            await self.process.wait()


async def _serve_members() -> None:
    """The member server's process: prints its URL, then a request count per stdin line."""
    count = 0

    async def readyz(_: web.Request) -> web.Response:
        nonlocal count
        count += 1
        return web.Response(text="ok")

    async def nodes(_: web.Request) -> web.Response:
        nonlocal count
        count += 1
        return web.json_response(_NODES)

    app = web.Application()
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/api/v1/nodes", nodes)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"http://127.0.0.1:{port}", flush=True)
    loop = asyncio.get_running_loop()
    while await loop.run_in_executor(None, sys.stdin.readline):
        print(count, flush=True)


class _Queue:
    def __init__(self) -> None:
        self.added = 0

    def add(self, _key: Any, delay: float = 0.0) -> None:
        self.added += 1


class _Wire:
    """Counts the status writes the prober makes (a verdict is written with a JSON patch)."""

    def __init__(self) -> None:
        self.writes = 0

    async def request(self, method: str, path: str, body: Any = None, **_: Any) -> Any:
        self.writes += 1
        return {}


class _Fleet:
    """What the prober reads of the cluster controller: cached bodies and its queue."""

    def __init__(self, count: int) -> None:
        self.queue = _Queue()
        self.wire = _Wire()
        self.bodies = {("bench", f"c-{i}"): {
            "metadata": {"name": f"c-{i}", "namespace": "bench", "uid": f"uid-{i}",
                         "generation": 1},
            "status": {"phase": "Active", "kubeconfigSecret": f"c-{i}-kubeconfig"}}
            for i in range(count)}


class _BenchProber(MemberHealthProber):
    """The real prober; only the credential lookup is replaced by prebuilt probe clients."""

    def __init__(self, fleet: _Fleet, probes: dict[tuple[str, str], MemberProbe]) -> None:
        super().__init__(cast(AsyncClient, None), CONFIG, Feed(), cast(ClusterController, fleet))
        self._bench_probes = probes

    async def _probe_client(self, key: tuple[str, str], uid: str) -> MemberProbe:
        return self._bench_probes[key]


def _kubeconfig(url: str) -> KubeConfig:
    return KubeConfig.from_dict({
        "apiVersion": "v1", "kind": "Config", "current-context": "bench",
        # Plain http: no CA to load (a member's own CA is one small PEM; without this, every
        # probe client would load the system bundle, minutes for 5k before anything is timed).
        "clusters": [{"name": "bench", "cluster": {"server": url,
                                                   "insecure-skip-tls-verify": True}}],
        "users": [{"name": "bench", "user": {"token": "bench"}}],
        "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": "bench"}}]})


async def _probe_cost(count: int, window: float) -> dict[str, float]:
    """Requests to members and probes per second, the computed detection bound, and status
    writes + passes requested, over ``window`` seconds after a first round."""
    member = _Member()
    await member.start()
    fleet = _Fleet(count)
    config = _kubeconfig(member.url)
    probes = {key: MemberProbe(key[1], config) for key in fleet.bodies}
    prober = _BenchProber(fleet, probes)
    prober.start()
    try:
        await asyncio.sleep(3 * INTERVAL)  # connections opened, node counts listed, measured
        with profiled(os.getpid(), f"health-{count}"):
            start, before, sent = time.monotonic(), await member.requests(), prober.probes_sent
            cpu, server_cpu = time.process_time(), member.cpu_seconds()
            await asyncio.sleep(window)
            took = time.monotonic() - start
            cpu, server_cpu = time.process_time() - cpu, member.cpu_seconds() - server_cpu
            probes_done = prober.probes_sent - sent
            figures = {"requests": (await member.requests() - before) / took,
                       "probes": probes_done / took,
                       # CPU per probe: the figure a shared machine does not distort.
                       "cpu_ms_per_probe": 1000 * cpu / max(probes_done, 1),
                       "server_cpu_ms_per_probe": 1000 * server_cpu / max(probes_done, 1),
                       "bound": prober.timing.detection_bound,
                       "round": prober.timing.round_time}
    finally:
        await prober.stop()
        await asyncio.gather(*(probe.close() for probe in probes.values()))
        await member.stop()
    figures["writes"] = fleet.wire.writes + fleet.queue.added
    return figures


async def run(scale: float) -> list[Result]:
    results: list[Result] = []
    window = max(10.0, 30.0 * scale)
    for count in (max(50, int(1000 * scale)), max(100, int(5000 * scale))):
        got = await _probe_cost(count, window)
        params = {"clusters": count, "interval_s": INTERVAL,
                  "nodes_interval_s": CONFIG.health_nodes_interval, "window_s": window,
                  "round_s": round(got["round"], 2),
                  "members": "one HTTP server process behind every member's endpoint"}
        results.append(Result("health_probes_per_s", got["probes"], "probes/s", count / INTERVAL,
                              {**params, "baseline": "ideal: every member once per interval"},
                              target="1.0x, or a round that keeps the bound within the grace"))
        ideal = count / INTERVAL + count / CONFIG.health_nodes_interval
        results.append(Result("health_probe_requests_per_s", got["requests"], "req/s", ideal,
                              {**params, "baseline": "ideal: /readyz per member per interval + "
                               "a node listing per member per nodes interval"}))
        one_core = 1000 / got["cpu_ms_per_probe"]
        results.append(Result("health_probe_cpu_ms", got["cpu_ms_per_probe"], "ms/probe", None,
                              {**params, "probes_per_s_on_one_core": round(one_core),
                               "member_server_cpu_ms": round(got["server_cpu_ms_per_probe"], 3),
                               "bound_on_one_core_s": round(CONFIG_TIMING.under_load(
                                   count, one_core).detection_bound, 1)},
                              target="a round of the fleet on one core within (grace-timeout)/2"))
        results.append(Result("health_detection_bound_s", got["bound"], "s",
                              CONFIG.health_grace_period,
                              {**params, "baseline": "the grace period"}, target="<= 1.0x"))
        results.append(Result("health_probe_writes_at_rest", got["writes"], "requests", None,
                              {"clusters": count, "window_s": window}, target="0"))
    return results


if __name__ == "__main__":
    asyncio.run(_serve_members())

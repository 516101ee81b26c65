"""Member-health probe cost at fleet scale: requests to members per second, writes at rest.

The operator's idle fleet (``operator_cases``) uses instant clusters, which have no endpoint and
hence nothing to probe. This case runs the operator's real prober
(:class:`hybridcloud.controllers.health.MemberHealthProber`: its round loop, jitter, bounded
concurrency, verdicts) over 1k and 5k healthy members whose endpoints are ONE local HTTP server
answering ``/readyz`` and the node list like a member would, and counts what reaches it. Every
member still gets its own probe client (one connection each), as in production.

Figures: ``health_probe_requests_per_s`` (baseline: the ideal, two requests per member per
interval) and ``health_probe_writes_at_rest`` (target 0: a healthy fleet's probes write nothing;
any status write or cluster pass requested would be counted).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

from aiohttp import web
from lightkube import AsyncClient, KubeConfig

from hybridcloud.controllers.config import OperatorConfig
from hybridcloud.controllers.health import MemberHealthProber
from hybridcloud.controllers.hybridcluster import ClusterController
from hybridcloud.feed import Feed
from hybridcloud.kube.member_probe import MemberProbe

from .report import Result

INTERVAL = 5.0  # the default probe interval
_NODES = {"kind": "NodeList", "metadata": {}, "items": [
    {"metadata": {"name": f"node-{i}"},
     "status": {"conditions": [{"type": "Ready", "status": "True"}]}} for i in range(3)]}


class _Member:
    """One HTTP server standing in for every member; counts requests by path."""

    def __init__(self) -> None:
        self.requests = 0
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/api/v1/nodes", self._nodes)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def _readyz(self, _: web.Request) -> web.Response:
        self.requests += 1
        return web.Response(text="ok")

    async def _nodes(self, _: web.Request) -> web.Response:
        self.requests += 1
        return web.json_response(_NODES)


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
        config = OperatorConfig(health_probe_interval=INTERVAL)
        super().__init__(cast(AsyncClient, None), config, Feed(), cast(ClusterController, fleet))
        self._bench_probes = probes

    async def _probe_client(self, key: tuple[str, str], uid: str) -> MemberProbe:
        return self._bench_probes[key]


def _kubeconfig(url: str) -> KubeConfig:
    return KubeConfig.from_dict({
        "apiVersion": "v1", "kind": "Config", "current-context": "bench",
        "clusters": [{"name": "bench", "cluster": {"server": url}}],
        "users": [{"name": "bench", "user": {"token": "bench"}}],
        "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": "bench"}}]})


async def _probe_cost(count: int, window: float) -> tuple[float, int, int]:
    """(requests to members per second, status writes + passes requested, probes sent)."""
    member = _Member()
    await member.start()
    fleet = _Fleet(count)
    config = _kubeconfig(member.url)
    probes = {key: MemberProbe(key[1], config) for key in fleet.bodies}
    prober = _BenchProber(fleet, probes)
    prober.start()
    try:
        await asyncio.sleep(INTERVAL)  # first round: connections opened
        start, before = time.monotonic(), member.requests
        await asyncio.sleep(window)
        rate = (member.requests - before) / (time.monotonic() - start)
    finally:
        await prober.stop()
        await asyncio.gather(*(probe.close() for probe in probes.values()))
        await member.stop()
    return rate, fleet.wire.writes + fleet.queue.added, prober.probes_sent


async def run(scale: float) -> list[Result]:
    results: list[Result] = []
    window = max(10.0, 30.0 * scale)
    for count in (max(50, int(1000 * scale)), max(100, int(5000 * scale))):
        rate, writes, probes = await _probe_cost(count, window)
        ideal = 2 * count / INTERVAL
        params = {"clusters": count, "interval_s": INTERVAL, "window_s": window,
                  "probes_sent": probes, "baseline": "ideal: 2 requests/member/interval",
                  "members": "one local HTTP server behind every member's endpoint"}
        results.append(Result("health_probe_requests_per_s", rate, "req/s", ideal, params,
                              target="~1.0x (all members probed each interval)"))
        results.append(Result("health_probe_writes_at_rest", writes, "requests", None,
                              {"clusters": count, "window_s": window}, target="0"))
    return results

"""The member probe's own I/O against a small member: what it sends, and that it is counted."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from lightkube import KubeConfig
from prometheus_client import REGISTRY

from hybridcloud.kube.member_probe import MemberProbe

from ..support import aiohttp_server

NODES = {"kind": "NodeList", "metadata": {}, "items": [
    {"metadata": {"name": "a"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}},
    {"metadata": {"name": "b"}, "status": {"conditions": [{"type": "Ready", "status": "False"}]}}]}


@pytest.fixture
async def member() -> AsyncIterator[tuple[str, list[str]]]:
    seen: list[str] = []

    async def readyz(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.Response(text="ok")

    async def nodes(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.json_response(NODES)

    app = web.Application()
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/api/v1/nodes", nodes)
    async with aiohttp_server(app) as url:
        yield url.removeprefix("http://"), seen


def _probe(host: str) -> MemberProbe:
    return MemberProbe("m", KubeConfig.from_dict({
        "apiVersion": "v1", "kind": "Config", "current-context": "m",
        "clusters": [{"name": "m", "cluster": {"server": f"http://{host}"}}],
        "users": [{"name": "m", "user": {"token": "member-token"}}],
        "contexts": [{"name": "m", "context": {"cluster": "m", "user": "m"}}]}), timeout=2)


async def test_a_probe_sends_the_credential_counts_nodes_and_counts_its_requests(
        member: tuple[str, list[str]]) -> None:
    host, seen = member

    def count() -> float:
        return REGISTRY.get_sample_value(
            "rest_client_requests_total", {"code": "200", "method": "GET", "host": host}) or 0.0

    before = count()
    probe = _probe(host)
    try:
        listed = await probe.probe(nodes=True)
        ready_only = await probe.probe(nodes=False)
    finally:
        await probe.close()
    assert (listed.reachable, listed.nodes_total, listed.nodes_ready) == (True, 2, 1)
    assert ready_only.reachable and not ready_only.nodes_listed
    assert seen == ["Bearer member-token"] * 3 and probe.requests == 3
    assert count() - before == 3

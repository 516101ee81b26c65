"""The member-health prober talks to members, whose answers the platform does not control: what a
member (or whoever answers at its address) sends must never reach a status, Event or log, and
the credential the prober uses must never be quoted."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from lightkube import KubeConfig

from hybridcloud.kube.member_probe import MAX_ANSWER_BYTES, MemberProbe
from hybridcloud.reconcile.health import MemberHealth, Timing, judge

from ..support import aiohttp_server

PLANTED = "planted-secret-6f1d"
TOKEN = "platform-token-93ab"


@pytest.fixture
async def hostile_member() -> AsyncIterator[tuple[str, dict[str, str]]]:
    """A server at a member's address; ``mode["readyz"]`` / ``mode["nodes"]`` pick its answers."""
    mode = {"readyz": "fail", "nodes": "ok", "redirect": ""}

    async def readyz(_: web.Request) -> web.Response:
        if mode["readyz"] == "fail":
            return web.Response(status=503, text=f"[-]etcd failed: {PLANTED} {TOKEN}")
        if mode["redirect"]:
            raise web.HTTPFound(mode["redirect"])
        return web.Response(text="ok")

    async def nodes(request: web.Request) -> web.StreamResponse:
        if mode["nodes"] == "huge":  # chunked, no length announced: the reader must count
            stream = web.StreamResponse()
            stream.content_type = "application/json"
            await stream.prepare(request)
            chunk = b" " * (1 << 20)
            try:
                for _ in range(MAX_ANSWER_BYTES // len(chunk) + 8):
                    await stream.write(chunk)
            except ConnectionError:
                pass  # the prober hung up, as it should
            return stream
        return web.Response(text=f"<html>{PLANTED}</html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/api/v1/nodes", nodes)
    async with aiohttp_server(app) as url:
        yield url, mode


def probe_for(url: str) -> MemberProbe:
    return MemberProbe("victim", KubeConfig.from_dict({
        "apiVersion": "v1", "kind": "Config", "current-context": "m",
        "clusters": [{"name": "m", "cluster": {"server": url}}],
        "users": [{"name": "m", "user": {"token": TOKEN}}],
        "contexts": [{"name": "m", "context": {"cluster": "m", "user": "m"}}]}), timeout=2)


async def test_a_hostile_members_answers_and_the_credential_never_reach_the_verdict(
        hostile_member: tuple[str, dict[str, str]], caplog: pytest.LogCaptureFixture) -> None:
    url, mode = hostile_member
    probe = probe_for(url)
    try:
        failing = await probe.probe()
        mode["readyz"] = "ok"
        garbage = await probe.probe()
    finally:
        await probe.close()
    assert (failing.reachable, failing.error) == (False, "/readyz answered HTTP 503")
    assert garbage.reachable is False
    assert garbage.error == "the member answered something that is not JSON"
    verdict = judge(MemberHealth(), failing, 0.0, Timing(grace=1, interval=1, timeout=1))
    assert verdict.state.verdict is not None
    for text in (verdict.state.verdict.message, failing.error, garbage.error, caplog.text):
        assert PLANTED not in text and TOKEN not in text


async def test_a_member_cannot_redirect_the_prober_elsewhere(
        hostile_member: tuple[str, dict[str, str]]) -> None:
    """Whoever answers at a member's address could redirect the prober, credential attached, to
    an internal address (the cloud metadata service): a redirect is an answer, never followed."""
    url, mode = hostile_member
    hits: list[str] = []

    async def elsewhere(request: web.Request) -> web.Response:
        hits.append(request.headers.get("Authorization", ""))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/readyz", elsewhere)
    async with aiohttp_server(app) as other:
        mode.update(readyz="ok", redirect=f"{other}/readyz")
        probe = probe_for(url)
        try:
            result = await probe.probe()
        finally:
            await probe.close()
    assert (result.reachable, result.error) == (False, "/readyz answered HTTP 302")
    assert hits == []


async def test_a_member_answer_beyond_the_bound_is_refused_unread(
        hostile_member: tuple[str, dict[str, str]]) -> None:
    """A node list that never ends must not cost the operator its memory."""
    url, mode = hostile_member
    mode.update(readyz="ok", nodes="huge")
    probe = probe_for(url)
    try:
        result = await probe.probe()
    finally:
        await probe.close()
    assert (result.reachable, result.error) == (False, "the member's answer is too large")

"""The Git hook's push record is written over the API's aiohttp connection (issue 19); an
apiserver that cannot be reached there is still a 503 ``SERVICE_UNAVAILABLE`` with
``Retry-After``, never a 500."""

from __future__ import annotations

import socket

import pytest
from lightkube import KubeConfig

from hybridcloud.api.errors import APIError
from hybridcloud.api.routes.git_hooks import _record
from hybridcloud.delivery.githooks import Push
from hybridcloud.kube.wire import KubeWire


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once the socket is closed


async def test_an_unreachable_apiserver_while_recording_a_push_is_a_503_to_retry() -> None:
    config = KubeConfig.from_dict({
        "clusters": [{"name": "gone", "cluster": {
            "server": f"http://127.0.0.1:{_closed_port()}"}}],
        "users": [{"name": "api", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "api"}}],
        "current-context": "gone"}).get()
    wire = KubeWire(config, field_manager="hybridcloud-api")
    push = Push(frozenset({"git.example.com/shop/app"}), "refs/heads/main", "main")
    try:
        with pytest.raises(APIError) as raised:
            await _record(wire, "hybridcloud-system", push, "git-push:test")
    finally:
        await wire.close()
    assert raised.value.code == "SERVICE_UNAVAILABLE"
    assert raised.value.headers.get("Retry-After") == "5"

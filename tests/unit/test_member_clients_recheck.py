"""MemberClients with ``recheck_after``: the platform copy of a member credential is read once
per interval, not on every request for the member's client (issue 19: the delivery passes after
a push read the Secret up to twice per target)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import pytest
import yaml
from lightkube import KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Secret

from hybridcloud.kube.member_credentials import (
    MemberClients,
    MemberCredentialError,
    platform_secret,
)

KUBECONFIG = yaml.safe_dump({
    "apiVersion": "v1", "kind": "Config", "current-context": "east",
    "clusters": [{"name": "east", "cluster": {"server": "https://127.0.0.1:6443"}}],
    "users": [{"name": "admin", "user": {"token": "t0ken"}}],
    "contexts": [{"name": "east", "context": {"cluster": "east", "user": "admin"}}]})


class Management:
    """Serves the platform copies of ``uids`` and counts the reads."""

    def __init__(self, *uids: str) -> None:
        self.uids = set(uids)
        self.reads = 0

    async def get(self, resource: Any, name: str, namespace: str) -> Secret:
        self.reads += 1
        uid = name.removeprefix("member-")
        if uid not in self.uids:
            raise ApiError(request=None, response=_not_found())  # type: ignore[arg-type]
        secret = platform_secret("hybridcloud-system", "tenant-a", "east", uid, KUBECONFIG, None)
        assert secret.metadata is not None
        secret.metadata.resourceVersion = "1"
        return secret


def _not_found() -> Any:
    return httpx2.Response(404, json={"kind": "Status", "code": 404, "message": "not found"},
                           request=httpx2.Request("GET", "https://x"))


def _clients(management: Management, recheck_after: float) -> MemberClients[str]:
    async def close(_: str) -> None:
        return None

    def build(cluster: str, config: KubeConfig) -> str:
        return f"client-of-{cluster}"

    return MemberClients(management, "hybridcloud-system", build, close,  # type: ignore[arg-type]
                         recheck_after=recheck_after)


async def test_the_platform_copy_is_read_once_per_recheck_interval() -> None:
    management = Management("uid-1")
    clients = _clients(management, recheck_after=0.3)

    for _ in range(5):
        assert await clients.get("tenant-a", "east", "uid-1") == "client-of-east"
    assert management.reads == 1

    await asyncio.sleep(0.35)
    await clients.get("tenant-a", "east", "uid-1")
    assert management.reads == 2


async def test_without_a_recheck_interval_every_request_reads_the_platform_copy() -> None:
    management = Management("uid-1")
    clients = _clients(management, recheck_after=0.0)

    for _ in range(3):
        await clients.get("tenant-a", "east", "uid-1")
    assert management.reads == 3


async def test_a_cluster_recreated_under_the_same_name_is_read_at_once() -> None:
    management = Management("uid-1")
    clients = _clients(management, recheck_after=60.0)
    await clients.get("tenant-a", "east", "uid-1")

    management.uids = {"uid-2"}  # deleted and re-created: the old credential is gone
    await clients.get("tenant-a", "east", "uid-2")
    assert management.reads == 2


async def test_a_failed_read_is_not_taken_as_a_check() -> None:
    management = Management()
    clients = _clients(management, recheck_after=60.0)

    for _ in range(2):
        with pytest.raises(LookupError, match="no credential yet"):
            await clients.get("tenant-a", "east", "uid-1")
    assert management.reads == 2


class SlowManagement(Management):
    """Each read waits until ``answer`` is set, like a busy apiserver."""

    def __init__(self, *uids: str) -> None:
        super().__init__(*uids)
        self.answer = asyncio.Event()

    async def get(self, resource: Any, name: str, namespace: str) -> Secret:
        self.reads += 1
        await self.answer.wait()
        self.reads -= 1  # counted once below, as the read it was
        return await super().get(resource, name, namespace)


async def test_callers_arriving_while_the_recheck_read_is_under_way_share_that_one_read() -> None:
    management = SlowManagement("uid-1")
    clients = _clients(management, recheck_after=0.3)
    waiting = [asyncio.ensure_future(clients.get("tenant-a", "east", "uid-1"))
               for _ in range(20)]  # the first passes after a quiet spell, all at once
    await asyncio.sleep(0.05)
    management.answer.set()
    assert set(await asyncio.gather(*waiting)) == {"client-of-east"}
    assert management.reads == 1, "twenty callers, one read of the platform copy"


async def test_a_failed_shared_read_fails_every_caller_and_the_next_caller_reads_again() -> None:
    management = SlowManagement()  # no platform copy yet: every read answers 404
    clients = _clients(management, recheck_after=0.3)
    waiting = [asyncio.ensure_future(clients.get("tenant-a", "east", "uid-1"))
               for _ in range(3)]
    await asyncio.sleep(0.05)
    management.answer.set()
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(o, MemberCredentialError) for o in outcomes), outcomes
    management.uids.add("uid-1")
    assert await clients.get("tenant-a", "east", "uid-1") == "client-of-east"
    assert management.reads == 2

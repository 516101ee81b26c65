"""Clients for member clusters, built from the platform's own copy of their credentials.

The API reads that copy (``kube.member_credentials``: a Secret in the platform namespace that
only the operator writes) with its own identity, after the caller's access to the cluster was
checked; the tenant-facing ``<cluster>-kubeconfig`` is never read, so a tenant cannot point the
API elsewhere or make it run code. The kubeconfig never leaves the process.

Every member call has a deadline (``HYBRIDCLOUD_API_MEMBER_TIMEOUT``) for the whole call, not
only per network read: a member that answers a byte at a time must not hold a request (and a
worker) forever.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
from lightkube import AsyncClient, KubeConfig
from lightkube.core.exceptions import ApiError

from ..kube.counted import counted
from ..kube.member_credentials import MemberClients as CredentialClients
from ..kube.member_credentials import MemberCredentialError
from .errors import APIError
from .kubecall import kube_call


class MemberClients:
    def __init__(self, management: AsyncClient, timeout: float, platform_namespace: str) -> None:
        self.timeout = timeout  # the deadline of each whole member call (see member_call)
        def build(_: str, config: KubeConfig) -> AsyncClient:
            return counted(AsyncClient(config=config, timeout=httpx2.Timeout(timeout),
                                       field_manager="hybridcloud-api"))

        async def close(client: AsyncClient) -> None:
            await client.close()

        self._clients = CredentialClients(management, platform_namespace, build, close)

    async def client(self, namespace: str, cluster: str, cluster_uid: str) -> AsyncClient:
        try:
            client: AsyncClient = await kube_call(
                self._clients.get(namespace, cluster, cluster_uid))
            return client
        except (ApiError, MemberCredentialError) as exc:
            raise APIError("SERVICE_UNAVAILABLE",
                           f"cluster {cluster!r} has no usable kubeconfig yet; retry later",
                           {"cluster_id": cluster}, headers={"Retry-After": "10"}) from exc

    async def close(self) -> None:
        await self._clients.close()


async def member_call(call: Any, cluster: str, within: float) -> Any:
    """Await a member-cluster call for at most ``within`` seconds in all; an unreachable or
    too slow member is SERVICE_UNAVAILABLE."""
    try:
        return await kube_call(asyncio.wait_for(call, within))
    except APIError as exc:
        if exc.code == "SERVICE_UNAVAILABLE":
            raise APIError("SERVICE_UNAVAILABLE", f"cluster {cluster!r} is unreachable or did "
                           f"not answer within {within:g}s; retry later",
                           {"cluster_id": cluster, "timeout_seconds": within},
                           headers={"Retry-After": "10"}) from exc
        raise

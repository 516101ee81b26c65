"""Clients for member clusters, built from their ``<cluster>-kubeconfig`` Secrets (key ``value``).

The API reads the Secret with its own identity after the caller's access to the cluster was
checked; the kubeconfig never leaves the process. Every member call has a deadline
(``HYBRIDCLOUD_API_MEMBER_TIMEOUT``) for the whole call, not only per network read: a member that
answers a byte at a time must not hold a request (and a worker) forever. Clients are reused
while the Secret's resourceVersion is unchanged (the operator rotates it before credentials
expire).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Any

import httpx2
import yaml
from lightkube import AsyncClient, KubeConfig
from lightkube.core.exceptions import ApiError, ConfigError
from lightkube.resources.core_v1 import Secret

from ..kube.references import InvalidReferenceError, read_named
from .deps import kube_call
from .errors import APIError

SECRET_KEY = "value"  # noqa: S105  (the data key, not a secret)


def secret_name(cluster: str) -> str:
    return f"{cluster}-kubeconfig"


class MemberClients:
    def __init__(self, management: AsyncClient, timeout: float) -> None:
        self.management = management
        self.timeout = timeout
        self._clients: dict[tuple[str, str], tuple[str, AsyncClient]] = {}

    async def client(self, namespace: str, cluster: str) -> AsyncClient:
        unavailable = APIError("SERVICE_UNAVAILABLE",
                               f"cluster {cluster!r} has no usable kubeconfig yet; retry later",
                               {"cluster_id": cluster}, headers={"Retry-After": "10"})
        try:
            secret = await kube_call(read_named(self.management, Secret, namespace,
                                                secret_name(cluster), field="cluster_id"))
        except (ApiError, InvalidReferenceError) as exc:
            raise unavailable from exc
        version = secret.metadata.resourceVersion or ""
        cached = self._clients.get((namespace, cluster))
        if cached and cached[0] == version:
            return cached[1]
        try:
            text = base64.b64decode((secret.data or {})[SECRET_KEY]).decode()
            config = KubeConfig.from_dict(yaml.safe_load(text))
        except (KeyError, binascii.Error, UnicodeDecodeError, yaml.YAMLError, ConfigError,
                TypeError, AttributeError) as exc:
            raise unavailable from exc
        client = AsyncClient(config=config, timeout=httpx2.Timeout(self.timeout),
                             field_manager="hybridcloud-api")
        if cached:
            await cached[1].close()
        self._clients[(namespace, cluster)] = (version, client)
        return client

    async def close(self) -> None:
        for _, client in self._clients.values():
            await client.close()
        self._clients.clear()


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

"""``HybridCloudClient`` (sync) and ``AsyncHybridCloudClient``: one resource per OpenAPI tag."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from ._core import AsyncTransport, RetryPolicy, SyncTransport
from .auth import ClientCredentials
from .resources.asynchronous import (
    AsyncAlerts,
    AsyncApplications,
    AsyncClusters,
    AsyncEvents,
    AsyncLogs,
    AsyncMetrics,
    AsyncMultiCluster,
    AsyncOperations,
    AsyncSecurity,
    AsyncWorkloads,
)
from .resources.synchronous import (
    Alerts,
    Applications,
    Clusters,
    Events,
    Logs,
    Metrics,
    MultiCluster,
    Operations,
    Security,
    Workloads,
)

DEFAULT_TIMEOUT = 30.0


def _headers(namespace: str | None) -> dict[str, str]:
    # The tenant namespace to act in; without it the API uses the caller's own namespace.
    return {"X-Tenant-Namespace": namespace} if namespace else {}


def _check_auth(api_key: str | None, client_id: str | None,
                client_secret: str | None) -> ClientCredentials | None:
    if api_key and client_id:
        raise ValueError("give either api_key or client_id/client_secret, not both")
    if client_id or client_secret:
        if not (client_id and client_secret):
            raise ValueError("client credentials need both client_id and client_secret")
        return ClientCredentials(client_id, client_secret)
    return None


class HybridCloudClient:
    """Synchronous client. ``api_key`` is a bearer token (a Kubernetes token or one from
    ``/oauth/token``); or pass ``client_id``/``client_secret`` for OAuth client credentials."""

    def __init__(self, base_url: str, api_key: str | None = None, *,
                 client_id: str | None = None, client_secret: str | None = None,
                 namespace: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                 retry: RetryPolicy | None = None) -> None:
        credentials = _check_auth(api_key, client_id, client_secret)
        self._transport = SyncTransport(base_url.rstrip("/"), api_key=api_key,
                                        credentials=credentials, timeout=timeout,
                                        retry=retry or RetryPolicy())
        self._transport.http.headers.update(_headers(namespace))
        send = self._transport.send
        self.operations = Operations(send)
        self.clusters = Clusters(send, self.operations)
        self.applications = Applications(send, self.operations)
        self.workloads = Workloads(send)
        self.multi_cluster = MultiCluster(send)
        self.security = Security(send)
        self.metrics = Metrics(send)
        self.alerts = Alerts(send)
        self.logs = Logs(send)
        self.events = Events(self._transport)

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


class AsyncHybridCloudClient:
    """The asynchronous client: the same resources with ``await``-able methods."""

    def __init__(self, base_url: str, api_key: str | None = None, *,
                 client_id: str | None = None, client_secret: str | None = None,
                 namespace: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                 retry: RetryPolicy | None = None) -> None:
        credentials = _check_auth(api_key, client_id, client_secret)
        self._transport = AsyncTransport(base_url.rstrip("/"), api_key=api_key,
                                         credentials=credentials, timeout=timeout,
                                         retry=retry or RetryPolicy())
        self._transport.http.headers.update(_headers(namespace))
        send = self._transport.send
        self.operations = AsyncOperations(send)
        self.clusters = AsyncClusters(send, self.operations)
        self.applications = AsyncApplications(send, self.operations)
        self.workloads = AsyncWorkloads(send)
        self.multi_cluster = AsyncMultiCluster(send)
        self.security = AsyncSecurity(send)
        self.metrics = AsyncMetrics(send)
        self.alerts = AsyncAlerts(send)
        self.logs = AsyncLogs(send)
        self.events = AsyncEvents(self._transport)

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await self.aclose()

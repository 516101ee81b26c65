"""The asynchronous resources of ``AsyncHybridCloudClient`` (same requests as the sync ones,
built by ``calls.py``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from .. import models as m
from .._core import AsyncTransport, Call
from ..errors import WaitTimeoutError
from ..streaming import StreamEvent, Subscription, subscribe_async
from .calls import (
    AlertCalls,
    ApplicationCalls,
    ClusterCalls,
    LogCalls,
    MetricsCalls,
    MultiClusterCalls,
    OperationCalls,
    ScanCalls,
    SecurityCalls,
    WorkloadCalls,
    now_rfc3339,
    scan_targets,
)
from .synchronous import FINAL_OPERATION_STATES, FINAL_SCAN_STATES, resized

T = TypeVar("T", bound=m.BaseModel)
AsyncSend = Callable[[Call[Any]], Awaitable[Any]]


class _AsyncResource:
    def __init__(self, send: AsyncSend) -> None:
        self._send = send

    async def _do(self, call: Call[T]) -> T:
        result: T = await self._send(call)
        return result


class AsyncOperations(_AsyncResource):
    async def get(self, operation_id: str) -> m.Operation:
        return await self._do(OperationCalls.get(operation_id))

    # `timeout` like the sync client's, raising WaitTimeoutError with the last state seen.
    async def wait(self, operation_id: str, *, timeout: float = 600.0,  # noqa: ASYNC109
                   interval: float = 2.0,
                   on_progress: Callable[[m.Operation], None] | None = None) -> m.Operation:
        deadline = time.monotonic() + timeout
        while True:
            operation = await self.get(operation_id)
            if on_progress:
                on_progress(operation)
            if operation.status in FINAL_OPERATION_STATES:
                return operation
            if time.monotonic() > deadline:
                raise WaitTimeoutError(f"operation {operation_id} still {operation.status} "
                                       f"after {timeout:.0f}s")
            await asyncio.sleep(interval)


class AsyncClusters(_AsyncResource):
    def __init__(self, send: AsyncSend, operations: AsyncOperations) -> None:
        super().__init__(send)
        self._operations = operations

    async def list(self, *, page: int | None = None, per_page: int | None = None,
                   provider: str | None = None, region: str | None = None,
                   status: str | None = None) -> m.ClusterList:
        return await self._do(ClusterCalls.list(page, per_page, provider, region, status))

    async def iter(self, *, per_page: int = 100, provider: str | None = None,
                   region: str | None = None, status: str | None = None
                   ) -> AsyncIterator[m.ClusterSummary]:
        page = 1
        while True:
            listing = await self.list(page=page, per_page=per_page, provider=provider,
                                      region=region, status=status)
            for cluster in listing.clusters:
                yield cluster
            if not listing.clusters or page * listing.per_page >= listing.total:
                return
            page += 1

    async def get(self, cluster_id: str) -> m.ClusterDetails:
        return await self._do(ClusterCalls.get(cluster_id))

    async def create(self, spec: dict[str, Any] | None = None, **fields: Any) -> m.Accepted:
        return await self._do(ClusterCalls.create({**(spec or {}), **fields}))

    async def update(self, cluster_id: str, patch: dict[str, Any] | None = None, *,
                     if_match: str | None = None, **fields: Any) -> m.Accepted:
        return await self._do(ClusterCalls.update(cluster_id, {**(patch or {}), **fields},
                                                  if_match))

    async def scale(self, cluster_id: str, node_pool: str, size: int) -> m.Accepted:
        """Set one node pool's size, the other pools unchanged (see the sync client)."""
        return await self.update(cluster_id, resized(await self.get(cluster_id), node_pool, size))

    async def upgrade(self, cluster_id: str, version: str) -> m.Accepted:
        return await self.update(cluster_id, {"version": version})

    async def delete(self, cluster_id: str) -> m.Accepted:
        return await self._do(ClusterCalls.delete(cluster_id))

    async def wait_until_ready(self, cluster_id: str, *,
                               timeout: float = 900.0,  # noqa: ASYNC109
                               interval: float = 2.0) -> m.ClusterDetails:
        deadline = time.monotonic() + timeout
        while True:
            cluster = await self.get(cluster_id)
            if cluster.status == "active":
                return cluster
            if cluster.status == "failed":
                raise WaitTimeoutError(f"cluster {cluster_id} failed")
            if time.monotonic() > deadline:
                raise WaitTimeoutError(f"cluster {cluster_id} still {cluster.status} "
                                       f"after {timeout:.0f}s")
            await asyncio.sleep(interval)


class AsyncApplications(_AsyncResource):
    def __init__(self, send: AsyncSend, operations: AsyncOperations) -> None:
        super().__init__(send)
        self._operations = operations

    async def deploy(self, cluster_id: str, name: str, source: dict[str, Any], *,
                     values: dict[str, Any] | None = None, namespace: str | None = None,
                     sync_policy: dict[str, Any] | None = None) -> m.Accepted:
        return await self._do(ApplicationCalls.deploy(cluster_id, {
            "name": name, "source": source, "values": values, "namespace": namespace,
            "sync_policy": sync_policy}))

    async def list(self, cluster_id: str, *, page: int | None = None,
                   per_page: int | None = None, status: str | None = None) -> m.ApplicationList:
        return await self._do(ApplicationCalls.list(cluster_id, page, per_page, status))

    async def iter(self, cluster_id: str, *, per_page: int = 100,
                   status: str | None = None) -> AsyncIterator[m.ApplicationSummary]:
        page = 1
        while True:
            listing = await self.list(cluster_id, page=page, per_page=per_page, status=status)
            for application in listing.applications:
                yield application
            if not listing.applications or page * listing.per_page >= listing.total:
                return
            page += 1

    async def deploy_multi_cluster(self, spec: dict[str, Any] | None = None,
                                   **fields: Any) -> m.Accepted:
        return await self._do(ApplicationCalls.deploy_multi_cluster({**(spec or {}), **fields}))


class AsyncWorkloads(_AsyncResource):
    async def list(self, cluster_id: str, *,
                   workload_namespace: str | None = None) -> m.WorkloadsResponse:
        return await self._do(WorkloadCalls.list(cluster_id, workload_namespace))

    async def scale(self, cluster_id: str, workload_type: str, workload_namespace: str,
                    name: str, replicas: int) -> m.ScaleResult:
        return await self._do(WorkloadCalls.scale(cluster_id, workload_type,
                                                  workload_namespace, name, replicas))


class AsyncMultiCluster(_AsyncResource):
    async def status(self) -> m.MultiClusterStatus:
        return await self._do(MultiClusterCalls.status())


class AsyncSecurity(_AsyncResource):
    async def list_policies(self) -> m.PolicyList:
        return await self._do(SecurityCalls.list())

    async def get_policy(self, policy_id: str) -> m.PolicyView:
        return await self._do(SecurityCalls.get(policy_id))

    async def create_policy(self, spec: dict[str, Any]) -> m.PolicyView:
        return await self._do(SecurityCalls.create(spec))

    async def update_policy(self, policy_id: str, patch: dict[str, Any]) -> m.PolicyView:
        return await self._do(SecurityCalls.update(policy_id, patch))

    async def delete_policy(self, policy_id: str) -> m.PolicyView:
        return await self._do(SecurityCalls.delete(policy_id))

    async def trigger_scan(self, *, cluster_id: str | None = None,
                           images: list[str] | None = None,
                           targets: list[dict[str, Any]] | None = None,
                           scan_types: list[str] | None = None) -> m.ScanView:
        return await self._do(ScanCalls.trigger({
            "targets": scan_targets(cluster_id, images, targets), "scan_types": scan_types}))

    async def get_scan(self, scan_id: str) -> m.ScanView:
        return await self._do(ScanCalls.get(scan_id))

    # `timeout` like the sync client's, raising WaitTimeoutError with the last state seen.
    async def wait_for_scan(self, scan_id: str, *, timeout: float = 600.0,  # noqa: ASYNC109
                            interval: float = 2.0,
                            on_progress: Callable[[m.ScanView], None] | None = None
                            ) -> m.ScanView:
        deadline = time.monotonic() + timeout
        while True:
            scan = await self.get_scan(scan_id)
            if on_progress:
                on_progress(scan)
            if scan.status in FINAL_SCAN_STATES:
                return scan
            if time.monotonic() > deadline:
                raise WaitTimeoutError(f"scan {scan_id} still {scan.status} after "
                                       f"{timeout:.0f}s")
            await asyncio.sleep(interval)

    async def list_vulnerabilities(self, *, severity: str | list[str] | None = None,
                                   fixed: bool | None = None,
                                   cluster: str | None = None) -> m.VulnerabilityList:
        return await self._do(ScanCalls.vulnerabilities(severity, fixed, cluster))


class AsyncMetrics(_AsyncResource):
    async def get_cluster_metrics(self, cluster_id: str, *, start_time: str | None = None,
                                  end_time: str | None = None,
                                  metrics: list[str] | None = None,
                                  step: str | None = None) -> m.ClusterMetricsResponse:
        return await self._do(MetricsCalls.cluster(cluster_id, start_time, end_time, metrics,
                                                   step))

    async def get_application_metrics(self, cluster_id: str,
                                      app_name: str) -> m.ApplicationMetricsResponse:
        return await self._do(MetricsCalls.application(cluster_id, app_name))


class AsyncAlerts(_AsyncResource):
    async def list(self, *, state: str | None = None, severity: str | None = None,
                   cluster: str | None = None) -> m.AlertList:
        return await self._do(AlertCalls.list(state, severity, cluster))


class AsyncLogs(_AsyncResource):
    async def query(self, query: str, *, start_time: str | None = None,
                    end_time: str | None = None, limit: int | None = None,
                    sort: str | None = None, cursor: str | None = None) -> m.LogQueryResult:
        return await self._do(LogCalls.query({
            "query": query, "start_time": start_time, "end_time": end_time, "limit": limit,
            "sort": sort, "cursor": cursor}))

    async def pages(self, query: str, *, start_time: str | None = None,
                    end_time: str | None = None, limit: int | None = None,
                    sort: str | None = None) -> AsyncIterator[m.LogQueryResult]:
        cursor: str | None = None
        # A cursor only fits the time range it came from: pin an unset end to now for every
        # page (the server's default "now" would move between pages).
        end_time = end_time or now_rfc3339()
        while True:
            page = await self.query(query, start_time=start_time, end_time=end_time,
                                    limit=limit, sort=sort, cursor=cursor)
            yield page
            if not page.next_cursor:
                return
            cursor = page.next_cursor


class AsyncEvents:
    def __init__(self, transport: AsyncTransport) -> None:
        self._transport = transport

    def subscribe(self, *, clusters: list[str] | None = None, events: list[str] | None = None,
                  last_event_id: str | None = None, replay: bool = False,
                  idle_timeout: float | None = None,
                  max_reconnects: int = 5) -> AsyncIterator[StreamEvent]:
        """``async for event in client.events.subscribe(...)``: see the sync client."""
        return subscribe_async(self._transport, Subscription(
            clusters=clusters, events=events, last_event_id=last_event_id, replay=replay,
            idle_timeout=idle_timeout, max_reconnects=max_reconnects))

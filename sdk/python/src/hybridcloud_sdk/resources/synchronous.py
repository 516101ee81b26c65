"""The synchronous resources of ``HybridCloudClient``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from .. import models as m
from .._core import Call, SyncTransport
from ..errors import WaitTimeoutError
from ..streaming import StreamEvent, Subscription, subscribe_sync
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

T = TypeVar("T", bound=m.BaseModel)
Send = Callable[[Call[Any]], Any]
# Operation states after which nothing changes any more.
FINAL_OPERATION_STATES = frozenset({"succeeded", "failed", "superseded"})
# Scan states after which the operator does not touch the scan again.
FINAL_SCAN_STATES = frozenset({"completed", "failed"})


def resized(cluster: m.ClusterDetails, node_pool: str, size: int) -> dict[str, Any]:
    """The PATCH body giving ``node_pool`` of ``cluster`` the new size, every other pool as it
    is (the API's PATCH replaces the whole node pool list)."""
    pools = [pool.model_dump(mode="json", exclude_none=True)
             for pool in cluster.configuration.node_pools]
    names = [pool["name"] for pool in pools]
    if node_pool not in names:
        raise ValueError(f"cluster {cluster.id} has no node pool {node_pool!r}: {names}")
    for pool in pools:
        if pool["name"] == node_pool:
            pool["size"] = size
    return {"configuration": {"node_pools": pools}}


class _Resource:
    def __init__(self, send: Send) -> None:
        self._send = send

    def _do(self, call: Call[T]) -> T:
        result: T = self._send(call)
        return result


class Operations(_Resource):
    def get(self, operation_id: str) -> m.Operation:
        return self._do(OperationCalls.get(operation_id))

    def wait(self, operation_id: str, *, timeout: float = 600.0, interval: float = 2.0,
             on_progress: Callable[[m.Operation], None] | None = None) -> m.Operation:
        """Poll until the operation is succeeded, failed or superseded; returns it (check
        ``status``). ``on_progress`` sees every poll (progress displays)."""
        deadline = time.monotonic() + timeout
        while True:
            operation = self.get(operation_id)
            if on_progress:
                on_progress(operation)
            if operation.status in FINAL_OPERATION_STATES:
                return operation
            if time.monotonic() > deadline:
                raise WaitTimeoutError(f"operation {operation_id} still {operation.status} "
                                       f"after {timeout:.0f}s")
            time.sleep(interval)


class Clusters(_Resource):
    def __init__(self, send: Send, operations: Operations) -> None:
        super().__init__(send)
        self._operations = operations

    def list(self, *, page: int | None = None, per_page: int | None = None,
             provider: str | None = None, region: str | None = None,
             status: str | None = None) -> m.ClusterList:
        return self._do(ClusterCalls.list(page, per_page, provider, region, status))

    def iter(self, *, per_page: int = 100, provider: str | None = None,
             region: str | None = None, status: str | None = None
             ) -> Iterator[m.ClusterSummary]:
        """Every cluster, page after page."""
        page = 1
        while True:
            listing = self.list(page=page, per_page=per_page, provider=provider, region=region,
                                status=status)
            yield from listing.clusters
            if not listing.clusters or page * listing.per_page >= listing.total:
                return
            page += 1

    def get(self, cluster_id: str) -> m.ClusterDetails:
        return self._do(ClusterCalls.get(cluster_id))

    def create(self, spec: dict[str, Any] | None = None, **fields: Any) -> m.Accepted:
        """``create({...})`` or ``create(name=..., provider=..., version=..., ...)``."""
        return self._do(ClusterCalls.create({**(spec or {}), **fields}))

    def update(self, cluster_id: str, patch: dict[str, Any] | None = None, *,
               if_match: str | None = None, **fields: Any) -> m.Accepted:
        return self._do(ClusterCalls.update(cluster_id, {**(patch or {}), **fields}, if_match))

    def scale(self, cluster_id: str, node_pool: str, size: int) -> m.Accepted:
        """Set one node pool's size (the API's PATCH replaces the node pool list, so the others
        are sent unchanged)."""
        return self.update(cluster_id, resized(self.get(cluster_id), node_pool, size))

    def upgrade(self, cluster_id: str, version: str) -> m.Accepted:
        return self.update(cluster_id, {"version": version})

    def delete(self, cluster_id: str) -> m.Accepted:
        return self._do(ClusterCalls.delete(cluster_id))

    def wait_until_ready(self, cluster_id: str, *, timeout: float = 900.0,
                         interval: float = 2.0) -> m.ClusterDetails:
        """Poll until the cluster is ``active``; a ``failed`` cluster raises at once."""
        deadline = time.monotonic() + timeout
        while True:
            cluster = self.get(cluster_id)
            if cluster.status == "active":
                return cluster
            if cluster.status == "failed":
                raise WaitTimeoutError(f"cluster {cluster_id} failed")
            if time.monotonic() > deadline:
                raise WaitTimeoutError(f"cluster {cluster_id} still {cluster.status} "
                                       f"after {timeout:.0f}s")
            time.sleep(interval)


class Applications(_Resource):
    def __init__(self, send: Send, operations: Operations) -> None:
        super().__init__(send)
        self._operations = operations

    def deploy(self, cluster_id: str, name: str, source: dict[str, Any], *,
               values: dict[str, Any] | None = None, namespace: str | None = None,
               sync_policy: dict[str, Any] | None = None) -> m.Accepted:
        return self._do(ApplicationCalls.deploy(cluster_id, {
            "name": name, "source": source, "values": values, "namespace": namespace,
            "sync_policy": sync_policy}))

    def list(self, cluster_id: str, *, page: int | None = None, per_page: int | None = None,
             status: str | None = None) -> m.ApplicationList:
        return self._do(ApplicationCalls.list(cluster_id, page, per_page, status))

    def iter(self, cluster_id: str, *, per_page: int = 100,
             status: str | None = None) -> Iterator[m.ApplicationSummary]:
        page = 1
        while True:
            listing = self.list(cluster_id, page=page, per_page=per_page, status=status)
            yield from listing.applications
            if not listing.applications or page * listing.per_page >= listing.total:
                return
            page += 1

    def deploy_multi_cluster(self, spec: dict[str, Any] | None = None,
                             **fields: Any) -> m.Accepted:
        return self._do(ApplicationCalls.deploy_multi_cluster({**(spec or {}), **fields}))


class Workloads(_Resource):
    def list(self, cluster_id: str, *,
             workload_namespace: str | None = None) -> m.WorkloadsResponse:
        return self._do(WorkloadCalls.list(cluster_id, workload_namespace))

    def scale(self, cluster_id: str, workload_type: str, workload_namespace: str, name: str,
              replicas: int) -> m.ScaleResult:
        return self._do(WorkloadCalls.scale(cluster_id, workload_type, workload_namespace,
                                            name, replicas))


class MultiCluster(_Resource):
    def status(self) -> m.MultiClusterStatus:
        return self._do(MultiClusterCalls.status())


class Security(_Resource):
    def list_policies(self) -> m.PolicyList:
        return self._do(SecurityCalls.list())

    def get_policy(self, policy_id: str) -> m.PolicyView:
        return self._do(SecurityCalls.get(policy_id))

    def create_policy(self, spec: dict[str, Any]) -> m.PolicyView:
        return self._do(SecurityCalls.create(spec))

    def update_policy(self, policy_id: str, patch: dict[str, Any]) -> m.PolicyView:
        return self._do(SecurityCalls.update(policy_id, patch))

    def delete_policy(self, policy_id: str) -> m.PolicyView:
        return self._do(SecurityCalls.delete(policy_id))

    def trigger_scan(self, *, cluster_id: str | None = None, images: list[str] | None = None,
                     targets: list[dict[str, Any]] | None = None,
                     scan_types: list[str] | None = None) -> m.ScanView:
        """Start a scan of a cluster's images and/or of named images (202; ``status`` is
        ``pending`` until the operator picks it up). ``targets`` takes the API's own shape."""
        return self._do(ScanCalls.trigger({
            "targets": scan_targets(cluster_id, images, targets), "scan_types": scan_types}))

    def get_scan(self, scan_id: str) -> m.ScanView:
        return self._do(ScanCalls.get(scan_id))

    def wait_for_scan(self, scan_id: str, *, timeout: float = 600.0, interval: float = 2.0,
                      on_progress: Callable[[m.ScanView], None] | None = None) -> m.ScanView:
        """Poll until the scan is ``completed`` or ``failed``; returns it (a failed scan is
        returned, not raised: its ``reason`` says why, e.g. ``ScannerMissing``)."""
        deadline = time.monotonic() + timeout
        while True:
            scan = self.get_scan(scan_id)
            if on_progress:
                on_progress(scan)
            if scan.status in FINAL_SCAN_STATES:
                return scan
            if time.monotonic() > deadline:
                raise WaitTimeoutError(f"scan {scan_id} still {scan.status} after "
                                       f"{timeout:.0f}s")
            time.sleep(interval)

    def list_vulnerabilities(self, *, severity: str | list[str] | None = None,
                             fixed: bool | None = None,
                             cluster: str | None = None) -> m.VulnerabilityList:
        """What the latest scans found; ``severity`` is one of low/medium/high/critical or a
        list of them, ``fixed=True`` only fixable ones."""
        return self._do(ScanCalls.vulnerabilities(severity, fixed, cluster))


class Metrics(_Resource):
    def get_cluster_metrics(self, cluster_id: str, *, start_time: str | None = None,
                            end_time: str | None = None, metrics: list[str] | None = None,
                            step: str | None = None) -> m.ClusterMetricsResponse:
        """Series per metric name; ServiceUnavailableError (503) when the server has no
        Prometheus configured or it is down."""
        return self._do(MetricsCalls.cluster(cluster_id, start_time, end_time, metrics, step))

    def get_application_metrics(self, cluster_id: str,
                                app_name: str) -> m.ApplicationMetricsResponse:
        """Current request/error rate, latency percentiles and CPU/memory of an application
        on one cluster; a value the app does not expose is ``None`` with the reason in
        ``unavailable``. 404 (``APPLICATION_NOT_FOUND``) for an app not placed there."""
        return self._do(MetricsCalls.application(cluster_id, app_name))


class Alerts(_Resource):
    def list(self, *, state: str | None = None, severity: str | None = None,
             cluster: str | None = None) -> m.AlertList:
        """Firing and pending alerts of the tenant; 503 without an Alertmanager."""
        return self._do(AlertCalls.list(state, severity, cluster))


class Logs(_Resource):
    def query(self, query: str, *, start_time: str | None = None,
              end_time: str | None = None, limit: int | None = None, sort: str | None = None,
              cursor: str | None = None) -> m.LogQueryResult:
        """One page; pass its ``next_cursor`` as ``cursor`` for the next one (or use
        ``pages``). 503 without a log store."""
        return self._do(LogCalls.query({
            "query": query, "start_time": start_time, "end_time": end_time, "limit": limit,
            "sort": sort, "cursor": cursor}))

    def pages(self, query: str, *, start_time: str | None = None,
              end_time: str | None = None, limit: int | None = None,
              sort: str | None = None) -> Iterator[m.LogQueryResult]:
        """Every page of the query, following ``next_cursor`` until there is none."""
        cursor: str | None = None
        # A cursor only fits the time range it came from: pin an unset end to now for every
        # page (the server's default "now" would move between pages).
        end_time = end_time or now_rfc3339()
        while True:
            page = self.query(query, start_time=start_time, end_time=end_time, limit=limit,
                              sort=sort, cursor=cursor)
            yield page
            if not page.next_cursor:
                return
            cursor = page.next_cursor


class Events:
    def __init__(self, transport: SyncTransport) -> None:
        self._transport = transport

    def subscribe(self, *, clusters: list[str] | None = None, events: list[str] | None = None,
                  last_event_id: str | None = None, replay: bool = False,
                  idle_timeout: float | None = None,
                  max_reconnects: int = 5) -> Iterator[StreamEvent]:
        """Events as they happen (GET /v1/events, Server-Sent Events), resuming with
        ``Last-Event-ID`` after a dropped connection. ``replay=True`` (without
        ``last_event_id``) first delivers what the server's bounded history still holds.
        Endless unless ``idle_timeout`` seconds pass without a line from the server; close the
        iterator (or break) to stop."""
        return subscribe_sync(self._transport, Subscription(
            clusters=clusters, events=events, last_event_id=last_event_id, replay=replay,
            idle_timeout=idle_timeout, max_reconnects=max_reconnects))

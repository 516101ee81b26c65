"""The requests of every endpoint, as ``Call`` objects shared by the sync and async clients."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from .. import models as m
from .._core import Call


def _seg(value: str) -> str:
    return quote(value, safe="")


def now_rfc3339() -> str:
    """The current instant as the API's RFC 3339 (UTC, seconds)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _body(model: type[m.BaseModel], fields: dict[str, Any]) -> Any:
    """Validated locally first, so bad input fails before a request is sent, with pydantic
    naming the field; ``None`` fields are left out so the server applies its defaults."""
    return model.model_validate({k: v for k, v in fields.items() if v is not None}).model_dump(
        mode="json", exclude_unset=True)


class ClusterCalls:
    @staticmethod
    def list(page: int | None = None, per_page: int | None = None, provider: str | None = None,
             region: str | None = None, status: str | None = None) -> Call[m.ClusterList]:
        return Call("GET", "/v1/clusters", m.ClusterList, params={
            "page": page, "per_page": per_page, "provider": provider, "region": region,
            "status": status})

    @staticmethod
    def get(cluster_id: str) -> Call[m.ClusterDetails]:
        return Call("GET", f"/v1/clusters/{_seg(cluster_id)}", m.ClusterDetails)

    @staticmethod
    def create(spec: dict[str, Any]) -> Call[m.Accepted]:
        return Call("POST", "/v1/clusters", m.Accepted, json=_body(m.ClusterCreate, spec))

    @staticmethod
    def update(cluster_id: str, patch: dict[str, Any],
               if_match: str | None = None) -> Call[m.Accepted]:
        headers = {"If-Match": if_match} if if_match else {}
        return Call("PATCH", f"/v1/clusters/{_seg(cluster_id)}", m.Accepted,
                    json=_body(m.ClusterPatch, patch), headers=headers, idempotent=True)

    @staticmethod
    def delete(cluster_id: str) -> Call[m.Accepted]:
        return Call("DELETE", f"/v1/clusters/{_seg(cluster_id)}", m.Accepted)


class ApplicationCalls:
    @staticmethod
    def deploy(cluster_id: str, fields: dict[str, Any]) -> Call[m.Accepted]:
        return Call("POST", f"/v1/clusters/{_seg(cluster_id)}/applications", m.Accepted,
                    json=_body(m.ApplicationDeploy, fields))

    @staticmethod
    def list(cluster_id: str, page: int | None = None, per_page: int | None = None,
             status: str | None = None) -> Call[m.ApplicationList]:
        return Call("GET", f"/v1/clusters/{_seg(cluster_id)}/applications", m.ApplicationList,
                    params={"page": page, "per_page": per_page, "status": status})

    @staticmethod
    def deploy_multi_cluster(fields: dict[str, Any]) -> Call[m.Accepted]:
        return Call("POST", "/v1/multi-cluster/applications", m.Accepted,
                    json=_body(m.MultiClusterDeploy, fields))


class WorkloadCalls:
    @staticmethod
    def list(cluster_id: str, workload_namespace: str | None = None) -> Call[m.WorkloadsResponse]:
        return Call("GET", f"/v1/clusters/{_seg(cluster_id)}/workloads", m.WorkloadsResponse,
                    params={"workload_namespace": workload_namespace})

    @staticmethod
    def scale(cluster_id: str, workload_type: str, workload_namespace: str, name: str,
              replicas: int) -> Call[m.ScaleResult]:
        path = (f"/v1/clusters/{_seg(cluster_id)}/workloads/{_seg(workload_type)}/"
                f"{_seg(workload_namespace)}/{_seg(name)}/scale")
        # Setting an absolute replica count is idempotent: safe to retry on 429/503.
        return Call("PATCH", path, m.ScaleResult, json=_body(m.ScaleRequest,
                                                               {"replicas": replicas}),
                    idempotent=True)


class MultiClusterCalls:
    @staticmethod
    def status() -> Call[m.MultiClusterStatus]:
        return Call("GET", "/v1/multi-cluster/status", m.MultiClusterStatus)


class OperationCalls:
    @staticmethod
    def get(operation_id: str) -> Call[m.Operation]:
        return Call("GET", f"/v1/operations/{_seg(operation_id)}", m.Operation)


class SecurityCalls:
    @staticmethod
    def list() -> Call[m.PolicyList]:
        return Call("GET", "/v1/security/policies", m.PolicyList)

    @staticmethod
    def get(policy_id: str) -> Call[m.PolicyView]:
        return Call("GET", f"/v1/security/policies/{_seg(policy_id)}", m.PolicyView)

    @staticmethod
    def create(fields: dict[str, Any]) -> Call[m.PolicyView]:
        return Call("POST", "/v1/security/policies", m.PolicyView,
                    json=_body(m.PolicyCreate, fields))

    @staticmethod
    def update(policy_id: str, patch: dict[str, Any]) -> Call[m.PolicyView]:
        return Call("PATCH", f"/v1/security/policies/{_seg(policy_id)}", m.PolicyView,
                    json=_body(m.PolicyPatch, patch), idempotent=True)

    @staticmethod
    def delete(policy_id: str) -> Call[m.PolicyView]:
        return Call("DELETE", f"/v1/security/policies/{_seg(policy_id)}", m.PolicyView)


class ScanCalls:
    @staticmethod
    def trigger(fields: dict[str, Any]) -> Call[m.ScanView]:
        # Each POST starts one more scan: never retried (not idempotent).
        return Call("POST", "/v1/security/scan", m.ScanView, json=_body(m.ScanCreate, fields))

    @staticmethod
    def get(scan_id: str) -> Call[m.ScanView]:
        return Call("GET", f"/v1/security/scans/{_seg(scan_id)}", m.ScanView)

    @staticmethod
    def vulnerabilities(severity: str | list[str] | None, fixed: bool | None,
                        cluster: str | None) -> Call[m.VulnerabilityList]:
        if isinstance(severity, list):
            severity = ",".join(severity)
        return Call("GET", "/v1/security/vulnerabilities", m.VulnerabilityList, params={
            "severity": severity, "cluster": cluster,
            "fixed": None if fixed is None else str(fixed).lower()})


def scan_targets(cluster_id: str | None, images: list[str] | None,
                 targets: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The request's ``targets``: explicit ones, then the cluster, then each image."""
    chosen = list(targets or [])
    if cluster_id is not None:
        chosen.append({"type": "cluster", "cluster_id": cluster_id})
    chosen += [{"type": "image", "image": image} for image in images or []]
    return chosen


class MetricsCalls:
    @staticmethod
    def cluster(cluster_id: str, start_time: str | None, end_time: str | None,
                metrics: list[str] | None, step: str | None
                ) -> Call[m.ClusterMetricsResponse]:
        return Call("GET", f"/v1/clusters/{_seg(cluster_id)}/metrics",
                    m.ClusterMetricsResponse, params={
                        "start": start_time, "end": end_time, "step": step,
                        "metrics": ",".join(metrics) if metrics else None})


    @staticmethod
    def application(cluster_id: str, app_name: str) -> Call[m.ApplicationMetricsResponse]:
        return Call("GET", f"/v1/clusters/{_seg(cluster_id)}/applications/{_seg(app_name)}/"
                    "metrics", m.ApplicationMetricsResponse)


class AlertCalls:
    @staticmethod
    def list(state: str | None, severity: str | None,
             cluster: str | None) -> Call[m.AlertList]:
        return Call("GET", "/v1/alerts", m.AlertList,
                    params={"state": state, "severity": severity, "cluster": cluster})


class LogCalls:
    @staticmethod
    def query(fields: dict[str, Any]) -> Call[m.LogQueryResult]:
        # A query reads and never writes: safe to repeat.
        return Call("POST", "/v1/logs/query", m.LogQueryResult,
                    json=_body(m.LogQuery, fields), idempotent=True)

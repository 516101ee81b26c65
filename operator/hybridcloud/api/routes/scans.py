"""Security API, scans: ``POST /v1/security/scan``, ``GET /v1/security/scans/{scan_id}`` and
``GET /v1/security/vulnerabilities``.

A scan is a SecurityScan object in the tenant namespace, run by the operator (Trivy, offline);
its findings are VulnerabilityReport / ConfigAuditReport objects it owns. RBAC on
``securityscans`` and ``vulnerabilityreports`` in the tenant namespace decides, as for every other
route; a cluster target must be a HybridCluster of that namespace (404 ``CLUSTER_NOT_FOUND``).
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from lightkube.core.exceptions import ApiError

from ...kube.resources import SecurityScanResource
from ...models.common import DNS_LABEL, DNS_SUBDOMAIN
from ...models.securityscan import SecurityScan, VulnerabilityReport
from ..deps import (
    AuthDep,
    CachesDep,
    CallerDep,
    KubeDep,
    SecurityScansDep,
    SettingsDep,
    TenantDep,
    VulnerabilityReportsDep,
    kube_call,
)
from ..errors import APIError, from_kube
from ..scan_schemas import (
    ScanCreate,
    ScanView,
    VulnerabilityList,
    parse_filters,
    scan_manifest,
    scan_view,
    vulnerability_list,
)
from ._common import caught_up, errors

router = APIRouter(tags=["security"])
ScanId = Annotated[str, Path(min_length=1, max_length=63, pattern=DNS_LABEL,
                             description="Scan ID (the SecurityScan's name).")]


@router.post("/v1/security/scan", operation_id="triggerSecurityScan", status_code=202,
             response_model=ScanView, responses=errors(403, 404))
async def trigger_scan(body: ScanCreate, caller: CallerDep, auth: AuthDep, caches: CachesDep,
                       namespace: TenantDep, kube: KubeDep, settings: SettingsDep,
                       scans: SecurityScansDep) -> ScanView:
    await auth.require(caller, "create", SecurityScan.PLURAL, namespace)
    for index, target in enumerate(body.targets):
        if target.cluster_id is not None and caches.clusters.get(
                namespace, target.cluster_id) is None:
            raise APIError("CLUSTER_NOT_FOUND",
                           f"Cluster with ID '{target.cluster_id}' not found",
                           {"cluster_id": target.cluster_id, "field": f"targets[{index}]"})
    name = f"scan-{uuid.uuid4().hex[:12]}"
    try:
        created = await kube_call(kube.create(
            SecurityScanResource.from_dict(scan_manifest(name, namespace, body))))
    except ApiError as exc:
        raise from_kube(exc) from exc
    obj: dict[str, Any] = created.to_dict()
    await caught_up(scans, obj, settings.consistency_timeout)
    return scan_view(obj)


@router.get("/v1/security/scans/{scan_id}", operation_id="getSecurityScan",
            response_model=ScanView, responses=errors(403, 404))
async def get_scan(scan_id: ScanId, caller: CallerDep, auth: AuthDep, namespace: TenantDep,
                   scans: SecurityScansDep) -> ScanView:
    await auth.require(caller, "get", SecurityScan.PLURAL, namespace)
    found = scans.get(namespace, scan_id)
    if found is None:
        raise APIError("NOT_FOUND", f"Scan with ID '{scan_id}' not found", {"scan_id": scan_id})
    return scan_view(found)


@router.get("/v1/security/vulnerabilities", operation_id="listVulnerabilities",
            response_model=VulnerabilityList, responses=errors(403))
async def vulnerabilities(
        caller: CallerDep, auth: AuthDep, namespace: TenantDep,
        reports: VulnerabilityReportsDep,
        severity: Annotated[str | None, Query(
            max_length=64, description="low, medium, high or critical (comma list allowed).")]
        = None,
        fixed: Annotated[str | None, Query(
            max_length=5, description="true: only fixable ones; false: only unfixed.")] = None,
        cluster: Annotated[str | None, Query(
            max_length=253, description="Only what scans of this cluster found.")] = None,
) -> VulnerabilityList:
    await auth.require(caller, "list", VulnerabilityReport.PLURAL, namespace)
    severities, fix = parse_filters(severity, fixed)
    if cluster is not None and not re.match(DNS_SUBDOMAIN, cluster):
        raise APIError("INVALID_REQUEST", f"cluster: {cluster!r} is not a cluster name",
                       {"field": "cluster"})
    return vulnerability_list(reports.items(namespace), severities, fix, cluster)

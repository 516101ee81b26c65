"""REST bodies of the scan half of the Security API (snake_case, as the contract) ↔ SecurityScan
objects and VulnerabilityReports."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..models.common import DNS_SUBDOMAIN
from ..models.securityscan import IMAGE_REFERENCE
from ..security.scan_decisions import TARGET_LABEL
from .errors import APIError

SEVERITIES = ("critical", "high", "medium", "low")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScanTargetBody(_Strict):
    type: Literal["cluster", "image"]
    cluster_id: str | None = Field(default=None, min_length=1, max_length=253,
                                   pattern=DNS_SUBDOMAIN)
    image: str | None = Field(default=None, min_length=1, max_length=512,
                              pattern=IMAGE_REFERENCE)

    @model_validator(mode="after")
    def _one_subject(self) -> ScanTargetBody:
        if self.type == "cluster" and (self.cluster_id is None or self.image is not None):
            raise ValueError("a cluster target needs cluster_id (and no image)")
        if self.type == "image" and (self.image is None or self.cluster_id is not None):
            raise ValueError("an image target needs image (and no cluster_id)")
        return self


class ScanCreate(_Strict):
    targets: list[ScanTargetBody] = Field(min_length=1, max_length=20)
    scan_types: list[Literal["vulnerabilities", "secrets", "misconfigurations"]] = Field(
        default=["vulnerabilities", "secrets", "misconfigurations"], min_length=1, max_length=3)


class ScanTargetView(BaseModel):
    target: str
    state: str
    reason: str | None = None
    message: str | None = None
    images: int | None = None


class ScanView(BaseModel):
    id: str
    status: str
    targets: list[dict[str, Any]]
    scan_types: list[str]
    created_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    reason: str | None = None
    message: str | None = None
    progress: dict[str, int] = Field(default_factory=dict)
    results: list[ScanTargetView] = Field(default_factory=list)
    summary: dict[str, int] = Field(default_factory=dict)
    reports: list[str] = Field(default_factory=list)


class VulnerabilityView(BaseModel):
    id: str
    severity: str
    score: float | None = None
    package: str
    version: str
    fixed_version: str | None = None
    description: str
    affected_images: list[str]
    fix_available: bool
    clusters: list[str] = Field(default_factory=list)


class VulnerabilityList(BaseModel):
    vulnerabilities: list[VulnerabilityView]
    summary: dict[str, int]


def scan_manifest(name: str, namespace: str, body: ScanCreate) -> dict[str, Any]:
    targets = [{"type": "cluster", "clusterId": t.cluster_id} if t.type == "cluster"
               else {"type": "image", "image": t.image} for t in body.targets]
    return {"apiVersion": "platform.example.com/v1", "kind": "SecurityScan",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"targets": targets, "scanTypes": sorted(set(body.scan_types))}}


def scan_view(obj: Mapping[str, Any]) -> ScanView:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    targets = [{"type": "cluster", "cluster_id": t.get("clusterId")} if t.get("type") == "cluster"
               else {"type": "image", "image": t.get("image")} for t in spec.get("targets") or []]
    return ScanView(
        id=obj["metadata"]["name"], status=status.get("phase") or "pending", targets=targets,
        scan_types=list(spec.get("scanTypes") or []),
        created_at=obj["metadata"].get("creationTimestamp"),
        started_at=status.get("startedAt"), completed_at=status.get("completedAt"),
        reason=status.get("reason"), message=status.get("message"),
        progress=dict(status.get("progress") or {"total": len(targets), "done": 0}),
        results=[ScanTargetView(**t) for t in status.get("targets") or []],
        summary=dict(status.get("summary") or {}), reports=list(status.get("reports") or []))


def parse_filters(severity: str | None, fixed: str | None) -> tuple[set[str] | None,
                                                                   bool | None]:
    """``severity`` (one or a comma list of low, medium, high, critical) and ``fixed``
    (true/false); anything else is a 400 naming the parameter."""
    severities = None
    if severity is not None:
        severities = {s.strip().lower() for s in severity.split(",")}
        unknown = sorted(severities - set(SEVERITIES))
        if unknown or not severity.strip():
            raise APIError("INVALID_REQUEST", f"severity: {', '.join(unknown) or 'empty'} is "
                           f"not one of {', '.join(SEVERITIES)}", {"field": "severity"})
    fix = None
    if fixed is not None:
        if fixed.lower() not in ("true", "false"):
            raise APIError("INVALID_REQUEST", "fixed: must be true or false",
                           {"field": "fixed"})
        fix = fixed.lower() == "true"
    return severities, fix


def _latest(reports: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Of the reports on one image of one target, only the newest counts: a later scan that
    found an image patched must clear the earlier scan's findings."""
    newest: dict[tuple[str, str], Mapping[str, Any]] = {}
    for report in reports:
        body = report.get("report") or {}
        artifact = body.get("artifact") or {}
        key = ((report["metadata"].get("labels") or {}).get(TARGET_LABEL, ""),
               f"{(body.get('registry') or {}).get('server')}/{artifact.get('repository')}:"
               f"{artifact.get('tag')}")
        current = newest.get(key)
        if current is None or (body.get("updateTimestamp") or "") > (
                (current.get("report") or {}).get("updateTimestamp") or ""):
            newest[key] = report
    return list(newest.values())


def vulnerability_list(reports: Iterable[Mapping[str, Any]], severities: set[str] | None,
                       fixed: bool | None, cluster: str | None) -> VulnerabilityList:
    """The contract's list: one entry per vulnerability id, package and installed version,
    with every image (and cluster) it was found in; ``summary`` counts the listed ones."""
    merged: dict[tuple[str, str, str], VulnerabilityView] = {}
    for report in _latest(reports):
        labels = report["metadata"].get("labels") or {}
        where = labels.get("platform.example.com/cluster")
        if cluster is not None and where != cluster:
            continue
        body = report.get("report") or {}
        artifact, registry = body.get("artifact") or {}, body.get("registry") or {}
        image = f"{registry.get('server')}/{artifact.get('repository')}:{artifact.get('tag')}"
        for item in body.get("vulnerabilities") or []:
            severity = str(item.get("severity", "unknown")).lower()
            fix = bool(item.get("fixedVersion"))
            if severities is not None and severity not in severities:
                continue
            if fixed is not None and fix != fixed:
                continue
            key = (item["vulnerabilityID"], item["resource"], item["installedVersion"])
            view = merged.setdefault(key, VulnerabilityView(
                id=key[0], severity=severity, score=item.get("score"), package=key[1],
                version=key[2], fixed_version=item.get("fixedVersion") or None,
                description=item.get("title") or "", affected_images=[],
                fix_available=fix))
            if image not in view.affected_images:
                view.affected_images.append(image)
            if where and where not in view.clusters:
                view.clusters.append(where)
    listed = sorted(merged.values(), key=lambda v: (
        SEVERITIES.index(v.severity) if v.severity in SEVERITIES else 9, v.id, v.package))
    summary = {"total": len(listed), **{s: sum(v.severity == s for v in listed)
                                        for s in SEVERITIES}}
    return VulnerabilityList(vulnerabilities=listed, summary=summary)

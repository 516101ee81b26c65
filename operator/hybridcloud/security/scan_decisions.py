"""Pure pieces of a scan: report objects built from findings, their names and labels, counts,
and the scan's status (no I/O; the controller does the talking)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import API_VERSION, GROUP
from .image_refs import ImageReferenceError, parse
from .scan_results import ImageScan, SecretFinding, Vulnerability
from .workload_checks import Misconfiguration

SCAN_LABEL = f"{GROUP}/scan"
CLUSTER_LABEL = f"{GROUP}/cluster"
TARGET_LABEL = f"{GROUP}/scan-target"
SCANNER_VERSION = "0.74.0"
CLUSTER_NOT_FOUND = "ClusterNotFound"
CLUSTER_NOT_READY = "ClusterNotReady"
CLUSTER_UNREACHABLE = "ClusterUnreachable"
SEVERITY_KEYS = ("critical", "high", "medium", "low", "unknown")


@dataclass(frozen=True)
class TargetOutcome:
    target: str
    state: str  # completed | failed
    reason: str | None = None
    message: str | None = None
    images: int = 0
    reports: tuple[str, ...] = ()
    counts: Mapping[str, int] | None = None


def report_name(scan: str, kind: str, what: str) -> str:
    """A DNS label unique per scan and subject (an image digest or a cluster)."""
    digest = hashlib.sha256(f"{kind}|{what}".encode()).hexdigest()[:10]
    return f"{scan[:40]}-{kind}-{digest}"


def _severity_counts(severities: Iterable[str]) -> dict[str, int]:
    counts = dict.fromkeys(SEVERITY_KEYS, 0)
    for severity in severities:
        key = severity.lower()
        counts[key if key in counts else "unknown"] += 1
    return counts


def _vulnerability(v: Vulnerability) -> dict[str, Any]:
    out: dict[str, Any] = {"vulnerabilityID": v.id, "resource": v.package,
                           "installedVersion": v.installed_version,
                           "fixedVersion": v.fixed_version, "severity": v.severity,
                           "title": v.title[:1024], "primaryLink": v.primary_link[:1024]}
    if v.score is not None:
        out["score"] = v.score
    return out


def _secret(s: SecretFinding) -> dict[str, Any]:
    return {"ruleID": s.rule_id, "category": s.category, "severity": s.severity,
            "title": s.title[:512], "target": s.target[:1024], "line": s.line}


def _owner(scan: Mapping[str, Any]) -> list[dict[str, Any]]:
    meta = scan["metadata"]
    return [{"apiVersion": API_VERSION, "kind": "SecurityScan", "name": meta["name"],
             "uid": meta["uid"], "controller": True, "blockOwnerDeletion": False}]


def _metadata(scan: Mapping[str, Any], name: str, cluster: str | None,
              target: str) -> dict[str, Any]:
    labels = {SCAN_LABEL: scan["metadata"]["name"],
              TARGET_LABEL: hashlib.sha256(target.encode()).hexdigest()[:16]}
    if cluster:
        labels[CLUSTER_LABEL] = cluster
    return {"name": name, "namespace": scan["metadata"]["namespace"], "labels": labels,
            "ownerReferences": _owner(scan)}


def vulnerability_report(scan: Mapping[str, Any], result: ImageScan, cluster: str | None,
                         workloads: Sequence[str], now: str) -> dict[str, Any]:
    try:
        ref = parse(result.image)
        registry, repository, tag = ref.registry, ref.repository, ref.tag
    except ImageReferenceError:
        registry, repository, tag = "", result.image, ""
    target = f"cluster/{cluster}" if cluster else f"image/{result.image}"
    counts = _severity_counts(v.severity for v in result.vulnerabilities)
    return {
        "apiVersion": API_VERSION, "kind": "VulnerabilityReport",
        "metadata": _metadata(scan, report_name(scan["metadata"]["name"], "image",
                                                f"{target}|{result.image}"), cluster, target),
        "report": {
            "artifact": {"repository": repository, "tag": tag, "digest": result.digest},
            "registry": {"server": registry},
            "scanner": {"name": "Trivy", "vendor": "Aqua Security", "version": SCANNER_VERSION},
            "os": result.os, "workloads": sorted(workloads)[:500],
            "summary": {f"{k}Count": n for k, n in counts.items()},
            "vulnerabilities": [_vulnerability(v) for v in result.vulnerabilities[:5000]],
            "secrets": [_secret(s) for s in result.secrets[:1000]],
            "updateTimestamp": now,
        },
    }


def config_audit_report(scan: Mapping[str, Any], cluster: str,
                        checks: Sequence[Misconfiguration], secrets: Sequence[SecretFinding],
                        now: str) -> dict[str, Any]:
    grouped: dict[tuple[str, str, str | None], dict[str, Any]] = {}
    for check in checks:
        # Per policy: two policies with the same rule are two findings, each naming its policy.
        entry = grouped.setdefault((check.check_id, check.target, check.policy), {
            "checkID": check.check_id, "severity": check.severity, "title": check.title,
            "target": check.target[:1024], "messages": []})
        if check.policy is not None:
            entry["policy"] = check.policy
        if len(entry["messages"]) < 10:
            entry["messages"].append(check.message[:512])
    counts = _severity_counts(c["severity"] for c in grouped.values())
    target = f"cluster/{cluster}"
    return {
        "apiVersion": API_VERSION, "kind": "ConfigAuditReport",
        "metadata": _metadata(scan, report_name(scan["metadata"]["name"], "audit", target),
                              cluster, target),
        "report": {
            "cluster": cluster,
            "scanner": {"name": "hybridcloud Pod Security Standards, SecurityPolicy rules + "
                                "Trivy secrets",
                        "vendor": "hybridcloud", "version": SCANNER_VERSION},
            "summary": {f"{k}Count": counts[k] for k in ("critical", "high", "medium", "low")},
            "checks": list(grouped.values())[:5000],
            "secrets": [_secret(s) for s in secrets[:1000]],
            "updateTimestamp": now,
        },
    }


def report_counts(report: Mapping[str, Any]) -> dict[str, int]:
    """What one report adds to a scan's summary."""
    body = report.get("report") or {}
    summary = body.get("summary") or {}
    counts = {k: int(summary.get(f"{k}Count", 0)) for k in SEVERITY_KEYS}
    counts["secrets"] = len(body.get("secrets") or [])
    counts["misconfigurations"] = len(body.get("checks") or [])
    if report.get("kind") == "ConfigAuditReport":  # its severities count checks, not CVEs
        counts.update(dict.fromkeys(SEVERITY_KEYS, 0))
    return counts


def add_counts(total: dict[str, int], more: Mapping[str, int]) -> dict[str, int]:
    return {k: total.get(k, 0) + more.get(k, 0) for k in {*total, *more}}


def finished_status(outcomes: Sequence[TargetOutcome], *, generation: int, started_at: str,
                    now: str) -> dict[str, Any]:
    """The final status: failed when any target failed (the first failure's reason), else
    completed; summary and report names over every target."""
    failed = [o for o in outcomes if o.state == "failed"]
    summary: dict[str, int] = {}
    for outcome in outcomes:
        summary = add_counts(summary, outcome.counts or {})
    status: dict[str, Any] = {
        "phase": "failed" if failed else "completed",
        "observedGeneration": generation, "startedAt": started_at, "completedAt": now,
        "progress": {"total": len(outcomes), "done": len(outcomes)},
        "targets": [_target_status(o) for o in outcomes],
        "summary": {k: summary.get(k, 0) for k in
                    (*SEVERITY_KEYS, "secrets", "misconfigurations")},
        "reports": sorted(r for o in outcomes for r in o.reports)[:2000],
    }
    if failed:
        status["reason"] = failed[0].reason
        status["message"] = "; ".join(f"{o.target}: {o.message}" for o in failed)[:4096]
    return status


def _target_status(outcome: TargetOutcome) -> dict[str, Any]:
    out: dict[str, Any] = {"target": outcome.target[:600], "state": outcome.state,
                           "images": outcome.images}
    if outcome.reason:
        out["reason"] = outcome.reason[:64]
    if outcome.message:
        out["message"] = outcome.message[:2048]
    return out

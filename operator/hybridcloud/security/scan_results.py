"""Typed scan findings and the parser of Trivy's JSON report (pure, no I/O).

Only what the platform reports is kept. A secret finding keeps the rule, the file and the line,
never the matched text: Trivy masks it, but the platform stores nothing of a secret at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")


class ReportFormatError(ValueError):
    """The scanner's output is not the JSON report it should be."""


@dataclass(frozen=True)
class Vulnerability:
    id: str
    package: str
    installed_version: str
    fixed_version: str
    severity: str
    title: str = ""
    score: float | None = None
    primary_link: str = ""

    @property
    def fix_available(self) -> bool:
        return bool(self.fixed_version)


@dataclass(frozen=True)
class SecretFinding:
    rule_id: str
    category: str
    severity: str
    title: str
    target: str
    """Where: a file of the image, or an object field of a manifest."""
    line: int = 0


@dataclass(frozen=True)
class ImageScan:
    image: str
    digest: str
    os: str = ""
    vulnerabilities: tuple[Vulnerability, ...] = ()
    secrets: tuple[SecretFinding, ...] = ()
    scanners: tuple[str, ...] = field(default=())


def _severity(value: Any) -> str:
    text = str(value or "UNKNOWN").upper()
    return text if text in SEVERITIES else "UNKNOWN"


def _score(cvss: Any) -> float | None:
    """The highest CVSS v3 (else v2) score any source gives."""
    scores: list[float] = []
    if isinstance(cvss, dict):
        for source in cvss.values():
            if isinstance(source, dict):
                value = source.get("V3Score") or source.get("V2Score")
                if isinstance(value, int | float):
                    scores.append(float(value))
    return max(scores) if scores else None


def parse_report(text: str) -> dict[str, Any]:
    try:
        report = json.loads(text)
    except ValueError as exc:
        raise ReportFormatError(f"scanner output is not JSON: {exc}") from exc
    if not isinstance(report, dict) or not isinstance(report.get("Results") or [], list):
        raise ReportFormatError("scanner output has no Results list")
    return report


def vulnerabilities(report: dict[str, Any]) -> tuple[Vulnerability, ...]:
    found: dict[tuple[str, str, str], Vulnerability] = {}
    for result in report.get("Results") or []:
        for item in result.get("Vulnerabilities") or []:
            vuln = Vulnerability(
                id=str(item.get("VulnerabilityID", "")), package=str(item.get("PkgName", "")),
                installed_version=str(item.get("InstalledVersion", "")),
                fixed_version=str(item.get("FixedVersion") or ""),
                severity=_severity(item.get("Severity")), title=str(item.get("Title") or ""),
                score=_score(item.get("CVSS")), primary_link=str(item.get("PrimaryURL") or ""))
            found[(vuln.id, vuln.package, vuln.installed_version)] = vuln
    return tuple(sorted(found.values(), key=lambda v: (SEVERITIES.index(v.severity), v.id)))


def secrets(report: dict[str, Any], where: dict[str, str] | None = None) -> tuple[SecretFinding,
                                                                                    ...]:
    """Secret findings; ``where`` maps a scanned file name back to what it stands for."""
    found: list[SecretFinding] = []
    for result in report.get("Results") or []:
        target = str(result.get("Target", ""))
        for item in result.get("Secrets") or []:
            found.append(SecretFinding(
                rule_id=str(item.get("RuleID", "")), category=str(item.get("Category", "")),
                severity=_severity(item.get("Severity")), title=str(item.get("Title", "")),
                target=(where or {}).get(target.lstrip("/"), target),
                line=int(item.get("StartLine") or 0)))
    return tuple(found)


def image_os(report: dict[str, Any]) -> str:
    os_info = (report.get("Metadata") or {}).get("OS") or {}
    return " ".join(str(os_info[k]) for k in ("Family", "Name") if os_info.get(k))


def repo_digest(report: dict[str, Any]) -> str:
    """The manifest digest Trivy scanned (``sha256:…``), from its RepoDigests."""
    for entry in (report.get("Metadata") or {}).get("RepoDigests") or []:
        if "@" in str(entry):
            return str(entry).rsplit("@", 1)[1]
    return ""

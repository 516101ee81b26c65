"""Security scans and their reports, as custom resources in the tenant's namespace.

A ``SecurityScan`` asks for vulnerabilities, secrets and/or misconfigurations of the namespace's
clusters (every image their workloads run, each once) or of single images. The operator runs it
with Trivy (offline) and writes what it found as report objects owned by the scan:

* ``VulnerabilityReport`` — one per scanned image (trivy-operator's shape: ``report.artifact``,
  ``report.summary``, ``report.vulnerabilities``), plus the secrets found in the image's files;
* ``ConfigAuditReport`` — one per cluster target: Pod Security Standards findings of its
  workloads, their violations of the namespace's SecurityPolicy rules, and secrets written into
  their manifests (env values, ConfigMaps).

Deleting the scan deletes its reports (garbage collection through ownerReferences).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import Field

from .common import CONDITIONS_SCHEMA_EXTRA, DNS_SUBDOMAIN, Condition, KubeModel, cel, with_rules

ClusterName = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)]
IMAGE_REFERENCE = r"^[a-zA-Z0-9][a-zA-Z0-9._:/@-]*$"
_SET: dict[str, Any] = {"x-kubernetes-list-type": "set"}


class ScanTargetType(StrEnum):
    CLUSTER = "cluster"
    IMAGE = "image"


class ScanType(StrEnum):
    VULNERABILITIES = "vulnerabilities"
    SECRETS = "secrets"
    MISCONFIGURATIONS = "misconfigurations"


class ScanPhase(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class ScanTarget(KubeModel):
    """One thing to scan: a HybridCluster of this namespace, or an image."""

    model_config = with_rules(
        cel("self.type == 'cluster' ? has(self.clusterId) && !has(self.image) "
            ": has(self.image) && !has(self.clusterId)",
            "a cluster target names clusterId, an image target names image"),
    )

    type: ScanTargetType = Field(description="cluster or image.")
    cluster_id: ClusterName | None = Field(
        default=None, description="HybridCluster (in this namespace) whose workloads' images, "
        "manifests and pod specs are scanned.")
    image: str | None = Field(default=None, min_length=1, max_length=512,
                              pattern=IMAGE_REFERENCE,
                              description="Image reference, e.g. "
                              "registry.example.com/acme/app:1.2.")


class SecurityScanSpec(KubeModel):
    """What to scan and for what. A scan runs once: its spec cannot change."""

    model_config = with_rules(cel("self == oldSelf",
                                  "a scan's spec is immutable: start a new scan instead"))

    targets: list[ScanTarget] = Field(min_length=1, max_length=20,
                                      description="Clusters and/or images.")
    scan_types: list[ScanType] = Field(
        default=[ScanType.VULNERABILITIES, ScanType.SECRETS, ScanType.MISCONFIGURATIONS],
        min_length=1, max_length=3, json_schema_extra=_SET,
        description="vulnerabilities, secrets, misconfigurations (default: all).")


class FindingCounts(KubeModel):
    critical: int = Field(default=0, ge=0, description="Critical vulnerabilities.")
    high: int = Field(default=0, ge=0, description="High vulnerabilities.")
    medium: int = Field(default=0, ge=0, description="Medium vulnerabilities.")
    low: int = Field(default=0, ge=0, description="Low vulnerabilities.")
    unknown: int = Field(default=0, ge=0, description="Vulnerabilities of unknown severity.")
    secrets: int = Field(default=0, ge=0, description="Secret findings.")
    misconfigurations: int = Field(default=0, ge=0, description="Misconfiguration findings.")


class TargetResult(KubeModel):
    """How one target went."""

    target: str = Field(max_length=600, description="cluster/<name> or image/<reference>.")
    state: ScanPhase = Field(description="pending, running, completed or failed.")
    reason: str | None = Field(default=None, max_length=64, description="Why it failed.")
    message: str | None = Field(default=None, max_length=2048, description="Detail.")
    images: int | None = Field(default=None, ge=0, description="Images scanned.")


class ScanProgress(KubeModel):
    total: int = Field(default=0, ge=0, description="Images and targets to scan.")
    done: int = Field(default=0, ge=0, description="Scanned so far.")


class SecurityScanStatus(KubeModel):
    """Observed state, written only by the operator."""

    phase: ScanPhase | None = Field(default=None, description="pending, running, completed, "
                                    "failed (every target failed).")
    reason: str | None = Field(default=None, max_length=64, description="Why it failed.")
    message: str | None = Field(default=None, max_length=4096, description="Detail.")
    observed_generation: int | None = Field(default=None, ge=0,
                                            description="Generation the status reflects.")
    started_at: str | None = Field(default=None, max_length=40, description="Start time.")
    completed_at: str | None = Field(default=None, max_length=40, description="End time.")
    progress: ScanProgress | None = Field(default=None, description="Scanned / to scan.")
    targets: list[TargetResult] | None = Field(default=None, max_length=20,
                                               description="Per target.")
    summary: FindingCounts | None = Field(default=None, description="Findings of every report.")
    reports: list[str] | None = Field(default=None, max_length=2000,
                                      description="Names of the report objects written.")
    conditions: list[Condition] | None = Field(
        default=None, description="Ready (scan finished) and Stalled.",
        json_schema_extra=CONDITIONS_SCHEMA_EXTRA)


class SecurityScan(KubeModel):
    """A vulnerability, secret and misconfiguration scan of clusters and images by Trivy."""

    KIND: ClassVar[str] = "SecurityScan"
    PLURAL: ClassVar[str] = "securityscans"
    SHORT_NAMES: ClassVar[list[str]] = ["scan"]

    api_version: str = Field(default="platform.example.com/v1", alias="apiVersion")
    kind: str = Field(default="SecurityScan")
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: SecurityScanSpec
    status: SecurityScanStatus | None = None


# -- reports (written by the operator only) ---------------------------------------------------

class Artifact(KubeModel):
    repository: str = Field(max_length=512, description="Image repository.")
    tag: str | None = Field(default=None, max_length=128, description="Image tag.")
    digest: str | None = Field(default=None, max_length=80, description="Manifest digest.")


class ReportRegistry(KubeModel):
    server: str = Field(max_length=253, description="Registry host.")


class ReportScanner(KubeModel):
    name: str = Field(default="Trivy", description="Scanner.")
    vendor: str = Field(default="Aqua Security", description="Scanner vendor.")
    version: str = Field(default="", description="Scanner version.")


class VulnerabilitySummary(KubeModel):
    critical_count: int = Field(default=0, ge=0, description="Critical.")
    high_count: int = Field(default=0, ge=0, description="High.")
    medium_count: int = Field(default=0, ge=0, description="Medium.")
    low_count: int = Field(default=0, ge=0, description="Low.")
    unknown_count: int = Field(default=0, ge=0, description="Unknown.")


class ReportVulnerability(KubeModel):
    vulnerability_id: str = Field(alias="vulnerabilityID", max_length=128,
                                  description="CVE or vendor id.")
    resource: str = Field(max_length=256, description="Affected package.")
    installed_version: str = Field(max_length=256, description="Installed version.")
    fixed_version: str = Field(default="", max_length=256, description="First fixed version.")
    severity: str = Field(max_length=16, description="CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN.")
    title: str = Field(default="", max_length=1024, description="Short description.")
    score: float | None = Field(default=None, description="Highest CVSS score.")
    primary_link: str = Field(default="", max_length=1024, description="Advisory link.")


class ReportSecret(KubeModel):
    """A secret found: which rule matched where; never the secret itself."""

    rule_id: str = Field(alias="ruleID", max_length=128, description="Scanner rule.")
    category: str = Field(default="", max_length=128, description="Kind of secret.")
    severity: str = Field(max_length=16, description="Severity.")
    title: str = Field(default="", max_length=512, description="Rule title.")
    target: str = Field(max_length=1024, description="File or manifest field.")
    line: int = Field(default=0, ge=0, description="Line in that file or value.")


class VulnerabilityReportBody(KubeModel):
    artifact: Artifact = Field(description="The scanned image.")
    registry: ReportRegistry = Field(description="Where it came from.")
    scanner: ReportScanner = Field(description="What scanned it.")
    os: str = Field(default="", max_length=128, description="Detected OS.")
    workloads: list[str] = Field(default_factory=list, max_length=500,
                                 description="Workloads running the image "
                                 "(Kind/namespace/name) on the cluster.")
    summary: VulnerabilitySummary = Field(description="Counts by severity.")
    vulnerabilities: list[ReportVulnerability] = Field(
        default_factory=list, max_length=5000, description="Vulnerabilities found.")
    secrets: list[ReportSecret] = Field(default_factory=list, max_length=1000,
                                        description="Secrets found in the image's files.")
    update_timestamp: str = Field(max_length=40, description="When it was scanned.")


class VulnerabilityReport(KubeModel):
    """Vulnerabilities (and secrets) of one image, found by a SecurityScan (trivy-operator's
    VulnerabilityReport shape, in the platform's group)."""

    KIND: ClassVar[str] = "VulnerabilityReport"
    PLURAL: ClassVar[str] = "vulnerabilityreports"
    SHORT_NAMES: ClassVar[list[str]] = ["vulns"]
    BODY_FIELD: ClassVar[str] = "report"

    api_version: str = Field(default="platform.example.com/v1", alias="apiVersion")
    kind: str = Field(default="VulnerabilityReport")
    metadata: dict[str, Any] = Field(default_factory=dict)
    report: VulnerabilityReportBody


class ReportCheck(KubeModel):
    check_id: str = Field(alias="checkID", max_length=128, description="Check id.")
    severity: str = Field(max_length=16, description="Severity.")
    title: str = Field(max_length=256, description="Check title.")
    target: str = Field(max_length=1024, description="Kind/namespace/name [container c].")
    messages: list[str] = Field(default_factory=list, max_length=10, description="What is wrong.")
    policy: str | None = Field(default=None, max_length=253,
                               description="The SecurityPolicy whose rule checkID is (absent for "
                               "Pod Security Standards checks).")


class ConfigAuditSummary(KubeModel):
    critical_count: int = Field(default=0, ge=0, description="Critical.")
    high_count: int = Field(default=0, ge=0, description="High.")
    medium_count: int = Field(default=0, ge=0, description="Medium.")
    low_count: int = Field(default=0, ge=0, description="Low.")


class ConfigAuditReportBody(KubeModel):
    cluster: str = Field(max_length=253, description="HybridCluster audited.")
    scanner: ReportScanner = Field(description="What scanned it.")
    summary: ConfigAuditSummary = Field(description="Misconfigurations by severity.")
    checks: list[ReportCheck] = Field(default_factory=list, max_length=5000,
                                      description="Pod Security Standards findings and "
                                      "violations of the namespace's SecurityPolicy rules.")
    secrets: list[ReportSecret] = Field(default_factory=list, max_length=1000,
                                        description="Secrets written into manifests.")
    update_timestamp: str = Field(max_length=40, description="When it was scanned.")


class ConfigAuditReport(KubeModel):
    """Misconfigurations (Pod Security Standards, SecurityPolicy rules) of a cluster's workloads
    and secrets written into their manifests, found by a SecurityScan."""

    KIND: ClassVar[str] = "ConfigAuditReport"
    PLURAL: ClassVar[str] = "configauditreports"
    SHORT_NAMES: ClassVar[list[str]] = ["configaudit"]
    BODY_FIELD: ClassVar[str] = "report"

    api_version: str = Field(default="platform.example.com/v1", alias="apiVersion")
    kind: str = Field(default="ConfigAuditReport")
    metadata: dict[str, Any] = Field(default_factory=dict)
    report: ConfigAuditReportBody

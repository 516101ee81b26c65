"""The pure parts of scanning: image references, Pod Security Standards checks, the Trivy report
parser, report building and the REST list merge."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hybridcloud.api.errors import APIError
from hybridcloud.api.scan_schemas import parse_filters, vulnerability_list
from hybridcloud.security import image_refs, scan_decisions, scan_results, workload_checks
from hybridcloud.security.scanner import _scrub


@pytest.mark.parametrize(("text", "expected"), [
    ("nginx", ("docker.io", "library/nginx", "latest", "")),
    ("acme/app:1.2", ("docker.io", "acme/app", "1.2", "")),
    ("127.0.0.1:5000/shop/web:1.0", ("127.0.0.1:5000", "shop/web", "1.0", "")),
    ("localhost/x", ("localhost", "x", "latest", "")),
    ("registry.example.com/a/b@sha256:" + "a" * 64,
     ("registry.example.com", "a/b", "latest", "sha256:" + "a" * 64)),
])
def test_image_references_are_parsed_with_dockers_defaults(
        text: str, expected: tuple[str, str, str, str]) -> None:
    ref = image_refs.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == expected


@pytest.mark.parametrize("text", ["", "a b", "x@sha256:short", "UPPER/case", "a/../b"])
def test_malformed_image_references_are_refused(text: str) -> None:
    with pytest.raises(image_refs.ImageReferenceError):
        image_refs.parse(text)


def _deployment(container: dict[str, Any], **pod: Any) -> dict[str, Any]:
    return {"kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"containers": [container], **pod}}}}


HARDENED = {"name": "app", "image": "a:1", "securityContext": {
    "allowPrivilegeEscalation": False, "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}}


def test_a_hardened_workload_has_no_pod_security_findings() -> None:
    assert workload_checks.check(_deployment(HARDENED)) == []


def test_privileged_host_namespaces_host_path_and_capabilities_are_reported() -> None:
    container = {**HARDENED, "securityContext": {**HARDENED["securityContext"],
                                                  "privileged": True,
                                                  "capabilities": {"drop": ["ALL"],
                                                                   "add": ["SYS_ADMIN", "CHOWN"]}},
                 "ports": [{"containerPort": 80, "hostPort": 80}]}
    host_root = [{"name": "root", "hostPath": {"path": "/"}}]
    found = workload_checks.check(_deployment(container, hostPID=True, volumes=host_root))
    assert sorted((f.check_id, f.severity) for f in found) == [
        ("capabilities", "MEDIUM"), ("host-namespaces", "HIGH"), ("host-path-volumes", "MEDIUM"),
        ("host-ports", "MEDIUM"), ("privileged-containers", "HIGH")]
    assert "SYS_ADMIN" in next(f.message for f in found if f.check_id == "capabilities")
    assert "CHOWN" not in next(f.message for f in found if f.check_id == "capabilities")


def test_cronjob_pod_templates_are_checked_and_other_kinds_are_not() -> None:
    cron = {"kind": "CronJob", "metadata": {"name": "nightly"}, "spec": {"jobTemplate": {
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "b:2"}]}}}}}}
    assert {f.check_id for f in workload_checks.check(cron)} == {
        "privilege-escalation", "running-as-non-root", "capabilities-drop-all", "seccomp"}
    assert workload_checks.images(cron) == ["b:2"]
    assert workload_checks.check({"kind": "Service", "metadata": {"name": "s"}}) == []


def test_literal_env_values_and_configmap_data_are_scanned_but_references_are_not() -> None:
    container = {**HARDENED, "env": [{"name": "A", "value": "1"},
                                     {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s",
                                                                                  "key": "k"}}}]}
    assert workload_checks.literal_texts(_deployment(container)) == {
        "Deployment/web container app env": "A=1\n"}
    config = {"kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"x": "y"}}
    assert workload_checks.literal_texts(config) == {"ConfigMap/cfg data x": "y"}


TRIVY_REPORT = {
    "Metadata": {"OS": {"Family": "alpine", "Name": "3.20.3"},
                 "RepoDigests": ["r/x@sha256:" + "b" * 64]},
    "Results": [
        {"Target": "x (alpine 3.20.3)", "Vulnerabilities": [
            {"VulnerabilityID": "CVE-1", "PkgName": "p", "InstalledVersion": "1",
             "FixedVersion": "2", "Severity": "LOW", "CVSS": {"nvd": {"V3Score": 3.1}}},
            {"VulnerabilityID": "CVE-2", "PkgName": "p", "InstalledVersion": "1",
             "Severity": "CRITICAL"}]},
        {"Target": "/etc/key", "Class": "secret", "Secrets": [
            {"RuleID": "aws-access-key-id", "Category": "AWS", "Severity": "CRITICAL",
             "Title": "AWS Access Key ID", "StartLine": 3, "Match": "AKIA****"}]}]}


def test_trivy_reports_parse_into_sorted_typed_findings_without_the_match() -> None:
    report = scan_results.parse_report(json.dumps(TRIVY_REPORT))
    vulns = scan_results.vulnerabilities(report)
    assert [(v.id, v.severity, v.fix_available, v.score) for v in vulns] == [
        ("CVE-2", "CRITICAL", False, None), ("CVE-1", "LOW", True, 3.1)]
    (secret,) = scan_results.secrets(report)
    assert (secret.rule_id, secret.target, secret.line) == ("aws-access-key-id", "/etc/key", 3)
    assert "AKIA" not in repr(secret)
    assert scan_results.repo_digest(report) == "sha256:" + "b" * 64
    assert scan_results.image_os(report) == "alpine 3.20.3"


@pytest.mark.parametrize("text", ["not json", "[]", '{"Results": 3}'])
def test_output_that_is_not_a_report_is_a_format_error(text: str) -> None:
    with pytest.raises(scan_results.ReportFormatError):
        scan_results.parse_report(text)


def test_scanner_messages_lose_credentials() -> None:
    text = ("FATAL GET https://bot:hunter2@registry.example.com/v2/ failed\n"
            "Authorization: Bearer eyJhbGciOi.secret\npassword=hunter2")
    scrubbed = _scrub(text)
    assert "hunter2" not in scrubbed and "eyJhbGciOi" not in scrubbed
    assert "https://***@registry.example.com/v2/" in scrubbed


SCAN = {"metadata": {"name": "scan-1", "namespace": "t", "uid": "u-1"}}


def _image_report(image: str, when: str, vulns: tuple[scan_results.Vulnerability, ...],
                  cluster: str = "prod") -> dict[str, Any]:
    result = scan_results.ImageScan(image=image, digest="sha256:" + "c" * 64,
                                    vulnerabilities=vulns)
    return scan_decisions.vulnerability_report(SCAN, result, cluster, ["Deployment/a/web"], when)


VULN = scan_results.Vulnerability("CVE-9", "openssl", "3.0.0", "3.0.1", "HIGH", "t")


def test_reports_are_named_as_dns_labels_and_owned_by_the_scan() -> None:
    report = _image_report("r.example/a/web:1", "2026-01-01T00:00:00Z", (VULN,))
    assert len(report["metadata"]["name"]) <= 63
    assert report["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert report["report"]["summary"]["highCount"] == 1
    assert scan_decisions.report_counts(report)["high"] == 1


def test_the_newest_report_of_an_image_replaces_older_findings() -> None:
    old = _image_report("r.example/a/web:1", "2026-01-01T00:00:00Z", (VULN,))
    new = _image_report("r.example/a/web:1", "2026-01-02T00:00:00Z", ())
    assert vulnerability_list([new, old], None, None, None).summary["total"] == 0
    assert vulnerability_list([old], None, None, None).summary == {
        "total": 1, "critical": 0, "high": 1, "medium": 0, "low": 0}


def test_one_vulnerability_in_two_images_is_listed_once_with_both() -> None:
    reports = [_image_report("r.example/a/web:1", "2026-01-01T00:00:00Z", (VULN,)),
               _image_report("r.example/a/api:1", "2026-01-01T00:00:00Z", (VULN,), "edge")]
    (view,) = vulnerability_list(reports, {"high"}, True, None).vulnerabilities
    assert view.affected_images == ["r.example/a/web:1", "r.example/a/api:1"]
    assert view.clusters == ["prod", "edge"]
    assert vulnerability_list(reports, None, None, "edge").vulnerabilities[0].clusters == ["edge"]


@pytest.mark.parametrize(("severity", "fixed", "field"), [
    ("urgent", None, "severity"), ("", None, "severity"), (None, "yes", "fixed")])
def test_bad_filters_name_the_parameter(severity: str | None, fixed: str | None,
                                        field: str) -> None:
    with pytest.raises(APIError) as caught:
        parse_filters(severity, fixed)
    assert caught.value.details["field"] == field


def test_a_scan_fails_with_the_first_failed_targets_reason() -> None:
    outcomes = [scan_decisions.TargetOutcome("cluster/a", "completed", counts={"high": 2}),
                scan_decisions.TargetOutcome("image/x", "failed", "ImageUnreachable", "down")]
    status = scan_decisions.finished_status(outcomes, generation=1, started_at="s", now="n")
    assert (status["phase"], status["reason"]) == ("failed", "ImageUnreachable")
    assert status["summary"]["high"] == 2 and status["progress"] == {"total": 2, "done": 2}
    assert status["message"] == "image/x: down"


async def test_a_server_without_trivy_fails_scans_with_scanner_missing(tmp_path: Any) -> None:
    from hybridcloud.security.scanner import (
        SCANNER_MISSING,
        ScanError,
        ScannerSettings,
        TrivyScanner,
    )
    scanner = TrivyScanner(ScannerSettings(trivy=tmp_path / "absent", cache_dir=tmp_path))
    with pytest.raises(ScanError) as caught:
        await scanner.scan_image("registry.example.com/a/b:1")
    assert caught.value.reason == SCANNER_MISSING
    assert "not installed on this server" in caught.value.message

"""The scanner adapter against the real Trivy (offline, fixture database) and a real OCI registry
holding images built by the tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from hybridcloud.security import scanner
from hybridcloud.security.scanner import ScanError, ScannerSettings, TrivyScanner
from tests import scan_support
from tests.support import tool_binary

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with scan_support.oci_registry(tmp_path_factory.mktemp("registry")) as address:
        yield address


@pytest.fixture(scope="module")
def trivy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return scan_support.trivy_cache(tmp_path_factory.mktemp("trivydb"))


class CountingScanner(TrivyScanner):
    """Counts how often Trivy itself is started."""

    runs = 0

    async def _run(self, args: list[str], env: Mapping[str, str] | None = None) -> str:
        self.runs += 1
        return await super()._run(args, env)


def _scanner(cache: Path, registry: str, trivy: Path | None = None,
             private: frozenset[str] = frozenset()) -> CountingScanner:
    return CountingScanner(ScannerSettings(
        trivy=trivy or tool_binary("trivy", "trivy"), cache_dir=cache, timeout=240,
        insecure_registries=frozenset({registry}), private_registries=private))


async def test_vulnerable_package_is_reported_with_its_fixed_version(
        registry: str, trivy_cache: Path) -> None:
    image = scan_support.push_image(registry, "fixtures/app", "1.0",
                                    scan_support.vulnerable_alpine())
    result = await _scanner(trivy_cache, registry).scan_image(image.reference)
    assert result.digest == image.digest
    assert result.os == f"alpine {scan_support.ALPINE_RELEASE}"
    found = {v.id: v for v in result.vulnerabilities}
    assert set(found) == {scan_support.FIXTURE_CVE}
    vuln = found[scan_support.FIXTURE_CVE]
    assert (vuln.package, vuln.installed_version, vuln.fixed_version, vuln.severity) == (
        scan_support.VULNERABLE_PACKAGE, scan_support.INSTALLED_VERSION,
        scan_support.FIXED_VERSION, "HIGH")
    assert vuln.title == scan_support.FIXTURE_CVE_TITLE and vuln.fix_available


async def test_patched_image_has_no_vulnerability(registry: str, trivy_cache: Path) -> None:
    image = scan_support.push_image(registry, "fixtures/app", "1.1",
                                    scan_support.patched_alpine())
    result = await _scanner(trivy_cache, registry).scan_image(image.reference)
    assert result.vulnerabilities == ()


async def test_planted_cloud_key_in_an_image_layer_is_a_secret_finding_without_the_key(
        registry: str, trivy_cache: Path) -> None:
    image = scan_support.push_image(registry, "fixtures/leaky", "1.0",
                                    scan_support.alpine_with_secret())
    result = await _scanner(trivy_cache, registry).scan_image(image.reference)
    assert [(s.rule_id, s.target, s.line) for s in result.secrets] == [
        ("aws-access-key-id", "/srv/app/settings.env", 1)]
    assert scan_support.PLANTED_AWS_KEY not in repr(result)


async def test_same_digest_is_scanned_once_and_a_moved_tag_is_scanned_again(
        registry: str, trivy_cache: Path) -> None:
    scan = _scanner(trivy_cache, registry)
    first = scan_support.push_image(registry, "fixtures/moving", "stable",
                                    scan_support.vulnerable_alpine())
    by_tag = await scan.scan_image(first.reference)
    by_digest = await scan.scan_image(f"{registry}/fixtures/moving@{first.digest}")
    assert scan.runs == 1 and by_tag.vulnerabilities == by_digest.vulnerabilities
    scan_support.push_image(registry, "fixtures/moving", "stable", scan_support.patched_alpine())
    moved = await scan.scan_image(first.reference)
    assert scan.runs == 2 and moved.vulnerabilities == ()
    assert scan._locks == {}  # no lock outlives its scans


async def test_concurrent_scans_of_one_digest_run_trivy_once_and_leave_no_lock(
        registry: str, trivy_cache: Path) -> None:
    scan = _scanner(trivy_cache, registry)
    image = scan_support.push_image(registry, "fixtures/busy", "1.0",
                                    scan_support.vulnerable_alpine())
    results = await asyncio.gather(*(scan.scan_image(image.reference) for _ in range(3)))
    assert scan.runs == 1 and {r.digest for r in results} == {image.digest}
    assert scan._locks == {}


async def test_secret_in_manifest_values_is_found_by_where_it_is(
        registry: str, trivy_cache: Path) -> None:
    found = await _scanner(trivy_cache, registry).scan_texts({
        "Deployment/web container app env":
            f"LOG_LEVEL=debug\nAWS_ACCESS_KEY_ID={scan_support.PLANTED_AWS_KEY}\n",
        "ConfigMap/settings data greeting": "hello\n"})
    assert [(s.rule_id, s.target, s.line) for s in found] == [
        ("aws-access-key-id", "Deployment/web container app env", 2)]
    assert scan_support.PLANTED_AWS_KEY not in repr(found)


async def test_unreachable_registry_is_an_image_unreachable_error(
        trivy_cache: Path, registry: str) -> None:
    # Listed as a private registry, so the address check lets the scanner try it; nothing
    # listens on the discard port, so the try fails as unreachable.
    dead = "127.0.0.1:9"
    with pytest.raises(ScanError) as caught:
        await _scanner(trivy_cache, registry, private=frozenset({dead})).scan_image(
            f"{dead}/fixtures/app:1.0")
    assert caught.value.reason == scanner.IMAGE_UNREACHABLE
    assert "127.0.0.1:9 unreachable" in caught.value.message


async def test_missing_image_is_an_image_unreachable_error_naming_the_answer(
        trivy_cache: Path, registry: str) -> None:
    with pytest.raises(ScanError) as caught:
        await _scanner(trivy_cache, registry).scan_image(f"{registry}/fixtures/none:1.0")
    assert caught.value.reason == scanner.IMAGE_UNREACHABLE
    assert "answered 404" in caught.value.message


async def test_corrupt_database_makes_the_real_scanner_fail_with_its_reason(
        registry: str, tmp_path: Path) -> None:
    cache = scan_support.trivy_cache(tmp_path)
    (cache / "db" / "trivy.db").write_bytes(b"not a bolt database" * 100)
    image = scan_support.push_image(registry, "fixtures/app", "1.0",
                                    scan_support.vulnerable_alpine())
    with pytest.raises(ScanError) as caught:
        await _scanner(cache, registry).scan_image(image.reference)
    assert caught.value.reason == scanner.SCANNER_FAILED
    assert caught.value.message.startswith("the scanner exited with 1: ")


async def test_crashing_scanner_is_a_failure_whose_message_hides_credentials(
        registry: str, trivy_cache: Path, tmp_path: Path) -> None:
    crashing = tmp_path / "trivy"
    crashing.write_text("#!/bin/sh\necho 'GET https://robot:s3cr3t@registry.invalid/v2/ "
                        "failed; Authorization: Basic cm9ib3Q6czNjcjN0' >&2\nkill -SEGV $$\n")
    crashing.chmod(0o755)
    image = scan_support.push_image(registry, "fixtures/app", "1.0",
                                    scan_support.vulnerable_alpine())
    with pytest.raises(ScanError) as caught:
        await _scanner(trivy_cache, registry, trivy=crashing).scan_image(image.reference)
    assert caught.value.reason == scanner.SCANNER_FAILED
    assert "killed by signal 11" in caught.value.message
    assert "s3cr3t" not in caught.value.message and "cm9ib3Q6" not in caught.value.message


async def test_missing_database_is_reported_before_anything_runs(
        registry: str, tmp_path: Path) -> None:
    with pytest.raises(ScanError) as caught:
        await _scanner(tmp_path / "empty", registry).scan_image(f"{registry}/fixtures/app:1.0")
    assert caught.value.reason == scanner.DATABASE_MISSING

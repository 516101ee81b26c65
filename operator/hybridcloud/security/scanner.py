"""The scanner adapter: Trivy run as a subprocess, offline, its JSON report parsed into typed
results (:mod:`.scan_results`).

Trivy never downloads anything here: ``--skip-db-update``, ``--skip-java-db-update``,
``--offline-scan`` and ``--skip-check-update`` with a cache directory the platform's operator
fills (see the chart's README: "Vulnerability database"). Images are read straight from their
registry (``--image-src remote``, no container daemon). Image results are cached by manifest
digest, so an image that many workloads run, or that a later scan finds unchanged, is scanned
once.

Every failure is a :class:`ScanError` with a reason and a message fit for a status field: no
registry credential, manifest content or raw scanner output is ever put in one.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import image_refs, registry_digest, scan_results
from .scan_results import ImageScan, SecretFinding

SCANNER_MISSING = "ScannerMissing"
SCANNER_FAILED = "ScannerFailed"
SCANNER_TIMEOUT = "ScannerTimeout"
DATABASE_MISSING = "DatabaseMissing"
IMAGE_UNREACHABLE = "ImageUnreachable"
REGISTRY_REFUSED = "RegistryRefused"
BAD_IMAGE_REFERENCE = "BadImageReference"

_STDERR_TAIL = 600
_URL_CREDENTIALS = re.compile(r"(?i)(https?://)[^/\s@]+@")
# From a credential-ish word to the end of its line: whatever follows may be the credential.
_AUTH_WORDS = re.compile(r"(?i)\b(authorization|bearer|basic|password|passwd|token|secret)\b.*")


class ScanError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


@dataclass(frozen=True)
class ScannerSettings:
    trivy: Path
    cache_dir: Path
    timeout: float = 300.0
    insecure_registries: frozenset[str] = field(default_factory=frozenset)
    """Registries (``host:port``) spoken to over plain HTTP; never set for a real registry."""
    private_registries: frozenset[str] = field(default_factory=frozenset)
    """Registries scans may contact although they resolve to non-public addresses."""
    digest_cache_size: int = 512


def _scrub(text: str) -> str:
    """The end of a scanner's stderr with anything credential-like removed."""
    text = _URL_CREDENTIALS.sub(r"\1***@", text)
    text = _AUTH_WORDS.sub("[redacted]", text)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines)[-_STDERR_TAIL:]


@dataclass
class _DigestLock:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # holders and waiters


class TrivyScanner:
    def __init__(self, settings: ScannerSettings) -> None:
        self.settings = settings
        self._by_digest: OrderedDict[str, ImageScan] = OrderedDict()
        # digest|scanners → [its lock, holders and waiters]; an entry lives only while someone
        # holds or waits for it (a long-running operator meets ever new digests).
        self._locks: dict[str, _DigestLock] = {}
        # One Trivy at a time: each run opens the database (bbolt, locked for 5 s at most) and
        # the layer cache under cache_dir, so parallel runs would fail with "in use".
        self._one_run = asyncio.Lock()

    def check_ready(self) -> None:
        """Raise the reason no scan can run (scanner or database absent)."""
        if not os.access(self.settings.trivy, os.X_OK):
            raise ScanError(SCANNER_MISSING, "the vulnerability scanner is not installed on "
                            "this server")
        if not (self.settings.cache_dir / "db" / "trivy.db").is_file():
            raise ScanError(DATABASE_MISSING, "no vulnerability database in the scanner's "
                            "cache directory (see the chart's README)")

    def _base_args(self, command: str) -> list[str]:
        return [str(self.settings.trivy), command, "--quiet", "--format", "json",
                "--cache-dir", str(self.settings.cache_dir), "--skip-db-update",
                "--skip-java-db-update", "--offline-scan", "--skip-check-update",
                "--no-progress", "--timeout", f"{int(self.settings.timeout)}s"]

    async def _run(self, args: list[str], env: Mapping[str, str] | None = None) -> str:
        async with self._one_run:
            return await self._run_alone(args, env)

    async def _run_alone(self, args: list[str], env: Mapping[str, str] | None) -> str:
        try:
            process = await asyncio.create_subprocess_exec(
                *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env={**_scanner_env(), **(env or {})})
        except OSError as exc:
            raise ScanError(SCANNER_MISSING, f"cannot start the scanner: {exc.strerror}") from exc
        try:
            out, err = await asyncio.wait_for(process.communicate(),
                                              timeout=self.settings.timeout + 30)
        except TimeoutError as exc:
            process.kill()
            await process.wait()
            raise ScanError(SCANNER_TIMEOUT, f"the scanner did not finish within "
                            f"{self.settings.timeout:g}s") from exc
        code = process.returncode or 0  # set: communicate() waited for the exit
        if code != 0:
            why = _scrub(err.decode(errors="replace")) or "no message"
            if code < 0:
                raise ScanError(SCANNER_FAILED, f"the scanner was killed by signal {-code}: "
                                f"{why}")
            raise ScanError(SCANNER_FAILED, f"the scanner exited with {code}: {why}")
        return out.decode(errors="replace")

    async def scan_image(self, reference: str, scanners: tuple[str, ...] = ("vuln", "secret"),
                         ) -> ImageScan:
        """Vulnerabilities and/or secrets of one image, cached by its manifest digest."""
        self.check_ready()
        try:
            ref = image_refs.parse(reference)
        except image_refs.ImageReferenceError as exc:
            raise ScanError(BAD_IMAGE_REFERENCE, str(exc)) from exc
        allowed = self.settings.insecure_registries | self.settings.private_registries
        try:
            await registry_digest.check_registry_address(ref.registry, allowed)
        except registry_digest.RegistryRefusedError as exc:
            raise ScanError(REGISTRY_REFUSED, str(exc)) from exc
        try:
            digest = await registry_digest.resolve_digest(ref, self.settings.insecure_registries,
                                                     wait=30.0)
        except registry_digest.RegistryUnreachableError as exc:
            raise ScanError(IMAGE_UNREACHABLE, str(exc)) from exc
        key = f"{digest}|{','.join(sorted(scanners))}"
        async with self._one_scan_of(key):
            cached = self._by_digest.get(key)
            if cached is not None:
                self._by_digest.move_to_end(key)
                return replace(cached, image=reference)
            pinned = f"{ref.registry}/{ref.repository}@{digest}"
            args = [*self._base_args("image"), "--image-src", "remote",
                    "--scanners", ",".join(scanners)]
            if ref.registry in self.settings.insecure_registries:
                args.append("--insecure")
            try:
                report = scan_results.parse_report(await self._run([*args, pinned]))
            except scan_results.ReportFormatError as exc:
                raise ScanError(SCANNER_FAILED, str(exc)) from exc
            result = ImageScan(image=reference, digest=scan_results.repo_digest(report) or digest,
                               os=scan_results.image_os(report),
                               vulnerabilities=scan_results.vulnerabilities(report),
                               secrets=scan_results.secrets(report), scanners=tuple(scanners))
            self._by_digest[key] = result
            while len(self._by_digest) > self.settings.digest_cache_size:
                self._by_digest.popitem(last=False)
            return result

    @asynccontextmanager
    async def _one_scan_of(self, key: str) -> AsyncIterator[None]:
        """Concurrent scans of one digest wait for the first, then answer from its result."""
        entry = self._locks.setdefault(key, _DigestLock())
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._locks[key]

    async def scan_texts(self, texts: Mapping[str, str]) -> tuple[SecretFinding, ...]:
        """Secrets in ``texts`` (where → content, e.g. ``Deployment/web env API_KEY``), scanned
        as files of a private temporary directory that is removed afterwards."""
        self.check_ready()
        if not texts:
            return ()
        with tempfile.TemporaryDirectory(prefix="hybridcloud-scan-") as tmp:
            where: dict[str, str] = {}
            for index, (label, content) in enumerate(sorted(texts.items())):
                name = f"item-{index}.txt"
                (Path(tmp) / name).write_text(content)
                where[name] = label
            args = [*self._base_args("filesystem"), "--scanners", "secret", tmp]
            try:
                report = scan_results.parse_report(await self._run(args))
            except scan_results.ReportFormatError as exc:
                raise ScanError(SCANNER_FAILED, str(exc)) from exc
        return scan_results.secrets(report, where)


def _scanner_env() -> dict[str, str]:
    """A minimal environment: nothing of the operator's own (tokens, cloud credentials)
    reaches the scanner."""
    keep = ("PATH", "HOME", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.setdefault("PATH", "/usr/bin:/bin")
    return env

"""Real parts for the scanner tests: a local OCI registry, small fixture images pushed to it over
the distribution HTTP API, and a Trivy database built from fixture advisories.

The registry is go-containerregistry's (``tests/tools/registry``, in memory); the database is
written by our ``tests/tools/trivydb`` program in Trivy's own layout. Both binaries are built by
``tests/tools/build.sh`` (``make tools``): missing ones skip locally and fail in CI.

The fixture advisories are invented (``CVE-2099-…``) so no test depends on real advisory data.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from hybridcloud.controlplane._net import free_ports

from .support import tool_binary

ALPINE_RELEASE = "3.20.3"
VULNERABLE_PACKAGE = "busybox"
INSTALLED_VERSION = "1.36.1-r29"
FIXED_VERSION = "1.36.1-r30"
FIXTURE_CVE = "CVE-2099-10001"
FIXTURE_CVE_TITLE = "busybox: fixture heap overflow in the test advisory set"
# An AWS access key id shaped string (Trivy's aws-access-key-id rule); not a real key. Trivy
# ignores keys containing EXAMPLE, hence a made-up body.
PLANTED_AWS_KEY = "AKIA" + "Q3ZT7RMXW2PLKD4N"

ADVISORIES = [
    {"bucket": "alpine 3.20", "package": VULNERABLE_PACKAGE, "id": FIXTURE_CVE,
     "fixedVersion": FIXED_VERSION, "severity": "HIGH", "title": FIXTURE_CVE_TITLE,
     "description": "Fixture advisory: busybox before 1.36.1-r30 is vulnerable."},
    {"bucket": "alpine 3.20", "package": "zlib", "id": "CVE-2099-10002",
     "fixedVersion": "1.3.1-r9", "severity": "CRITICAL", "title": "zlib: fixture advisory",
     "description": "Fixture advisory that no fixture image matches."},
]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass(frozen=True)
class PushedImage:
    reference: str
    """``host:port/repository:tag`` as a workload names it."""
    digest: str
    """``sha256:…`` of the manifest (what the registry answers for the tag)."""


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(files: Mapping[str, bytes]) -> bytes:
    """An uncompressed layer tarball holding ``files`` (paths without a leading slash)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, content in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(content), 0o644, 0
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def alpine_files(packages: Mapping[str, str]) -> dict[str, bytes]:
    """An Alpine root: release files and an apk database listing ``packages`` (name→version)."""
    installed = "".join(f"P:{name}\nV:{version}\nA:x86_64\no:{name}\nL:GPL-2.0-only\n\n"
                        for name, version in packages.items())
    return {
        "etc/alpine-release": f"{ALPINE_RELEASE}\n".encode(),
        "etc/os-release": (f'NAME="Alpine Linux"\nID=alpine\nVERSION_ID={ALPINE_RELEASE}\n'
                           'PRETTY_NAME="Alpine Linux v3.20"\n').encode(),
        "lib/apk/db/installed": installed.encode(),
    }


def vulnerable_alpine() -> list[dict[str, bytes]]:
    """One layer: busybox at a version the fixture advisory fixes later."""
    return [alpine_files({VULNERABLE_PACKAGE: INSTALLED_VERSION, "musl": "1.2.5-r1"})]


def patched_alpine() -> list[dict[str, bytes]]:
    return [alpine_files({VULNERABLE_PACKAGE: FIXED_VERSION, "musl": "1.2.5-r1"})]


def alpine_with_secret() -> list[dict[str, bytes]]:
    """The patched base plus a layer that leaves cloud credentials in an application file."""
    leaked = (f"AWS_ACCESS_KEY_ID={PLANTED_AWS_KEY}\n"
              "AWS_REGION=eu-west-1\n").encode()
    return [*patched_alpine(), {"srv/app/settings.env": leaked}]


def push_image(registry: str, repository: str, tag: str,
               layers: list[dict[str, bytes]]) -> PushedImage:
    """Push an OCI image made of ``layers`` to ``registry`` (``host:port``, plain HTTP) with the
    distribution API: each blob by a monolithic POST+PUT upload, then the manifest by tag."""
    base = f"http://{registry}/v2/{repository}"
    with httpx.Client(timeout=30) as http:
        def upload(blob: bytes) -> str:
            digest = _digest(blob)
            if http.head(f"{base}/blobs/{digest}").status_code == 200:
                return digest
            started = http.post(f"{base}/blobs/uploads/")
            started.raise_for_status()
            location = started.headers["Location"]
            if location.startswith("/"):
                location = f"http://{registry}{location}"
            sep = "&" if "?" in location else "?"
            done = http.put(f"{location}{sep}digest={digest}", content=blob,
                            headers={"Content-Type": "application/octet-stream"})
            done.raise_for_status()
            return digest

        diff_ids, descriptors = [], []
        for files in layers:
            tar = layer_tar(files)
            compressed = gzip.compress(tar, mtime=0)
            diff_ids.append(_digest(tar))
            descriptors.append({"mediaType": OCI_LAYER, "digest": upload(compressed),
                                "size": len(compressed)})
        config = json.dumps({
            "architecture": "amd64", "os": "linux", "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": upload(config), "size": len(config)},
            "layers": descriptors}).encode()
        put = http.put(f"{base}/manifests/{tag}", content=manifest,
                       headers={"Content-Type": OCI_MANIFEST})
        put.raise_for_status()
    return PushedImage(f"{registry}/{repository}:{tag}", _digest(manifest))


@contextmanager
def oci_registry(work: Path) -> Iterator[str]:
    """A real OCI registry on a free loopback port; yields ``127.0.0.1:PORT``."""
    port = free_ports(1)[0]
    work.mkdir(parents=True, exist_ok=True)
    log = work / "registry.log"
    binary = tool_binary("registry", "registry")
    with log.open("ab") as out:
        process = subprocess.Popen([str(binary), f"--port={port}"], stdout=out,
                                   stderr=subprocess.STDOUT)
    # The registry listens on "localhost": name it by the address it resolves to here.
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(f"registry exited:\n{log.read_text(errors='replace')}")
            try:
                if httpx.get(f"http://{address}/v2/", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"registry not ready:\n{log.read_text(errors='replace')}")
            time.sleep(0.1)
        yield address
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def trivy_cache(work: Path, advisories: list[dict[str, str]] | None = None) -> Path:
    """A Trivy cache dir whose ``db/`` holds a database of ``advisories`` (default: ours)."""
    work.mkdir(parents=True, exist_ok=True)
    source = work / "advisories.json"
    source.write_text(json.dumps({"advisories": ADVISORIES if advisories is None
                                  else advisories}))
    cache = work / "trivy-cache"
    subprocess.run([str(tool_binary("trivydb", "trivydb")), "-in", str(source),
                    "-out", str(cache / "db")], check=True, capture_output=True)
    return cache

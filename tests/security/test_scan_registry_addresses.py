"""Image names are tenant input (scan targets and every workload they run), so the scanner must
not be a way into the platform's own network. A hostile tenant names images on loopback, on the
cloud metadata address and on private ranges: the scan fails with ``RegistryRefused`` and
nothing on those addresses is contacted. A registry the platform's operator listed as private
is contacted as before.

A real HTTP listener on loopback counts every connection the scanner makes to it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hybridcloud.security.scanner import (
    IMAGE_UNREACHABLE,
    REGISTRY_REFUSED,
    ScanError,
    ScannerSettings,
    TrivyScanner,
)


class Listener:
    """Answers 404 to anything; counts connections."""

    def __init__(self) -> None:
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    found = Listener()
    found.server = await asyncio.start_server(found._serve, "127.0.0.1", 0)
    found.port = found.server.sockets[0].getsockname()[1]
    yield found
    found.server.close()


def _scanner(tmp_path: Path, *, private: frozenset[str] = frozenset(),
             insecure: frozenset[str] = frozenset()) -> TrivyScanner:
    # A scanner that is installed and has a database, so only the registry check decides;
    # the "scanner" records any run in a file (none must happen).
    trivy = tmp_path / "trivy"
    trivy.write_text(f"#!/bin/sh\ntouch {tmp_path}/trivy-ran\n")
    trivy.chmod(0o755)
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "trivy.db").write_bytes(b"")
    return TrivyScanner(ScannerSettings(trivy=trivy, cache_dir=tmp_path,
                                        insecure_registries=insecure,
                                        private_registries=private))


@pytest.mark.parametrize("image", [
    "127.0.0.1:{port}/team/app:1",
    "localhost:{port}/team/app:1",
    "169.254.169.254/latest/meta-data:1",
    "10.0.0.1:5000/internal/app:1",
    "[::1]:{port}/team/app:1",
])
async def test_a_registry_on_a_non_public_address_is_refused_without_contacting_it(
        image: str, listener: Listener, tmp_path: Path) -> None:
    scanner = _scanner(tmp_path)
    with pytest.raises(ScanError) as caught:
        await scanner.scan_image(image.format(port=listener.port))
    assert caught.value.reason == REGISTRY_REFUSED
    assert "SCANNER_PRIVATE_REGISTRIES" in caught.value.message
    assert listener.connections == 0
    assert not (tmp_path / "trivy-ran").exists()


async def test_a_registry_the_platform_lists_as_private_is_contacted(
        listener: Listener, tmp_path: Path) -> None:
    registry = f"127.0.0.1:{listener.port}"
    scanner = _scanner(tmp_path, private=frozenset({registry}), insecure=frozenset({registry}))
    with pytest.raises(ScanError) as caught:
        await scanner.scan_image(f"{registry}/team/app:1")
    assert caught.value.reason == IMAGE_UNREACHABLE  # contacted: it answered 404
    assert listener.connections >= 1

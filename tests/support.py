"""Test-suite policy shared by every folder."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import NoReturn

import pytest
from aiohttp import web


def missing_tool(message: str) -> NoReturn:
    """A tool a test needs is absent: skip on a developer's machine, fail in CI (``CI`` set), where
    a skip would hide a broken setup behind a green run."""
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI must provide it)")
    pytest.skip(message)


def tool_binary(component: str, name: str) -> Path:
    """The path of an add-on binary built by ``tests/tools/build.sh COMPONENT`` (``make tools``).

    Absent binary: skip on a developer's machine, fail in CI (see :func:`missing_tool`)."""
    script = Path(__file__).parent / "tools" / "build.sh"
    bin_dir = subprocess.run([str(script), "--print-dir", component], check=True,
                             capture_output=True, text=True).stdout.strip()
    path = Path(bin_dir) / name
    if not os.access(path, os.X_OK):
        missing_tool(f"{component}/{name} is not built (run `make tools`): {path}")
    return path


@asynccontextmanager
async def aiohttp_server(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on a free loopback port for the block; yields ``http://127.0.0.1:PORT``."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()

"""The TypeScript SDK's own test suite (`node --test` in sdk/typescript, the contract's example
among it), compiled with tsc and run against the live API; a failing test fails this one."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import missing_tool

from .live_stack import operator_tail

pytestmark = pytest.mark.integration

TS_SDK = Path(__file__).resolve().parents[2] / "sdk" / "typescript"
TEST_FILES = ["dist/test/live.test.js", "dist/test/events.test.js",
              "dist/test/observability.test.js", "dist/test/operator.test.js",
              "dist/test/scans.test.js"]


def install_node_packages(npm: str) -> None:
    """`npm ci` from the committed lockfile when node_modules is missing or older than it."""
    installed = TS_SDK / "node_modules" / ".package-lock.json"
    lock = TS_SDK / "package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=TS_SDK, check=True,
                   capture_output=True, timeout=600)


# The suite builds a `local` member control plane through the operator: minutes on a busy
# machine, beyond the default per-test timeout.
@pytest.mark.timeout(900)
def test_typescript_sdk_suite_passes_against_the_live_api(sdk_env: dict[str, str]) -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing_tool("node and npm are not installed")
    install_node_packages(npm)
    build = subprocess.run([str(TS_SDK / "node_modules" / ".bin" / "tsc"), "-p", "tsconfig.json"],
                           cwd=TS_SDK, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout + build.stderr
    result = subprocess.run([node, "--test", "--test-reporter=spec", *TEST_FILES],
                            cwd=TS_SDK, env={**os.environ, **sdk_env}, capture_output=True,
                            text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output + operator_tail(sdk_env)
    assert "skipped 0" in output, output  # every test saw the live API
    assert "the contract example lists clusters and deploys an application" in output, output
    assert "a local cluster is built, its transitions stream in" in output, output

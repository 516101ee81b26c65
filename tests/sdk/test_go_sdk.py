"""The Go SDK's own test suite (`go test ./...` in sdk/go, the contract's Go example among it),
run against the live API; a failing Go test fails this test with Go's output."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import missing_tool

from .live_stack import operator_tail

pytestmark = pytest.mark.integration

GO_SDK = Path(__file__).resolve().parents[2] / "sdk" / "go"


# The suite builds a `local` member control plane through the operator: minutes on a busy
# machine, beyond the default per-test timeout.
@pytest.mark.timeout(900)
def test_go_sdk_suite_passes_against_the_live_api(sdk_env: dict[str, str]) -> None:
    go = shutil.which("go")
    if go is None:
        missing_tool("go is not installed")
    env = {**os.environ, **sdk_env, "GOFLAGS": "-mod=readonly", "GOTOOLCHAIN": "local"}
    # -count=1: never a cached pass, the server is new every run.
    result = subprocess.run([go, "test", "-count=1", "-v", "./..."], cwd=GO_SDK, env=env,
                            capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output + operator_tail(sdk_env)
    assert "--- SKIP" not in output, output  # every test saw the live API
    assert "--- PASS: TestContractExampleListsClustersAndDeploysAnApplication" in output, output

"""The generated Go and TypeScript SDK types equal a fresh generation from sdk/openapi.json, so an
endpoint or field added to the API without `make sdk` fails here."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import missing_tool

SDK = Path(__file__).resolve().parents[2] / "sdk"


def fresh_generation(generator: Path) -> str:
    result = subprocess.run([str(generator), "--stdout"], capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr
    return result.stdout


# A cold run compiles oapi-codegen first (minutes on a busy 2-core machine), once per cache.
@pytest.mark.timeout(900)
def test_go_sdk_types_equal_a_fresh_generation_from_the_openapi_document() -> None:
    if shutil.which("go") is None:
        missing_tool("go is not installed")
    committed = (SDK / "go" / "client" / "types.gen.go").read_text()
    assert fresh_generation(SDK / "go" / "generate.sh") == committed, (
        "sdk/go/client/types.gen.go is stale: run `make sdk`")


@pytest.mark.timeout(900)  # a cold run installs the node packages first
def test_typescript_sdk_types_equal_a_fresh_generation_from_the_openapi_document() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        missing_tool("node and npm are not installed")
    committed = (SDK / "typescript" / "src" / "schema.gen.ts").read_text()
    assert fresh_generation(SDK / "typescript" / "generate.sh") == committed, (
        "sdk/typescript/src/schema.gen.ts is stale: run `make sdk`")

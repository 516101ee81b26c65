"""The Python SDK cannot drift from the API: ``sdk/openapi.json`` must be what the application
serves, and the SDK's generated models must be what ``sdk/python/generate.sh`` makes of it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "sdk/python/src/hybridcloud_sdk/models/_generated.py"


def test_sdk_openapi_json_is_what_the_api_serves() -> None:
    result = subprocess.run([sys.executable, "hack/openapi_dump.py", "--check"], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr + "\n(run `make sdk` and commit the result)"


def test_python_sdk_models_are_a_fresh_generation_of_sdk_openapi_json(tmp_path: Path) -> None:
    fresh = tmp_path / "_generated.py"
    codegen = Path(sys.executable).parent / "datamodel-codegen"
    result = subprocess.run(["sdk/python/generate.sh", str(fresh)], cwd=ROOT,
                            capture_output=True, text=True, check=False,
                            env={"PATH": "/usr/bin:/bin", "DATAMODEL_CODEGEN": str(codegen)})
    assert result.returncode == 0, result.stderr
    assert GENERATED.read_text() == fresh.read_text(), \
        "sdk/python models are stale: run `make sdk` and commit the result"

"""Argo CD health checks for both kinds, executed by a real Lua 5.1 interpreter.

Argo CD runs ``resource.customizations.health.<group>_<kind>`` scripts in gopher-lua (Lua 5.1)
with the live object as the global ``obj``; lupa's Lua 5.1 runtime does the same here, against
the cases in ``deploy/argocd/health_test.yaml`` (Argo CD's own test-case format).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import lua51

from hybridcloud.models import HybridCluster, MultiClusterApplication

ROOT = Path(__file__).resolve().parents[2]
ARGOCD = ROOT / "deploy" / "argocd"
SCRIPT = (ARGOCD / "health.lua").read_text()
CASES = yaml.safe_load((ARGOCD / "health_test.yaml").read_text())["tests"]
MODELS = {"HybridCluster": HybridCluster, "MultiClusterApplication": MultiClusterApplication}
STATES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}


def lua_value(runtime: Any, value: Any) -> Any:
    """JSON-shaped Python → Lua tables, as Argo CD converts the unstructured object."""
    if isinstance(value, dict):
        return runtime.table_from({k: lua_value(runtime, v) for k, v in value.items()})
    if isinstance(value, list):
        return runtime.table_from([lua_value(runtime, v) for v in value])
    return value


def health(obj: dict[str, Any]) -> dict[str, str]:
    runtime = lua51.LuaRuntime(unpack_returned_tuples=True)
    runtime.globals().obj = lua_value(runtime, obj)
    result = runtime.execute(SCRIPT)
    assert result is not None, "the script returned nothing"
    return dict(result.items())


def load(case: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ARGOCD / case["inputPath"]).read_text())
    return loaded


@pytest.mark.parametrize("case", CASES, ids=[Path(c["inputPath"]).stem for c in CASES])
def test_health_of_each_sample_state(case: dict[str, Any]) -> None:
    assert health(load(case)) == case["healthStatus"]


def test_cases_cover_every_state_for_both_kinds() -> None:
    covered = {(load(c)["kind"], c["healthStatus"]["status"]) for c in CASES}
    for kind in MODELS:
        for status in ("Healthy", "Progressing", "Degraded", "Suspended"):
            assert (kind, status) in covered, (kind, status)
    assert {c["healthStatus"]["status"] for c in CASES} <= STATES


@pytest.mark.parametrize("case", CASES, ids=[Path(c["inputPath"]).stem for c in CASES])
def test_sample_objects_are_valid_for_the_models(case: dict[str, Any]) -> None:
    obj = load(case)
    MODELS[obj["kind"]].model_validate(obj)


def test_status_of_an_older_generation_is_never_healthy() -> None:
    obj = load(CASES[0])
    assert health(obj)["status"] == "Healthy"
    newer = copy.deepcopy(obj)
    newer["metadata"]["generation"] += 1
    assert health(newer)["status"] == "Progressing"
    del newer["status"]["observedGeneration"]
    assert health(newer)["status"] == "Progressing"


def test_stalled_wins_over_ready_and_reconciling() -> None:
    obj = load(CASES[0])
    obj["status"]["conditions"] += [
        {"type": "Reconciling", "status": "True", "reason": "Updating", "message": "resizing"},
        {"type": "Stalled", "status": "True", "reason": "Quota", "message": "quota exceeded"}]
    assert health(obj) == {"status": "Degraded", "message": "quota exceeded"}


def test_false_abnormal_conditions_are_ignored() -> None:
    obj = load(CASES[0])
    obj["status"]["conditions"] += [{"type": "Stalled", "status": "False", "reason": "Ok"},
                                    {"type": "Paused", "status": "False", "reason": "Ok"}]
    assert health(obj)["status"] == "Healthy"


def test_missing_conditions_and_messages_do_not_break_the_script() -> None:
    obj: dict[str, Any] = {"apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
                           "metadata": {"name": "x", "generation": 1},
                           "status": {"observedGeneration": 1}}
    assert health(obj) == {"status": "Progressing", "message": "Waiting for the Ready condition"}
    obj["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    assert health(obj) == {"status": "Healthy", "message": "Ready"}


def test_argocd_config_registers_the_script_for_both_kinds() -> None:
    config = yaml.safe_load((ARGOCD / "argocd-cm-health.yaml").read_text())
    assert config["kind"] == "ConfigMap" and config["metadata"]["name"] == "argocd-cm"
    for kind in MODELS:
        assert config["data"][f"resource.customizations.health.platform.example.com_{kind}"] \
            == SCRIPT

"""`make up` / `make down`: the whole product runs locally and stops without leftovers."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from .harness import eventually

pytestmark = pytest.mark.integration


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_up_serves_kubectl_the_api_and_a_local_cluster_then_down_leaves_nothing(
    bin_dir: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    devenv = [sys.executable, "-m", "hybridcloud.devenv"]
    up = subprocess.run([*devenv, "up", "--dir", str(run_dir)], capture_output=True, text=True,
                        timeout=400, check=False)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "hybridcloud is running" in up.stdout
        env = dict(line.split("=", 1) for line in (run_dir / "env").read_text().splitlines())
        assert set(env) >= {"KUBECONFIG", "HYBRIDCLOUD_API_URL", "HYBRIDCLOUD_TOKEN"}
        kubectl_env = {**os.environ, **env}
        listed = subprocess.run(["kubectl", "get", "hybridclusters", "-A"], env=kubectl_env,
                                capture_output=True, text=True, check=True, timeout=60).stdout
        assert listed.split()[:7] == ["NAMESPACE", "NAME", "PROVIDER", "REGION", "VERSION",
                                      "PHASE", "READY"]
        assert "dev" in listed and "Active" in listed
        secret = json.loads(subprocess.run(
            ["kubectl", "get", "secret", "dev-kubeconfig", "-o", "json"], env=kubectl_env,
            capture_output=True, text=True, check=True, timeout=60).stdout)
        member = tmp_path / "dev.kubeconfig"
        member.write_bytes(base64.b64decode(secret["data"]["value"]))
        nodes = subprocess.run(["kubectl", "--kubeconfig", str(member), "get", "nodes",
                                "--no-headers"], env=kubectl_env, capture_output=True,
                               text=True, check=True, timeout=60).stdout.splitlines()
        assert len(nodes) == 2 and all(" Ready " in line for line in nodes)
        api = httpx.get(f"{env['HYBRIDCLOUD_API_URL']}/v1/clusters",
                        headers={"Authorization": f"Bearer {env['HYBRIDCLOUD_TOKEN']}"})
        assert api.status_code == 200, api.text
        assert [c["name"] for c in api.json()["clusters"]] == ["dev"]
        state = json.loads((run_dir / "state.json").read_text())
        pids = [state["supervisor"], *state["children"].values(), *state["control_plane"]]
        local_state = next((run_dir / "local").glob("*/cp/state.json"))
        pids += json.loads(local_state.read_text())["pids"]
    finally:
        down = subprocess.run([*devenv, "down", "--dir", str(run_dir)], capture_output=True,
                              text=True, timeout=180, check=False)
    assert down.returncode == 0, down.stdout + down.stderr
    eventually(lambda: not any(alive(pid) for pid in pids), timeout=30,
               message=lambda: f"left running: {[p for p in pids if alive(p)]}")
    assert not (run_dir / "env").exists()

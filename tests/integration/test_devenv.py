"""`make up` / `make run` / `make down`: the whole product runs locally, keeps its operator and
API running, and stops without leftovers."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from hybridcloud import devenv
from hybridcloud.controlplane import ControlPlane
from hybridcloud.controlplane._net import free_ports
from hybridcloud.controlplane._process import terminate
from hybridcloud.devenv import supervisor as devenv_supervisor
from hybridcloud.kube.bootstrap import client_for
from hybridcloud.kube.resources import HybridClusterResource
from hybridcloud.providers.local import built_version

from .harness import eventually, get_cluster

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
        # Metrics and alerting (issue 14): with `make tools` built, Prometheus (scraping the dev
        # cluster through the API's discovery) and Alertmanager run and are in .run/env.
        for key in ("HYBRIDCLOUD_API_PROMETHEUS_URL", "HYBRIDCLOUD_API_ALERTMANAGER_URL"):
            assert httpx.get(f"{env[key]}/-/ready", timeout=10).status_code == 200
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


class Output:
    """The lines a long-running command prints, collected on a thread while the test acts."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stdout is not None
        stream = process.stdout
        self._thread = threading.Thread(target=lambda: self.lines.extend(stream), daemon=True)
        self._thread.start()

    def text(self) -> str:
        return "".join(list(self.lines))


def answers_with(url: str, token: str, cluster: str) -> httpx.Response | None:
    """The API's answer listing ``cluster``, or None while it is down or does not list it yet."""
    try:
        response = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
    except httpx.TransportError:
        return None
    if response.status_code != 200:
        return None
    names = [c["name"] for c in response.json()["clusters"]]
    return response if cluster in names else None


def test_run_restarts_a_killed_operator_and_api_shows_it_and_the_dev_token_is_enterprise(
    bin_dir: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    devenv = [sys.executable, "-m", "hybridcloud.devenv"]
    environ = {k: v for k, v in os.environ.items()
               if k not in ("HYBRIDCLOUD_DEV_TIER", "HYBRIDCLOUD_API_TIERS")}
    run = subprocess.Popen([*devenv, "run", "--dir", str(run_dir), "--no-sample"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env=environ)
    output = Output(run)
    pids: list[int] = []
    try:
        eventually(lambda: "following logs" in output.text() or run.poll() is not None,
                   timeout=400, message=output.text)
        assert run.poll() is None, output.text()
        env = dict(line.split("=", 1) for line in (run_dir / "env").read_text().splitlines())
        assert env["HYBRIDCLOUD_DEV_TIER"] == "enterprise"
        assert "HYBRIDCLOUD_TOKEN has tier enterprise (100,000 requests/h, burst 2,000)" \
            in output.text()
        url, token = f"{env['HYBRIDCLOUD_API_URL']}/v1/clusters", env["HYBRIDCLOUD_TOKEN"]
        first = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert first.status_code == 200, first.text
        assert first.headers["X-RateLimit-Limit"] == "100000"

        killed_operator = json.loads((run_dir / "state.json").read_text())["children"]["operator"]
        pids.append(killed_operator)
        os.kill(killed_operator, signal.SIGKILL)
        kube = client_for(run_dir / "cp" / "kubeconfig")
        kube.create(HybridClusterResource.from_dict({
            "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
            "metadata": {"name": "after-crash", "namespace": "default"},
            "spec": {"provider": "local", "version": f"v{built_version()}",
                     "nodeGroups": [{"name": "workers", "size": 1}]}}))
        eventually(lambda: (get_cluster(kube, "default", "after-crash") or {})
                   .get("status", {}).get("phase") == "Active",
                   timeout=240, message=lambda: f"{get_cluster(kube, 'default', 'after-crash')}"
                   f"\n{output.text()[-4000:]}")
        state = json.loads((run_dir / "state.json").read_text())
        assert state["children"]["operator"] != killed_operator
        assert alive(state["children"]["operator"])
        shown = output.text()
        assert "supervisor | " in shown
        assert f"operator (pid {killed_operator}) exited with signal 9" in shown, shown[-4000:]
        assert f"operator restarted (pid {state['children']['operator']}, restart 1)" in shown
        assert "operator | --- operator restarted by the supervisor" in shown

        killed_api = state["children"]["api"]
        pids.append(killed_api)
        os.kill(killed_api, signal.SIGKILL)
        again = eventually(lambda: answers_with(url, token, "after-crash"), timeout=120,
                           message=lambda: output.text()[-4000:])
        assert again.headers["X-RateLimit-Limit"] == "100000"
        state = json.loads((run_dir / "state.json").read_text())
        assert state["children"]["api"] != killed_api
        eventually(lambda: f"api (pid {killed_api}) exited with signal 9" in output.text(),
                   timeout=10, message=lambda: output.text()[-4000:])
        pids += [state["supervisor"], *state["children"].values(), *state["control_plane"]]
        local_state = next((run_dir / "local").glob("*/cp/state.json"))
        pids += json.loads(local_state.read_text())["pids"]
    finally:
        if run.poll() is None:
            run.send_signal(signal.SIGTERM)  # `make run` stops everything on SIGTERM / Ctrl-C
        try:
            run.wait(timeout=180)
        finally:
            # Also when `run` died before it could stop the detached supervisor itself.
            subprocess.run([*devenv, "down", "--dir", str(run_dir)], capture_output=True,
                           text=True, timeout=180, check=False)
    assert run.returncode == 0, output.text()[-4000:]
    eventually(lambda: not any(alive(pid) for pid in pids), timeout=30,
               message=lambda: f"left running: {[p for p in pids if alive(p)]}")


def test_operator_and_api_start_on_new_ports_when_a_chosen_port_is_taken_before_they_bind(
    management: ControlPlane, namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    """`make up` picks free ports and the children bind them later: a port another process
    takes in between (a parallel test run, a second environment) must not fail the start."""
    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()  # holds the port, as the other process would, and never answers
    taken = squatter.getsockname()[1]
    chosen: list[list[int]] = []

    def ports_with_one_taken(count: int) -> list[int]:
        # The first choice is a port that was free when chosen and taken before the API bound
        # it: exactly the race, made certain. Later choices are the real ones.
        ports = free_ports(count)
        chosen.append([taken, *ports[1:]] if not chosen else ports)
        return chosen[-1]

    monkeypatch.setattr(devenv_supervisor, "free_ports", ports_with_one_taken)
    supervisor = devenv.Supervisor(tmp_path / "run", sample=False)
    env = {**os.environ, "KUBECONFIG": str(management.kubeconfig),
           "HYBRIDCLOUD_API_KUBECONFIG": str(management.kubeconfig),
           "HYBRIDCLOUD_OPERATOR_LOCAL_DIR": str(tmp_path / "run" / "local"),
           "PYTHONUNBUFFERED": "1"}
    try:
        # The operator watches only this test's namespace of the shared management cluster.
        api_port, health_port = supervisor.serve(env, ["--namespace", namespace])
        assert len(chosen) == 2 and api_port == chosen[1][0] != taken
        assert health_port == chosen[1][1]
        ready = httpx.get(f"http://127.0.0.1:{api_port}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert all(child.alive() for child in supervisor.children.values())
        assert "a port was taken before it could bind it; starting operator and API again " \
               "on new ports" in capsys.readouterr().out
    finally:
        for child in supervisor.children.values():
            terminate(child, grace=10)
        supervisor.launcher.close()
        squatter.close()

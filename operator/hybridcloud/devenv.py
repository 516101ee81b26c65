"""``make up`` / ``make down`` / ``make run``: the whole product on this machine.

``up`` starts a detached supervisor and waits until everything answers. The supervisor runs a
management control plane (etcd + kube-apiserver + kube-controller-manager) with the CRDs
installed, then the operator and the REST API as real processes, and writes ``.run/env``::

    KUBECONFIG=…  HYBRIDCLOUD_API_URL=…  HYBRIDCLOUD_TOKEN=…

The token belongs to the ``hybridcloud-dev`` ServiceAccount (namespace ``default``), minted
through the TokenRequest API, so the API authenticates it like any other caller. ``down`` stops
the supervisor, which stops its children in order; every child also carries a parent-death
signal, so even a killed supervisor leaves nothing behind.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from .controlplane import ControlPlane, ControlPlaneError, Profile
from .controlplane._net import free_ports
from .controlplane._process import (
    Child,
    Launcher,
    kill_pid,
    log_tail,
    pid_alive,
    spawn,
    terminate,
)
from .kube.bootstrap import create_platform_namespace, install_crds, mint_dev_token
from .providers.local import built_version

DEV_NAMESPACE = "default"
DEV_ACCOUNT = "hybridcloud-dev"
SAMPLE_CLUSTER = "dev"
READY_TIMEOUT = 180.0


class Supervisor:
    def __init__(self, run_dir: Path, sample: bool = True) -> None:
        self.run_dir = run_dir
        self.sample = sample
        self.logs = run_dir / "logs"
        self.stopping = threading.Event()
        self.launcher = Launcher("devenv")
        self.children: dict[str, Child] = {}
        self.control_plane = ControlPlane(run_dir / "cp", Profile.MANAGEMENT, name="hybridcloud")

    def start(self) -> None:
        self.control_plane.start()
        install_crds(self.control_plane.kubeconfig)
        create_platform_namespace(self.control_plane.kubeconfig)
        token = mint_dev_token(self.control_plane.kubeconfig, DEV_NAMESPACE, DEV_ACCOUNT)
        api_port, health_port = free_ports(2)
        env = {**os.environ, "KUBECONFIG": str(self.control_plane.kubeconfig),
               "HYBRIDCLOUD_API_KUBECONFIG": str(self.control_plane.kubeconfig),
               "HYBRIDCLOUD_OPERATOR_LOCAL_DIR": str(self.run_dir / "local"),
               "HYBRIDCLOUD_OPERATOR_POLL_INTERVAL": "2",
               "PYTHONUNBUFFERED": "1"}
        python = Path(sys.executable)
        self.children["operator"] = spawn(
            self.launcher, "operator", python,
            ["-m", "hybridcloud", "operator", "--health-port", str(health_port)],
            self.logs / "operator.log", env)
        self.children["api"] = spawn(
            self.launcher, "api", python,
            ["-m", "hybridcloud", "api", "--host", "127.0.0.1", "--port", str(api_port)],
            self.logs / "api.log", env)
        api_url = f"http://127.0.0.1:{api_port}"
        self._wait_http("api", f"{api_url}/readyz")
        self._wait_http("operator", f"http://127.0.0.1:{health_port}/healthz")
        if self.sample:
            create_sample_cluster(self.control_plane.kubeconfig)
        state = {"supervisor": os.getpid(), "api_url": api_url,
                 "operator_health": f"http://127.0.0.1:{health_port}/healthz",
                 "children": {name: child.pid for name, child in self.children.items()},
                 "control_plane": self.control_plane.pids()}
        (self.run_dir / "state.json").write_text(json.dumps(state, indent=2))
        bin_dir = os.environ.get("HYBRIDCLOUD_BIN_DIR", "")
        env_file = (f"KUBECONFIG={self.control_plane.kubeconfig}\n"
                    f"HYBRIDCLOUD_API_URL={api_url}\n"
                    f"HYBRIDCLOUD_TOKEN={token}\n"
                    + (f"PATH={bin_dir}:{os.environ.get('PATH', '')}\n" if bin_dir else ""))
        (self.run_dir / "env").write_text(env_file)

    def _wait_http(self, name: str, url: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            child = self.children[name]
            if not child.alive():
                raise RuntimeError(f"{child.describe_exit()}; last log lines:\n{child.tail()}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{name} not ready at {url} within {READY_TIMEOUT:.0f}s")

    def watch(self) -> None:
        """Block until asked to stop; a crashed operator or API is reported, not hidden."""
        while not self.stopping.wait(1.0):
            for child in self.children.values():
                if not child.alive():
                    print(f"{child.describe_exit()}; see {child.log}", flush=True)
                    self.stopping.set()

    def stop(self) -> None:
        for name in ("api", "operator"):
            if name in self.children:
                terminate(self.children[name], grace=10)
        stop_local_clusters(self.run_dir)
        self.control_plane.stop()
        self.launcher.close()
        (self.run_dir / "env").unlink(missing_ok=True)


def create_sample_cluster(kubeconfig: Path) -> None:
    """The `dev` cluster: a local member control plane with two fake nodes."""
    from .kube.bootstrap import client_for
    from .kube.resources import HybridClusterResource

    client = client_for(kubeconfig)
    client.apply(HybridClusterResource.from_dict({
        "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
        "metadata": {"name": SAMPLE_CLUSTER, "namespace": DEV_NAMESPACE},
        "spec": {"provider": "local", "version": f"v{built_version()}",
                 "nodeGroups": [{"name": "workers", "size": 2}]}}), force=True)


def stop_local_clusters(run_dir: Path) -> None:
    """Local clusters are detached (they outlive operator restarts); stop them explicitly."""
    for home in sorted((run_dir / "local").glob("*/cp")):
        subprocess.run([sys.executable, "-m", "hybridcloud.controlplane", "down", "--dir",
                        str(home)], capture_output=True, check=False, timeout=120)


def supervise(run_dir: Path, sample: bool = True) -> int:
    run_dir.mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor(run_dir, sample)
    signal.signal(signal.SIGTERM, lambda *_: supervisor.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: supervisor.stopping.set())
    try:
        supervisor.start()
        print("ready", flush=True)
        supervisor.watch()
        return 0
    except (ControlPlaneError, RuntimeError, OSError) as exc:
        print(f"start failed: {exc}", flush=True)
        (run_dir / "failed").write_text(str(exc))
        return 1
    finally:
        supervisor.stop()


def up(run_dir: Path, sample: bool = True) -> int:
    if (run_dir / "env").exists() and _supervisor_pid(run_dir):
        print(f"already running; see {run_dir / 'env'} (make down to stop)")
        return 0
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "failed").unlink(missing_ok=True)
    log = run_dir / "logs" / "supervisor.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "hybridcloud.devenv", "supervise", "--dir", str(run_dir),
             *([] if sample else ["--no-sample"])],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)  # survives the terminal that ran `make up`
    (run_dir / "supervisor.pid").write_text(str(process.pid))
    deadline = time.monotonic() + READY_TIMEOUT + 60
    while time.monotonic() < deadline:
        if (run_dir / "env").exists():
            if sample:
                _wait_sample_active(run_dir)
            _summary(run_dir, sample)
            return 0
        if process.poll() is not None or (run_dir / "failed").exists():
            print(f"make up failed; supervisor log:\n{log_tail(log, 40)}", file=sys.stderr)
            return 1
        time.sleep(0.3)
    print("timed out waiting for the environment; see " + str(log), file=sys.stderr)
    down(run_dir)
    return 1


def _wait_sample_active(run_dir: Path, timeout: float = 120.0) -> None:
    from .kube.bootstrap import client_for
    from .kube.resources import HybridClusterResource

    client = client_for(run_dir / "cp" / "kubeconfig")
    print("waiting for the sample local cluster `dev` to become Active ...", flush=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        obj = client.get(HybridClusterResource, SAMPLE_CLUSTER, namespace=DEV_NAMESPACE)
        status: dict[str, Any] = obj.status if isinstance(obj.status, dict) else {}
        if status.get("phase") == "Active":
            return
        time.sleep(0.5)
    print("the sample cluster is not Active yet; see `kubectl get hc dev -o yaml`", flush=True)


def _supervisor_pid(run_dir: Path) -> int | None:
    try:
        pid = int((run_dir / "supervisor.pid").read_text())
    except (OSError, ValueError):
        return None
    # `make run` started the supervisor itself: reap it once it exits, or it lingers as a
    # zombie that still answers kill(pid, 0).
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    return pid if pid_alive(pid) else None


def down(run_dir: Path) -> int:
    pid = _supervisor_pid(run_dir)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _supervisor_pid(run_dir) is not None:
            time.sleep(0.2)
        if _supervisor_pid(run_dir) is not None:
            os.kill(pid, signal.SIGKILL)
    # Belt and braces: whatever the state file names and still runs is stopped too.
    state_file = run_dir / "state.json"
    if state_file.exists():
        state: dict[str, Any] = json.loads(state_file.read_text())
        for child_pid in state.get("children", {}).values():
            kill_pid(int(child_pid), Path(sys.executable), grace=5)
        state_file.unlink()
    stop_local_clusters(run_dir)
    subprocess.run([sys.executable, "-m", "hybridcloud.controlplane", "down", "--dir",
                    str(run_dir / "cp")], check=False, capture_output=True)
    (run_dir / "env").unlink(missing_ok=True)
    (run_dir / "supervisor.pid").unlink(missing_ok=True)
    print("hybridcloud stopped")
    return 0


def _summary(run_dir: Path, sample: bool) -> None:
    values = dict(line.split("=", 1) for line in (run_dir / "env").read_text().splitlines())
    sample_hint = ("\n  kubectl get secret dev-kubeconfig -o jsonpath='{.data.value}' | base64 -d "
                   "> dev.kubeconfig\n  kubectl --kubeconfig dev.kubeconfig get nodes"
                   if sample else "")
    print(f"""
hybridcloud is running
  Kubernetes API   {values['KUBECONFIG']}
  REST API         {values['HYBRIDCLOUD_API_URL']}  (docs: {values['HYBRIDCLOUD_API_URL']}/docs)
  logs             {run_dir / 'logs'}/

Use it:
  set -a; . {run_dir / 'env'}; set +a
  kubectl get hybridclusters -A{sample_hint}
  curl -H "Authorization: Bearer $HYBRIDCLOUD_TOKEN" $HYBRIDCLOUD_API_URL/v1/clusters

Stop it with: make down
""")


def run(run_dir: Path, sample: bool = True) -> int:
    """``make run``: up, follow the operator and API logs, down on Ctrl-C (or SIGTERM)."""
    if up(run_dir, sample) != 0:
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("following logs; Ctrl-C stops everything\n", flush=True)
    logs = [run_dir / "logs" / name for name in ("operator.log", "api.log")]
    offsets = dict.fromkeys(logs, 0)
    try:
        while not stop.wait(0.5):
            for log in logs:
                with log.open("rb") as handle:
                    handle.seek(offsets[log])
                    chunk = handle.read()
                    offsets[log] = handle.tell()
                for line in chunk.decode(errors="replace").splitlines():
                    print(f"{log.stem:>8} | {line}", flush=True)
            if _supervisor_pid(run_dir) is None:
                print("the supervisor exited; see .run/logs/supervisor.log", flush=True)
                break
    finally:
        down(run_dir)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hybridcloud.devenv")
    parser.add_argument("command", choices=["up", "down", "run", "supervise"])
    parser.add_argument("--dir", type=Path, default=Path(".run"))
    parser.add_argument("--no-sample", action="store_true",
                        help="do not create the sample local cluster `dev`")
    args = parser.parse_args(argv)
    run_dir: Path = args.dir.resolve()
    sample = not args.no_sample
    if args.command == "up":
        return up(run_dir, sample)
    if args.command == "down":
        return down(run_dir)
    if args.command == "run":
        return run(run_dir, sample)
    return supervise(run_dir, sample)


if __name__ == "__main__":
    sys.exit(main())

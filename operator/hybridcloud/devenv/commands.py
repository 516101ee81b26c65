"""The ``make up`` / ``make down`` / ``make run`` commands: start the supervisor detached and wait
for it, stop it (and whatever its state file names), follow the logs."""

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

from ..api.settings import Tier
from ..controlplane._process import kill_pid, log_tail, pid_alive
from ..models import ClusterPhase
from .supervisor import READY_TIMEOUT, SAMPLE_CLUSTER, stop_local_clusters, supervise
from .tiers import DEV_NAMESPACE, DEV_TIER_VARIABLE, describe_tier, dev_tier


def up(run_dir: Path, sample: bool = True) -> int:
    if (run_dir / "env").exists() and _supervisor_pid(run_dir):
        print(f"already running; see {run_dir / 'env'} (make down to stop)")
        return 0
    try:
        dev_tier(os.environ)  # a typo fails here, not in the detached supervisor's log
    except ValueError as exc:
        print(f"make up: {exc}", file=sys.stderr)
        return 1
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
    from ..kube.bootstrap import client_for
    from ..kube.resources import HybridClusterResource

    client = client_for(run_dir / "cp" / "kubeconfig")
    print("waiting for the sample local cluster `dev` to become Active ...", flush=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        obj = client.get(HybridClusterResource, SAMPLE_CLUSTER, namespace=DEV_NAMESPACE)
        status: dict[str, Any] = obj.status if isinstance(obj.status, dict) else {}
        if status.get("phase") == ClusterPhase.ACTIVE:
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
    tier = describe_tier(Tier(values[DEV_TIER_VARIABLE]))
    print(f"""
hybridcloud is running
  Kubernetes API   {values['KUBECONFIG']}
  REST API         {values['HYBRIDCLOUD_API_URL']}  (docs: {values['HYBRIDCLOUD_API_URL']}/docs)
  Prometheus       {values.get('HYBRIDCLOUD_API_PROMETHEUS_URL', 'not built (make tools)')}
  Alertmanager     {values.get('HYBRIDCLOUD_API_ALERTMANAGER_URL', 'not built (make tools)')}
  rate limit       HYBRIDCLOUD_TOKEN has tier {tier}
                   ({DEV_TIER_VARIABLE}=basic|professional|enterprise before `make up` changes it)
  logs             {run_dir / 'logs'}/  (the operator and API are restarted if they exit)
  log store        {values.get('HYBRIDCLOUD_LOGS_URL', '')}  (VictoriaLogs; POST /v1/logs/query)

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
    logs = [run_dir / "logs" / name for name in ("operator.log", "api.log", "supervisor.log")]
    offsets = dict.fromkeys(logs, 0)
    # The supervisor's log is appended to by every `make up`: show only what comes now (exits
    # and restarts of the operator and the API).
    offsets[logs[-1]] = logs[-1].stat().st_size
    try:
        while not stop.wait(0.5):
            for log in logs:
                with log.open("rb") as handle:
                    if handle.seek(0, os.SEEK_END) < offsets[log]:
                        offsets[log] = 0  # truncated: a new process writes it from the start
                    handle.seek(offsets[log])
                    chunk = handle.read()
                    offsets[log] = handle.tell()
                for line in chunk.decode(errors="replace").splitlines():
                    print(f"{log.stem:>10} | {line}", flush=True)
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

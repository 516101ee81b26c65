"""``make up`` / ``make down`` / ``make run``: the whole product on this machine.

``up`` starts a detached supervisor and waits until everything answers. The supervisor runs a
management control plane (etcd + kube-apiserver + kube-controller-manager) with the CRDs
installed, then the operator and the REST API as real processes, and writes ``.run/env``::

    KUBECONFIG=…  HYBRIDCLOUD_API_URL=…  HYBRIDCLOUD_TOKEN=…

The token belongs to the ``hybridcloud-dev`` ServiceAccount (namespace ``default``), minted
through the TokenRequest API, so the API authenticates it like any other caller; its rate-limit
tier is ``HYBRIDCLOUD_DEV_TIER`` (enterprise unless set), so a first script or an API fuzzer is
not throttled at the Basic tier's burst of 100. The supervisor restarts an operator or API that
exits, with backoff (``supervision.py``), and logs each restart. ``down`` stops the supervisor,
which stops its children in order; every child also carries a parent-death signal, so even a
killed supervisor leaves nothing behind.
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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from . import devenv_observability as observability
from .api.settings import TIER_LIMITS, Tier
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
from .devenv_access import mint_dev_token
from .kube.bootstrap import create_platform_namespace, install_crds
from .models import ClusterPhase
from .observability.devstore import start_log_store
from .providers.local import built_version
from .supervision import Backoff, SupervisedChild

DEV_NAMESPACE = "default"
DEV_ACCOUNT = "hybridcloud-dev"
DEV_USERNAME = f"system:serviceaccount:{DEV_NAMESPACE}:{DEV_ACCOUNT}"
DEV_TIER_VARIABLE = "HYBRIDCLOUD_DEV_TIER"
DEFAULT_DEV_TIER = Tier.ENTERPRISE
SAMPLE_CLUSTER = "dev"
READY_TIMEOUT = 180.0
PORT_ATTEMPTS = 5  # start operator and API on new ports when a chosen one was taken


class PortTakenError(Exception):
    """A child exited because another process bound its port first."""


def dev_tier(environ: Mapping[str, str]) -> Tier:
    """The rate-limit tier of the dev identity: ``HYBRIDCLOUD_DEV_TIER``, else Enterprise."""
    raw = environ.get(DEV_TIER_VARIABLE, "")
    if not raw.strip():
        return DEFAULT_DEV_TIER
    try:
        return Tier(raw.strip().lower())
    except ValueError:
        names = ", ".join(tier.value for tier in Tier)
        raise ValueError(f"{DEV_TIER_VARIABLE}={raw!r} is not a rate-limit tier; use one of "
                         f"{names}") from None


def api_tiers(environ: Mapping[str, str], tier: Tier) -> str:
    """``HYBRIDCLOUD_API_TIERS`` for the dev API: any tiers already configured, plus the dev
    identity's."""
    raw = environ.get("HYBRIDCLOUD_API_TIERS", "")
    try:
        tiers = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"HYBRIDCLOUD_API_TIERS is not valid JSON: {exc}") from None
    if not isinstance(tiers, dict):
        raise ValueError("HYBRIDCLOUD_API_TIERS must be a JSON object of username: tier")
    return json.dumps({**tiers, DEV_USERNAME: tier.value})


def describe_tier(tier: Tier) -> str:
    requests, burst = TIER_LIMITS[tier]
    return f"{tier.value} ({requests:,} requests/h, burst {burst:,})"


def say(message: str) -> None:
    """One line of the supervisor's log (``.run/logs/supervisor.log``, shown by ``make run``)."""
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


class Supervisor:
    def __init__(self, run_dir: Path, sample: bool = True) -> None:
        self.run_dir = run_dir
        self.sample = sample
        self.logs = run_dir / "logs"
        self.stopping = threading.Event()
        self.launcher = Launcher("devenv")
        self.supervised: dict[str, SupervisedChild[Child]] = {}
        self.extra_children: list[Child] = []  # Prometheus, Alertmanager (not restarted)
        self.state: dict[str, Any] = {}  # state.json: what `down` must stop, if all else fails
        self.control_plane = ControlPlane(run_dir / "cp", Profile.MANAGEMENT, name="hybridcloud")
        self.log_store: Child | None = None

    @property
    def children(self) -> dict[str, Child]:
        """The current process of each supervised component."""
        return {name: supervised.process for name, supervised in self.supervised.items()}

    def start(self) -> None:
        tier = dev_tier(os.environ)
        self.control_plane.start()
        install_crds(self.control_plane.kubeconfig)
        create_platform_namespace(self.control_plane.kubeconfig)
        token = mint_dev_token(self.control_plane.kubeconfig, DEV_NAMESPACE, DEV_ACCOUNT)
        store = start_log_store(self.launcher, self.run_dir / "victorialogs",
                                self.logs / "victoria-logs.log")  # issue 15: logs
        self.log_store = store[0] if store else None
        logs_url = store[1] if store else ""
        logs_env = ({"HYBRIDCLOUD_OPERATOR_LOGS_URL": logs_url,
                     "HYBRIDCLOUD_API_LOGS_URL": logs_url} if logs_url else {})
        prometheus_port, alertmanager_port, am_cluster = free_ports(3)
        # Metrics and alerting (issue 14): Prometheus + Alertmanager when `make tools` built them.
        metrics = observability.Layout(self.run_dir / "observability", prometheus_port,
                                       alertmanager_port)
        prometheus_bin = observability.tool("prometheus", "prometheus")
        alertmanager_bin = observability.tool("alertmanager", "alertmanager")
        metrics_env = {"HYBRIDCLOUD_API_PROMETHEUS_URL": metrics.prometheus_url,
                       "HYBRIDCLOUD_API_RULES_FILE": str(metrics.rules_file),
                       "HYBRIDCLOUD_API_ALERTMANAGER_URL": metrics.alertmanager_url,
                       } if prometheus_bin and alertmanager_bin else {}
        env = {**os.environ, **logs_env, "KUBECONFIG": str(self.control_plane.kubeconfig),
               "HYBRIDCLOUD_API_KUBECONFIG": str(self.control_plane.kubeconfig),
               "HYBRIDCLOUD_OPERATOR_LOCAL_DIR": str(self.run_dir / "local"),
               "HYBRIDCLOUD_OPERATOR_POLL_INTERVAL": "2",
               "HYBRIDCLOUD_API_TIERS": api_tiers(os.environ, tier),
               "HYBRIDCLOUD_API_DOCS_ENABLED": "true",  # /docs and /redoc for development
               # A development environment deploys from local folders (file://, paths).
               "HYBRIDCLOUD_OPERATOR_ALLOW_LOCAL_SOURCES": "true",
               "HYBRIDCLOUD_API_ALLOW_LOCAL_SOURCES": "true",
               "PYTHONUNBUFFERED": "1", **metrics_env}
        api_port, health_port = self.serve(env)
        api_url = f"http://127.0.0.1:{api_port}"
        if prometheus_bin and alertmanager_bin:
            self._start_observability(metrics, prometheus_bin, alertmanager_bin, am_cluster,
                                      api_url)
        if self.sample:
            create_sample_cluster(self.control_plane.kubeconfig)
        self.state = {"supervisor": os.getpid(), "api_url": api_url,
                      "operator_health": f"http://127.0.0.1:{health_port}/healthz",
                      "control_plane": self.control_plane.pids()}
        self._write_state()
        bin_dir = os.environ.get("HYBRIDCLOUD_BIN_DIR", "")
        env_file = ("".join(f"{k}={v}\n" for k, v in metrics_env.items())
                    + f"KUBECONFIG={self.control_plane.kubeconfig}\n"
                    f"HYBRIDCLOUD_API_URL={api_url}\n"
                    f"HYBRIDCLOUD_TOKEN={token}\n"
                    f"{DEV_TIER_VARIABLE}={tier.value}\n"
                    f"HYBRIDCLOUD_LOGS_URL={logs_url or 'not started (make tools)'}\n"
                    + (f"PATH={bin_dir}:{os.environ.get('PATH', '')}\n" if bin_dir else ""))
        (self.run_dir / "env").write_text(env_file)

    def serve(self, env: Mapping[str, str],
              operator_args: Sequence[str] = ()) -> tuple[int, int]:
        """Start the operator and the API on free ports; returns (API port, health port).

        The ports are free when chosen, but the children bind them only after starting up,
        and another process (a parallel test, a second environment) may take one in between:
        then the child exits with EADDRINUSE and both start again on newly chosen ports."""
        for attempt in range(1, PORT_ATTEMPTS + 1):
            api_port, health_port = free_ports(2)
            self._supervise("operator", ["operator", "--health-port", str(health_port),
                                         *operator_args], env)
            self._supervise("api", ["api", "--host", "127.0.0.1", "--port", str(api_port)], env)
            try:
                self._wait_http("api", f"http://127.0.0.1:{api_port}/readyz")
                self._wait_http("operator", f"http://127.0.0.1:{health_port}/healthz")
            except PortTakenError as exc:
                if attempt == PORT_ATTEMPTS:
                    raise RuntimeError(f"{exc} on {PORT_ATTEMPTS} attempts") from exc
                say(f"{exc}; starting operator and API again on new ports")
                for child in self.children.values():
                    terminate(child, grace=10)
                continue
            return api_port, health_port
        raise AssertionError("unreachable")

    def _start_observability(self, layout: observability.Layout, prometheus: Path,
                             alertmanager: Path, am_cluster: int, api_url: str) -> None:
        token = observability.scraper_token(self.control_plane.kubeconfig, DEV_NAMESPACE)
        self.extra_children = [
            spawn(self.launcher, "alertmanager", alertmanager,
                  observability.alertmanager_args(layout, am_cluster),
                  self.logs / "alertmanager.log", os.environ),
            spawn(self.launcher, "prometheus", prometheus,
                  observability.prometheus_args(layout, api_url, token),
                  self.logs / "prometheus.log", os.environ)]

    def _supervise(self, name: str, args: Sequence[str], env: Mapping[str, str]) -> None:
        log = self.logs / f"{name}.log"

        def start(restart: bool) -> Child:
            if restart:  # the log keeps the crashed process' lines, which say why it ended
                with log.open("a") as out:
                    out.write(f"--- {name} restarted by the supervisor; the lines above are "
                              "from the previous process ---\n")
            return spawn(self.launcher, name, Path(sys.executable), ["-m", "hybridcloud", *args],
                         log, env, append=restart)

        self.supervised[name] = SupervisedChild(name, start, Backoff(), time.monotonic, say)

    def _write_state(self) -> None:
        state = {**self.state, "children": {name: child.pid
                                            for name, child in self.children.items()}}
        (self.run_dir / "state.json").write_text(json.dumps(state, indent=2))

    def _wait_http(self, name: str, url: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            child = self.children[name]
            if not child.alive():
                tail = child.tail()
                if "address already in use" in tail.lower():
                    raise PortTakenError(f"{name}: a port was taken before it could bind it")
                raise RuntimeError(f"{child.describe_exit()}; last log lines:\n{tail}")
            try:
                # Counted only while our child runs. (A server squatting the port could
                # answer before our child fails to bind; `watch` then reports the exit.)
                if httpx.get(url, timeout=2).status_code == 200 and child.alive():
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{name} not ready at {url} within {READY_TIMEOUT:.0f}s")

    def watch(self) -> None:
        """Block until asked to stop, restarting an operator or API that exited."""
        while not self.stopping.wait(0.5):
            restarted = [supervised.check() for supervised in self.supervised.values()]
            if any(restarted):
                self._write_state()  # `down` finds the new pids there

    def stop(self) -> None:
        children = self.children
        for extra in self.extra_children:
            terminate(extra, grace=10)
        for name in ("api", "operator"):
            if name in children:
                terminate(children[name], grace=10)
        stop_local_clusters(self.run_dir)
        if self.log_store is not None:
            terminate(self.log_store, grace=10)
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
    except (ControlPlaneError, RuntimeError, OSError, ValueError) as exc:
        print(f"start failed: {exc}", flush=True)
        (run_dir / "failed").write_text(str(exc))
        return 1
    finally:
        supervisor.stop()


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
    from .kube.bootstrap import client_for
    from .kube.resources import HybridClusterResource

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


if __name__ == "__main__":
    sys.exit(main())

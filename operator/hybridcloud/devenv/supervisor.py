"""The detached supervisor of ``make up``: control plane, CRDs, log store, operator, API,
Prometheus and Alertmanager as real processes; restarts the operator and the API when they exit
and stops everything in order (see the package docstring)."""

from __future__ import annotations

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

from ..controlplane import ControlPlane, ControlPlaneError, Profile
from ..controlplane._net import free_ports
from ..controlplane._process import Child, Launcher, spawn, terminate
from ..kube.bootstrap import create_platform_namespace, install_crds
from ..observability.devstore import start_log_store
from ..providers.local import built_version
from ..supervision import Backoff, SupervisedChild
from . import observability
from .access import mint_dev_token
from .tiers import DEV_ACCOUNT, DEV_NAMESPACE, DEV_TIER_VARIABLE, api_tiers, dev_tier

SAMPLE_CLUSTER = "dev"
READY_TIMEOUT = 180.0
PORT_ATTEMPTS = 5  # start operator and API on new ports when a chosen one was taken


class PortTakenError(Exception):
    """A child exited because another process bound its port first."""


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
                       # Development: the annotated pods of `local` members are scraped too.
                       "HYBRIDCLOUD_API_METRICS_SCRAPE_LOCAL_PODS": "true",
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
    from ..kube.bootstrap import client_for
    from ..kube.resources import HybridClusterResource

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

"""The benchmark environment: one local control plane with an audit log, and process helpers.

Every figure is a ratio against a baseline measured in this run on this apiserver (etcd runs
with --unsafe-no-fsync, so absolute numbers flatter every contender equally). Requests are
attributed to the operator by its identity (a client certificate for user
``hybridcloud-operator``) in the apiserver's audit log — metrics carry no user or agent label.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx

from hybridcloud.controlplane import ControlPlane, Profile
from hybridcloud.controlplane._net import free_ports
from hybridcloud.kube.bootstrap import install_crds

OPERATOR_USER = "hybridcloud-operator"
ROOT = Path(__file__).resolve().parents[1]
AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived", "ResponseStarted"]
rules:
  - level: Metadata
"""
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}


@dataclass
class Bench:
    workdir: Path
    plane: ControlPlane
    audit_log: Path
    operator_kubeconfig: Path

    # -- audit log -------------------------------------------------------------------------
    def requests(self, since: float, until: float | None = None,
                 user: str = OPERATOR_USER) -> Counter[str]:
        """Operator requests by verb (watch excluded: long-running) in [since, until)."""
        counts: Counter[str] = Counter()
        with self.audit_log.open() as handle:
            for line in handle:
                event = json.loads(line)
                if event.get("user", {}).get("username") != user:
                    continue
                stamp = datetime.fromisoformat(
                    event["requestReceivedTimestamp"].replace("Z", "+00:00")).timestamp()
                if stamp < since or (until is not None and stamp >= until):
                    continue
                verb = event.get("verb", "")
                if verb != "watch":
                    counts[verb] += 1
        return counts

    def last_request_time(self, since: float, user: str = OPERATOR_USER) -> float | None:
        latest = None
        with self.audit_log.open() as handle:
            for line in handle:
                event = json.loads(line)
                if event.get("user", {}).get("username") != user or event.get("verb") == "watch":
                    continue
                stamp = datetime.fromisoformat(
                    event["requestReceivedTimestamp"].replace("Z", "+00:00")).timestamp()
                if stamp >= since:
                    latest = stamp if latest is None else max(latest, stamp)
        return latest

    # -- operator --------------------------------------------------------------------------
    metrics_port: int = 0  # the operator's /metrics (set by start_operator)

    def operator_metric(self, name: str, **labels: str) -> float:
        """Sum of the operator's samples of ``name`` whose labels include ``labels`` (waits
        for the endpoint while the operator starts: slow on a loaded machine)."""
        deadline = time.monotonic() + 60
        while True:
            try:
                text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics",
                                 timeout=10).text
                return metric_total(text, name, **labels)
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    @contextmanager
    def operator(self, namespace: str, **env: str) -> Iterator[subprocess.Popen[bytes]]:
        process = self.start_operator(namespace, **env)
        try:
            yield process
        finally:
            stop(process)

    def start_operator(self, namespace: str, **env: str) -> subprocess.Popen[bytes]:
        provider_dir = self.workdir / "instant-provider"
        self.metrics_port = free_ports(1)[0]
        full_env = {
            **os.environ, "KUBECONFIG": str(self.operator_kubeconfig),
            "PYTHONPATH": str(ROOT),
            "HYBRIDCLOUD_BENCH_PROVIDER_DIR": str(provider_dir),
            "HYBRIDCLOUD_OPERATOR_PROVIDER_OVERRIDES":
                json.dumps({"local": "tests.bench.instant_provider:factory"}),
            "HYBRIDCLOUD_OPERATOR_POLL_INTERVAL": "0.2",
            "HYBRIDCLOUD_OPERATOR_CREDENTIALS_NAMESPACE": namespace,
            "HYBRIDCLOUD_OPERATOR_METRICS_PORT": str(self.metrics_port),
            **env}
        log = (self.workdir / "operator.log").open("ab")
        return subprocess.Popen([sys.executable, "-m", "hybridcloud", "operator", "--namespace",
                                 namespace, "--health-port", "0"], stdout=log,
                                stderr=subprocess.STDOUT, env=full_env, cwd=ROOT)


def metric_total(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` (Prometheus text format) carrying all of ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        found = dict(re.findall(r'(\w+)="([^"]*)"', head))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(value)
    return total


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@contextmanager
def bench_environment(workdir: Path) -> Iterator[Bench]:
    workdir.mkdir(parents=True, exist_ok=True)
    policy = workdir / "audit-policy.yaml"
    policy.write_text(AUDIT_POLICY)
    audit_log = workdir / "audit.log"
    plane = ControlPlane(workdir / "cp", Profile.MANAGEMENT, name="bench", apiserver_args=[
        f"--audit-policy-file={policy}", f"--audit-log-path={audit_log}",
        "--audit-log-format=json", "--audit-log-maxsize=0",
        # Generous client-side limits: the benchmark measures us, not the apiserver's APF.
        "--max-requests-inflight=1000", "--max-mutating-requests-inflight=500"])
    with plane:
        install_crds(plane.kubeconfig)
        kubeconfig = plane.user_kubeconfig(OPERATOR_USER, ["system:masters"])
        time.sleep(0.5)
        yield Bench(workdir, plane, audit_log, kubeconfig)

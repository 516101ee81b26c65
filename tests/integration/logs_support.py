"""A real VictoriaLogs for the log tests, and pods on kwok members whose logs come from files.

kwok serves a pod's container logs from the file named by a ``Logs`` object
(``kwok.x-k8s.io/v1alpha1``, same name and namespace as the pod), in the CRI format the kubelet
reads (``<RFC3339Nano> stdout F <line>``); the apiserver's ``pods/log`` proxies to it.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from lightkube import Client, KubeConfig
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.core_v1 import Container, PodSpec, Toleration
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Pod, Secret

from hybridcloud.controlplane._net import free_ports
from tests.support import tool_binary

KwokLogs = create_namespaced_resource("kwok.x-k8s.io", "v1alpha1", "Logs", "logs")


@contextmanager
def victorialogs(workdir: Path) -> Iterator[str]:
    """A VictoriaLogs server on a free loopback port; yields its base URL."""
    binary = tool_binary("victorialogs", "victoria-logs")
    port = free_ports(1)[0]
    workdir.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    with (workdir / "victoria-logs.log").open("wb") as out:
        process = subprocess.Popen(
            [str(binary), f"-storageDataPath={workdir / 'data'}",
             f"-httpListenAddr=127.0.0.1:{port}", "-retentionPeriod=100y",
             "-loggerLevel=WARN"], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"victoria-logs did not start: {workdir}/victoria-logs.log")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def flush(url: str) -> None:
    httpx.get(f"{url}/internal/force_flush", timeout=10).raise_for_status()


def stored(url: str, logsql: str) -> list[dict[str, Any]]:
    flush(url)
    response = httpx.post(f"{url}/select/logsql/query", data={"query": logsql,
                                                              "start": "2000-01-01T00:00:00Z"},
                          timeout=30)
    response.raise_for_status()
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def member_client(kube: Client, namespace: str, cluster: str) -> Client:
    """An admin client of a member, from the tenant's copy of its kubeconfig (test setup only)."""
    secret = kube.get(Secret, f"{cluster}-kubeconfig", namespace=namespace)
    text = base64.b64decode((secret.data or {})["value"]).decode()
    return Client(config=KubeConfig.from_dict(yaml.safe_load(text)), field_manager="tests")


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def cri_line(moment: datetime, text: str) -> str:
    return f"{stamp(moment)} stdout F {text}\n"


def append_lines(path: Path, lines: list[tuple[datetime, str]]) -> None:
    """Append whole lines, one write each (kwok may read the file meanwhile)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for moment, text in lines:
            os.write(fd, cri_line(moment, text).encode())
    finally:
        os.close(fd)


def logging_pod(member: Client, namespace: str, name: str, container: str, logfile: Path) -> None:
    """A pod on a kwok node whose container's log is ``logfile``."""
    member.apply(Namespace(metadata=ObjectMeta(name=namespace)))
    logfile.touch()
    member.apply(KwokLogs.from_dict({
        "apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Logs",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"logs": [{"containers": [container], "logsFile": str(logfile)}]}}))
    member.create(Pod(metadata=ObjectMeta(name=name, namespace=namespace),
                      spec=PodSpec(containers=[Container(name=container, image="app:1")],
                                   tolerations=[Toleration(operator="Exists")])))


def pod_running(member: Client, namespace: str, name: str) -> bool:
    pod = member.get(Pod, name, namespace=namespace)
    statuses = (pod.status.containerStatuses or []) if pod.status else []
    return bool(statuses) and all(s.state and s.state.running for s in statuses)


def minutes_ago(minutes: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes)

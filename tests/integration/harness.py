"""Running the real operator process against the test management cluster, and waiting on it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from lightkube import Client
from lightkube.core.exceptions import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

from hybridcloud.devenv import stop_local_clusters
from hybridcloud.kube.resources import HybridClusterResource

T = TypeVar("T")


# The cloud lifecycle tests create clusters with the platform's default credentials and pick
# their projects freely; production defaults forbid both (tests/security runs with those, by
# passing ``env={TENANT_DEFAULTS: "{}"}`` or a TenantPolicy selecting its namespace).
TENANT_DEFAULTS = "HYBRIDCLOUD_OPERATOR_TENANT_DEFAULTS"
PERMISSIVE_CLOUD_DEFAULTS = json.dumps({"clusters": {
    "allowDefaultCredentials": True,
    "accounts": {"awsRoleARNs": ["*"], "gcpProjects": ["*"], "azureSubscriptionIDs": ["*"],
                 "azureResourceGroups": ["*"]}}})


class OperatorProcess:
    """``python -m hybridcloud operator`` restricted to one namespace, with fast polling."""

    def __init__(self, kubeconfig: Path, namespace: str, workdir: Path,
                 env: Mapping[str, str] | None = None) -> None:
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.workdir = workdir
        self.extra_env = dict(env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / "operator.log"
        self.starts = 0

    def start(self) -> None:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig),
               "HYBRIDCLOUD_OPERATOR_POLL_INTERVAL": "0.3",
               "HYBRIDCLOUD_OPERATOR_RESYNC_INTERVAL": "5",
               "HYBRIDCLOUD_OPERATOR_STALLED_RETRY": "5",
               "HYBRIDCLOUD_OPERATOR_CREDENTIALS_NAMESPACE": self.namespace,
               "HYBRIDCLOUD_OPERATOR_LOCAL_DIR": str(self.workdir / "local"),
               # The AKS adapter follows ARM operations with the SDK's pollers; the fake sends
               # no Retry-After, so without this they would look every 30 s (the SDK default).
               "HYBRIDCLOUD_OPERATOR_AZURE_POLLING_INTERVAL": "0.1",
               # Tests serve repositories from local folders (file://); production refuses them.
               "HYBRIDCLOUD_OPERATOR_ALLOW_LOCAL_SOURCES": "true",
               TENANT_DEFAULTS: PERMISSIVE_CLOUD_DEFAULTS,
               **self.extra_env}
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hybridcloud", "operator", "--namespace", self.namespace,
                 "--health-port", "0"], stdout=out, stderr=subprocess.STDOUT, env=env)
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye — the crash the operator must survive."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        """Stop the operator; the `local` clusters it started keep running (as after a real
        restart) until :meth:`close`."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def close(self) -> None:
        """Stop the operator and every `local` cluster it started: they are detached on
        purpose, so nothing else would stop them."""
        self.stop()
        stop_local_clusters(self.workdir)

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def eventually(probe: Callable[[], T | None], *, timeout: float = 60.0, interval: float = 0.2,
               message: str | Callable[[], str] = "condition not met") -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``message`` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message() if callable(message) else message)
        time.sleep(interval)


def get_cluster(kube: Client, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return dict(kube.get(HybridClusterResource, name=name, namespace=namespace).to_dict())
    except ApiError as exc:
        if exc.status.code == 404:
            return None
        raise


def condition(obj: Mapping[str, Any] | None, type_: str) -> Mapping[str, Any] | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond["type"] == type_:
            return dict(cond)
    return None


def wait_phase(kube: Client, namespace: str, name: str, phase: str, operator: OperatorProcess,
               timeout: float = 90.0) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        obj = get_cluster(kube, namespace, name)
        if obj and (obj.get("status") or {}).get("phase") == phase \
                and obj["status"].get("observedGeneration") == obj["metadata"]["generation"]:
            return obj
        return None

    def explain() -> str:
        obj = get_cluster(kube, namespace, name)
        return f"{name} never reached {phase}: status={(obj or {}).get('status')}\n" \
               f"operator log:\n{operator.tail()}"

    return eventually(probe, timeout=timeout, message=explain)


def wait_gone(kube: Client, namespace: str, name: str, operator: OperatorProcess,
              timeout: float = 90.0) -> None:
    eventually(lambda: get_cluster(kube, namespace, name) is None, timeout=timeout,
               message=lambda: f"{name} was not deleted: "
               f"{(get_cluster(kube, namespace, name) or {}).get('status')}\n{operator.tail()}")


@contextmanager
def fresh_namespace(kube: Client, prefix: str) -> Iterator[str]:
    """A namespace for one test module, deleted afterwards."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    kube.create(Namespace(metadata=ObjectMeta(name=name)))
    try:
        yield name
    finally:
        kube.delete(Namespace, name)


@contextmanager
def delivery_operator(kubeconfig: Path, namespace: str, workdir: Path,
                      **env: str) -> Iterator[OperatorProcess]:
    """The operator set up for application-delivery tests: its own git cache, quick health
    polling, and new commits picked up only through the refresh annotation."""
    process = OperatorProcess(kubeconfig, namespace, workdir, env={
        "HYBRIDCLOUD_OPERATOR_DELIVERY_DIR": str(workdir / "delivery"),
        "HYBRIDCLOUD_OPERATOR_DELIVERY_POLL_INTERVAL": "1",
        "HYBRIDCLOUD_OPERATOR_GIT_INTERVAL": "600", **env})
    process.start()
    try:
        yield process
    finally:
        process.close()

"""Serving the real API in-process (uvicorn on a free port) against the test management cluster,
plus identities with chosen RBAC and helpers to write object status like the operator would."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule, RoleRef, Subject
from lightkube.resources.core_v1 import Namespace, Secret, ServiceAccount
from lightkube.resources.rbac_authorization_v1 import ClusterRole, Role, RoleBinding
from lightkube.types import PatchType

from hybridcloud import GROUP
from hybridcloud.api import create_app
from hybridcloud.api.app import server_config
from hybridcloud.api.settings import Settings
from hybridcloud.controlplane._net import bound_socket, free_ports
from hybridcloud.kube.bootstrap import request_token
from hybridcloud.kube.member_credentials import (
    platform_secret,
    platform_secret_name,
    tenant_secret_name,
)
from hybridcloud.kube.resources import HybridClusterResource, MultiClusterApplicationResource

TENANT_ROLE = "hybridcloud-api-test-tenant"
PLATFORM_NAMESPACE = "hybridcloud-system"  # the member-credentials default of API and operator


@contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """Run ``create_app(settings)`` with uvicorn on a free loopback port; yields the base URL."""
    with serve_app(create_app(settings)) as base:
        yield base


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Run ``app`` (an ASGI app, e.g. from ``create_app``, kept by the caller to look at its
    state) with uvicorn on a free loopback port; yields the base URL."""
    # Bound here and handed to uvicorn: a port only chosen here and bound later by uvicorn
    # could meanwhile be taken by a parallel worker, whose API would then answer our requests.
    sock = bound_socket()
    port = int(sock.getsockname()[1])
    config = server_config(app, "127.0.0.1", port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                              daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API did not become ready")
        time.sleep(0.1)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


API_START_ATTEMPTS = 3


@contextmanager
def api_process(log: Path, env: Callable[[list[int]], dict[str, str]], *,
                extra_ports: int = 0, log_level: str | None = "warning",
                ) -> Iterator[tuple[str, list[int]]]:
    """``python -m hybridcloud api`` on a free port (plus ``extra_ports`` more, handed to
    ``env`` to build its environment); yields (base URL, extra ports) once /readyz answers.

    The process binds ports chosen just before, which a parallel test may take in between:
    when it exits because a port is in use, it is started again on new ports."""
    for attempt in range(1, API_START_ATTEMPTS + 1):
        port, *extra = free_ports(1 + extra_ports)
        with log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "hybridcloud", "api", "--host", "127.0.0.1", "--port",
                 str(port), *(["--log-level", log_level] if log_level else [])],
                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env(extra)})
        base = f"http://127.0.0.1:{port}"
        try:
            if _wait_ready(process, base, log, last=attempt == API_START_ATTEMPTS):
                yield base, extra
                return
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(process: subprocess.Popen[bytes], base: str, log: Path, *, last: bool) -> bool:
    """True once ``process`` serves /readyz; False when it exited because a port was taken
    (and another attempt is allowed); any other exit or a timeout fails with its log."""
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            text = log.read_text(errors="replace")
            if "address already in use" in text and not last:
                log.write_text(text + "\n--- a port was taken; retrying on new ports ---\n")
                return False
            raise AssertionError(f"the API process exited:\n{text[-3000:]}")
        try:
            # Asked only while our process runs: it answers unless another server holds it.
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200 \
                    and process.poll() is None:
                return True
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("the API process did not become ready:\n"
                                 + log.read_text(errors="replace")[-3000:])
        time.sleep(0.2)


TENANT_RULES = [PolicyRule(apiGroups=[GROUP], resources=["*"], verbs=["*"])]


def ensure_tenant_role(kube: Client) -> None:
    """What a tenant gets: the platform's resources (incl. workloads) in its namespace."""
    kube.apply(ClusterRole(metadata=ObjectMeta(name=TENANT_ROLE), rules=TENANT_RULES))


def grant(kube: Client, namespace: str, account: str, role: str, rules: list[PolicyRule], *,
          cluster_role: bool = False, binding: str | None = None) -> None:
    """Let ServiceAccount ``namespace/account`` do what ``rules`` allow in ``namespace``: a Role
    (or, with ``cluster_role``, a ClusterRole shared by every test) named ``role`` and a
    RoleBinding in ``namespace`` (named ``binding``, else ``<account>-<role>``)."""
    if cluster_role:
        kube.apply(ClusterRole(metadata=ObjectMeta(name=role), rules=rules))
    else:
        kube.apply(Role(metadata=ObjectMeta(name=role, namespace=namespace), rules=rules))
    kube.apply(RoleBinding(
        metadata=ObjectMeta(name=binding or f"{account}-{role}", namespace=namespace),
        roleRef=RoleRef(apiGroup="rbac.authorization.k8s.io",
                        kind="ClusterRole" if cluster_role else "Role", name=role),
        subjects=[Subject(kind="ServiceAccount", name=account, namespace=namespace)]))


def ensure_namespace(kube: Client, name: str) -> None:
    kube.apply(Namespace(metadata=ObjectMeta(name=name)))


def identity(kube: Client, namespace: str, account: str, *, bind: bool = True,
             seconds: int = 3600) -> str:
    """A ServiceAccount in ``namespace`` (bound to the tenant role there when ``bind``) and a
    TokenRequest token for it."""
    kube.apply(ServiceAccount(metadata=ObjectMeta(name=account, namespace=namespace)))
    if bind:
        grant(kube, namespace, account, TENANT_ROLE, TENANT_RULES, cluster_role=True,
              binding=f"{account}-tenant")
    return request_token(kube, namespace, account, seconds)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(kind: str, status: str, reason: str, generation: int,
              message: str = "") -> dict[str, Any]:
    return {"type": kind, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": _now(), "observedGeneration": generation}


def set_cluster_status(kube: Client, namespace: str, name: str, phase: str, *,
                       ready: bool, extra: dict[str, Any] | None = None) -> None:
    obj = kube.get(HybridClusterResource, name, namespace=namespace)
    generation = obj["metadata"]["generation"]
    status = {"phase": phase, "observedGeneration": generation,
              "conditions": [condition("Ready", "True" if ready else "False",
                                       "Ready" if ready else "Provisioning", generation)],
              **(extra or {})}
    kube.patch(HybridClusterResource.Status, name, {"status": status}, namespace=namespace,
               patch_type=PatchType.MERGE)


def register_member(kube: Client, namespace: str, cluster: str, kubeconfig: str, *,
                    platform_namespace: str = PLATFORM_NAMESPACE) -> None:
    """Store a member credential as the operator does after the provider handed it out: the
    platform copy (the only one the API and operator read) plus the tenant's convenience copy."""
    uid = kube.get(HybridClusterResource, cluster, namespace=namespace)["metadata"]["uid"]
    ensure_namespace(kube, platform_namespace)
    kube.apply(platform_secret(platform_namespace, namespace, cluster, uid, kubeconfig, None),
               field_manager="hybridcloud-operator", force=True)
    kube.apply(Secret(metadata=ObjectMeta(name=tenant_secret_name(cluster), namespace=namespace),
                      stringData={"value": kubeconfig}), force=True)


def unregister_member(kube: Client, namespace: str, cluster: str, *,
                      platform_namespace: str = PLATFORM_NAMESPACE) -> None:
    """Remove the platform copy, as the operator does when the cluster goes away."""
    uid = kube.get(HybridClusterResource, cluster, namespace=namespace)["metadata"]["uid"]
    kube.delete(Secret, platform_secret_name(uid), namespace=platform_namespace)


def set_application_status(kube: Client, namespace: str, name: str,
                           status: dict[str, Any]) -> None:
    kube.patch(MultiClusterApplicationResource.Status, name, {"status": status},
               namespace=namespace, patch_type=PatchType.MERGE)


def eventually(probe: Any, timeout: float = 20.0, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {probe}")
        time.sleep(interval)

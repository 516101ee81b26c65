"""The ``local`` provider: real Kubernetes control planes on the operator's host.

Each cluster is a ``member``-profile control plane (etcd, kube-apiserver, controller-manager,
scheduler, kwok) run by a detached ``python -m hybridcloud.controlplane up`` supervisor, so it
outlives operator restarts exactly like a cloud cluster would; the operator finds it again by
its deterministic name under ``local_dir``. Node groups are kwok-managed fake Nodes labelled
with their group (plus the group's labels and taints), so the scheduler places pods on them and
Deployments really become ready.

It needs no credentials. It runs only the Kubernetes version its binaries were built from;
asking for another one is an :class:`InvalidConfigurationError`, never a silent mismatch.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from ..conditions import READY, is_true
from ..controlplane import POD_CIDR, find_binary, resolve_bin_dir
from .base import (
    ClusterSpec,
    ClusterState,
    InvalidConfigurationError,
    Kubeconfig,
    NodeGroupSpec,
    ObservedCluster,
    ObservedNodeGroup,
    TransientError,
)

GROUP_LABEL = "platform.example.com/node-group"
_START_TIMEOUT = 120.0
_POD_NETWORK = ipaddress.ip_network(POD_CIDR)


def built_version(bin_dir: Path | None = None) -> str:
    """The Kubernetes version of the local binaries, e.g. ``1.37.2``."""
    apiserver = find_binary("kube-apiserver", resolve_bin_dir(bin_dir))
    stamp = apiserver.parent.parent / "kubernetes-version"
    if stamp.exists():
        return stamp.read_text().strip().removeprefix("v")
    out = subprocess.run([str(apiserver), "--version"], capture_output=True, text=True,
                         check=True, timeout=30).stdout
    return out.split()[-1].removeprefix("v")


class LocalProvider:
    """Control planes under ``local_dir/<cluster name>``."""

    name = "local"

    def __init__(self, credentials: Mapping[str, str] | None = None, *,
                 local_dir: Path, bin_dir: Path | None = None) -> None:
        self._root = Path(local_dir)
        self._bin_dir = bin_dir
        self._version: str | None = None

    # -- helpers ---------------------------------------------------------------------------

    def _dir(self, cluster: ClusterSpec) -> Path:
        return self._root / cluster.name

    def _state(self, cluster: ClusterSpec) -> dict[str, Any] | None:
        try:
            state: dict[str, Any] = json.loads((self._dir(cluster) / "cp" / "state.json")
                                               .read_text())
        except (OSError, ValueError):
            return None
        return state

    def _version_or_fail(self, wanted: str) -> str:
        if self._version is None:
            self._version = built_version(self._bin_dir)
        have = self._version
        if have.split(".")[: len(wanted.split("."))] != wanted.split("."):
            raise InvalidConfigurationError(
                f"local clusters run only Kubernetes v{have}, the version built from "
                f"tests/controlplane, and cannot be upgraded in place: v{wanted} is not "
                f"available; set spec.version to v{have} or leave it out",
                reason="UnsupportedVersion")
        return have

    def _client(self, cluster: ClusterSpec) -> httpx.Client:
        pki = self._dir(cluster) / "cp" / "pki"
        state = self._state(cluster)
        if state is None:
            raise TransientError(f"local cluster {cluster.name} is not running")
        context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        return httpx.Client(base_url=state["server"], verify=context, timeout=10)

    @staticmethod
    def _alive(pid: int) -> bool:
        if pid <= 0:
            return False  # no pid recorded (os.kill(0, …) would signal our own process group)
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                # Our own supervisor has exited: reaped here, since as a zombie it would still
                # answer os.kill and a dead cluster would never be reported Failed.
                return False
        except ChildProcessError:
            pass  # started by an earlier operator process: not ours to reap
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True

    # -- CloudProvider ---------------------------------------------------------------------

    def describe(self, cluster: ClusterSpec) -> ObservedCluster | None:
        home = self._dir(cluster)
        if not home.exists():
            return None
        state = self._state(cluster)
        supervisor = int((home / "supervisor.pid").read_text()) \
            if (home / "supervisor.pid").exists() else 0
        if state is None:
            if supervisor and self._alive(supervisor):
                return ObservedCluster(provider_id=str(home), name=cluster.name,
                                       state=ClusterState.CREATING)
            return ObservedCluster(provider_id=str(home), name=cluster.name,
                                   state=ClusterState.FAILED,
                                   message=f"local control plane did not start; see {home}/up.log")
        if not self._alive(int(state.get("supervisor_pid", 0))):
            return ObservedCluster(provider_id=str(home), name=cluster.name,
                                   state=ClusterState.FAILED,
                                   message="the local control plane is no longer running")
        try:
            with self._client(cluster) as client:
                nodes = client.get("/api/v1/nodes",
                                   params={"labelSelector": GROUP_LABEL}).raise_for_status()
        except httpx.HTTPError as exc:
            raise TransientError(f"local cluster {cluster.name} unreachable: {exc}") from exc
        groups: dict[str, list[dict[str, Any]]] = {}
        for node in nodes.json()["items"]:
            groups.setdefault(node["metadata"]["labels"][GROUP_LABEL], []).append(node)
        ca = (home / "cp" / "pki" / "ca.crt").read_bytes()
        return ObservedCluster(
            provider_id=str(home), name=cluster.name, state=ClusterState.ACTIVE,
            version=self._version or built_version(self._bin_dir), endpoint=state["server"],
            ca_data=base64.b64encode(ca).decode(),
            node_groups=tuple(
                ObservedNodeGroup(name=name, size=len(members), ready=sum(map(_ready, members)),
                                  state=ClusterState.ACTIVE)
                for name, members in sorted(groups.items())),
            master_count=1)

    def create(self, cluster: ClusterSpec) -> None:
        self._version_or_fail(cluster.version)
        home = self._dir(cluster)
        if self.describe(cluster) is None:
            home.mkdir(parents=True, exist_ok=True)
            env = {**os.environ}
            if self._bin_dir:
                env["HYBRIDCLOUD_BIN_DIR"] = str(self._bin_dir)
            with (home / "up.log").open("ab") as log:
                # Detached on purpose: the cluster must outlive the operator, like a cloud's.
                process = subprocess.Popen(
                    [sys.executable, "-m", "hybridcloud.controlplane", "up", "--dir",
                     str(home / "cp"), "--profile", "member", "--name", "local",
                     "--timeout", str(_START_TIMEOUT)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                    start_new_session=True)
            (home / "supervisor.pid").write_text(str(process.pid))
        self._wait_running(cluster)
        for group in cluster.node_groups:
            if group.role != "control-plane":
                self.update_node_group(cluster, group)

    def _wait_running(self, cluster: ClusterSpec) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            observed = self.describe(cluster)
            if observed is not None and observed.state == ClusterState.ACTIVE:
                return
            if observed is not None and observed.state == ClusterState.FAILED:
                raise TransientError(observed.message or "local control plane failed to start")
            time.sleep(0.2)
        raise TransientError(f"local cluster {cluster.name} still starting")

    def delete(self, cluster: ClusterSpec) -> None:
        home = self._dir(cluster)
        if not home.exists():
            return
        subprocess.run([sys.executable, "-m", "hybridcloud.controlplane", "down", "--dir",
                        str(home / "cp")], capture_output=True, check=False, timeout=120)
        pid_file = home / "supervisor.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text())
            if self._alive(pid):
                os.kill(pid, 9)
        shutil.rmtree(home, ignore_errors=True)

    def create_node_group(self, cluster: ClusterSpec, group: NodeGroupSpec) -> None:
        self.update_node_group(cluster, group)

    def update_node_group(self, cluster: ClusterSpec, group: NodeGroupSpec) -> None:
        with self._client(cluster) as client:
            listed = client.get("/api/v1/nodes", params={"labelSelector": GROUP_LABEL})
            nodes = listed.raise_for_status().json()["items"]
            mine = sorted((n["metadata"]["name"] for n in nodes
                           if n["metadata"]["labels"][GROUP_LABEL] == group.name), key=_index)
            used = {n["spec"].get("podCIDR") for n in nodes}
            for name in mine[group.size:]:
                client.delete(f"/api/v1/nodes/{name}").raise_for_status()
            taken = {_index(name) for name in mine}
            for index in range(group.size):
                if index in taken:
                    continue
                cidr = _free_pod_cidr(used)
                used.add(cidr)
                answer = client.post("/api/v1/nodes", json=_node(group, index, cidr))
                if answer.status_code != 409:
                    answer.raise_for_status()

    def delete_node_group(self, cluster: ClusterSpec, name: str) -> None:
        with self._client(cluster) as client:
            client.request("DELETE", "/api/v1/nodes",
                           params={"labelSelector": f"{GROUP_LABEL}={name}"}).raise_for_status()

    def default_version(self, cluster: ClusterSpec) -> str:
        """The only version local clusters can run: the one the binaries were built from."""
        if self._version is None:
            self._version = built_version(self._bin_dir)
        return self._version

    def upgrade(self, cluster: ClusterSpec, version: str) -> None:
        """Local clusters run the built version only, so there is nothing to upgrade to: a
        different version stalls the cluster with ``UnsupportedVersion`` (never a silent
        mismatch); rebuilding the binaries and recreating the cluster is the way up."""
        self._version_or_fail(version)

    def kubeconfig(self, cluster: ClusterSpec, observed: ObservedCluster) -> Kubeconfig:
        return Kubeconfig((self._dir(cluster) / "cp" / "kubeconfig").read_text())


def _index(name: str) -> int:
    tail = name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def _ready(node: Mapping[str, Any]) -> bool:
    return is_true(node.get("status", {}).get("conditions"), READY)


def _free_pod_cidr(used: set[str | None]) -> str:
    # One /24 per node, as node-IPAM would assign, so kwok hands out distinct pod IPs.
    for subnet in _POD_NETWORK.subnets(new_prefix=24):
        if str(subnet) not in used:
            return str(subnet)
    raise InvalidConfigurationError("local clusters support at most 256 nodes")


def _node(group: NodeGroupSpec, index: int, pod_cidr: str) -> dict[str, Any]:
    name = f"{group.name}-{index}"
    role = "control-plane" if group.role == "control-plane" else "worker"
    labels = {"type": "kwok", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
              "kubernetes.io/arch": "amd64", f"node-role.kubernetes.io/{role}": "",
              GROUP_LABEL: group.name, **dict(group.labels)}
    if group.instance_type:
        labels["node.kubernetes.io/instance-type"] = group.instance_type
    taints = [{"key": t.key, "effect": t.effect, **({"value": t.value} if t.value else {})}
              for t in group.taints]
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels,
                         "annotations": {"kwok.x-k8s.io/node": "fake"}},
            "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr],
                     **({"taints": taints} if taints else {})}}

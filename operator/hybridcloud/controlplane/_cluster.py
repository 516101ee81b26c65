"""`ControlPlane`: real etcd + kube-apiserver (+ friends) on loopback, for tests and `make run`."""

from __future__ import annotations

import atexit
import dataclasses
import hashlib
import logging
import re
import shutil
import threading
import time
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from . import _components as comp
from ._binaries import find_binaries, resolve_bin_dir
from ._boot import Boot, BootPlan
from ._errors import ControlPlaneError
from ._kubeconfig import write_kubeconfig
from ._net import free_ports
from ._nodes import create_nodes, delete_nodes, list_fake_nodes, node_index, schedulable_names
from ._pki import ClusterPKI, create_cluster_pki, issue_client_cert
from ._process import Child, Launcher, first_dead, terminate, wait_for

log = logging.getLogger(__name__)

_STOP_GRACE = 10.0
_NODE_TIMEOUT = 60.0
_START_ATTEMPTS = 3
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?")


def lost_a_port(error: ControlPlaneError) -> bool:
    """Whether a start failed because a component could not bind its port (the error ends
    with the component's log, where etcd and the Kubernetes binaries report it this way)."""
    return "address already in use" in str(error)


class Profile(StrEnum):
    """Which components run.

    MANAGEMENT: etcd, kube-apiserver, kube-controller-manager -- enough for an operator that
    only talks to the API. MEMBER adds kube-scheduler and kwok-simulated nodes, so workloads
    are scheduled and their pods become Running/Ready without any container runtime.
    """

    MANAGEMENT = "management"
    MEMBER = "member"


class ControlPlane:
    """A local Kubernetes control plane built from real binaries, bound to 127.0.0.1.

    Every start is a fresh cluster: etcd data and credentials under ``workdir`` are recreated.
    Binaries come from ``bin_dir``, else ``$HYBRIDCLOUD_BIN_DIR``, else ``PATH``. Logs are in
    ``workdir/logs/<component>.log``.

    Components die with this Python process even if it is SIGKILLed (``PR_SET_PDEATHSIG``).
    That signal fires when the *forking thread* exits, so children are forked from a private
    thread that lives until :meth:`stop`; ``start()`` may therefore be called from any thread,
    including short-lived workers.
    """

    def __init__(
        self,
        workdir: Path,
        profile: Profile = Profile.MANAGEMENT,
        *,
        name: str = "hybridcloud",
        nodes: int = 0,
        bin_dir: Path | None = None,
        apiserver_args: Sequence[str] = (),
    ) -> None:
        self._profile = Profile(profile)
        if nodes < 0:
            raise ValueError(f"nodes must be >= 0, got {nodes}")
        if nodes and self._profile is not Profile.MEMBER:
            raise ValueError("fake nodes need Profile.MEMBER (it runs kwok and the scheduler)")
        if not _DNS_LABEL.fullmatch(name):
            raise ValueError(f"name {name!r} must be a short DNS label (it prefixes node names)")
        self._workdir = Path(workdir).absolute()
        self._name = name
        self._initial_nodes = nodes
        self._bin_dir = bin_dir
        # Extra kube-apiserver flags, e.g. an audit log for the benchmarks' request counting.
        self._apiserver_extra = list(apiserver_args)
        # Re-entrant: start() calls stop() when it fails half-way.
        self._lock = threading.RLock()
        self._children: list[Child] = []
        self._launcher: Launcher | None = None
        self._ports: comp.Ports | None = None
        self._pki: ClusterPKI | None = None
        self._client: httpx.Client | None = None

    def __repr__(self) -> str:
        state = f"server={self.server}" if self._ports and self._children else "stopped"
        return f"ControlPlane({self._name!r}, {self._profile.value}, {state})"

    # -- public surface ---------------------------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        """Admin kubeconfig (client certificate in group system:masters)."""
        return self._workdir / "kubeconfig"

    @property
    def ca_cert(self) -> Path:
        """CA certificate that signed the apiserver's serving certificate."""
        return self._workdir / "pki" / "ca.crt"

    @property
    def server(self) -> str:
        """The apiserver URL, ``https://127.0.0.1:PORT``; known once start() has begun."""
        if self._ports is None:
            raise ControlPlaneError("the control plane has not been started")
        return comp.server_url(self._ports)

    def env(self) -> dict[str, str]:
        """Environment variables that point kubectl, helm and client libraries at the cluster."""
        return {"KUBECONFIG": str(self.kubeconfig)}

    def pids(self) -> list[int]:
        """Process ids of the components that are still running."""
        with self._lock:
            return [child.pid for child in self._children if child.alive()]

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, timeout: float = 90.0) -> None:
        """Start every component and block until the cluster is usable.

        Usable means: the apiserver is ready with RBAC bootstrapped, the controller-manager is
        running (it has created the ``default`` ServiceAccount) and, for MEMBER, the
        scheduler is ready and every fake node is Ready and untainted. On failure everything
        is stopped again and :class:`ControlPlaneError` carries the failing component's log.
        """
        with self._lock:
            if self._launcher is not None:
                raise ControlPlaneError(f"{self!r} is already started")
            began = time.monotonic()
            deadline = began + timeout
            names = comp.MEMBER_COMPONENTS if self._member else comp.MANAGEMENT_COMPONENTS
            binaries = find_binaries(names, resolve_bin_dir(self._bin_dir))
            # The components bind ports chosen a moment earlier, so under parallel tests another
            # process can take one in between; such a start is retried on fresh ports.
            for attempt in range(1, _START_ATTEMPTS + 1):
                try:
                    self._start_once(binaries, deadline)
                    break
                except ControlPlaneError as exc:
                    self.stop()
                    if attempt == _START_ATTEMPTS or not lost_a_port(exc):
                        raise
                    log.warning("%s: a port was taken before it was bound; retrying on new "
                                "ports (attempt %d of %d)", self._name, attempt + 1,
                                _START_ATTEMPTS)
                except BaseException:
                    self.stop()
                    raise
            log.info(
                "%s control plane %r ready at %s in %.1fs",
                self._profile.value,
                self._name,
                self.server,
                time.monotonic() - began,
            )

    def _start_once(self, binaries: dict[str, Path], deadline: float) -> None:
        self._prepare_workdir()
        self._ports = comp.Ports(*free_ports(5))
        self._pki = create_cluster_pki(self._workdir / "pki")
        self._write_admin_kubeconfig(self._pki)
        self._launcher = Launcher(self._name)
        # Safety net for callers that forget stop(); harmless when they don't.
        atexit.register(self.stop)
        self._boot(binaries, deadline)

    def stop(self) -> None:
        """Stop all components, newest first (SIGTERM, then SIGKILL after 10s). Idempotent."""
        with self._lock:
            atexit.unregister(self.stop)
            children, self._children = self._children, []
            for child in reversed(children):
                terminate(child, _STOP_GRACE)
            if self._client is not None:
                self._client.close()
                self._client = None
            if self._launcher is not None:
                self._launcher.close()
                self._launcher = None

    def user_kubeconfig(self, user: str, groups: Sequence[str] = ()) -> Path:
        """Write a kubeconfig authenticating as ``user`` in ``groups`` (no RBAC is granted)."""
        pki = self._require_pki()
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", user)
        # Distinct files for distinct identities, even when sanitising makes names collide.
        digest = hashlib.sha256("\0".join([user, *groups]).encode()).hexdigest()[:8]
        return write_kubeconfig(
            self._workdir / "users" / f"{safe}-{digest}.kubeconfig",
            cluster=self._name,
            server=self.server,
            ca_pem=pki.server_ca.cert_pem(),
            user=user,
            credentials=issue_client_cert(pki.client_ca, user, groups),
        )

    def add_nodes(self, count: int, timeout: float = _NODE_TIMEOUT) -> list[str]:
        """Create ``count`` more fake nodes and wait until they accept pods; returns names."""
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        with self._lock:
            client = self._require_member()
            used = {node_index(self._name, n["metadata"]["name"]) for n in list_fake_nodes(client)}
            free = (i for i in range(len(used) + count + 1) if i not in used)
            indices = [next(free) for _ in range(count)]
            names = create_nodes(client, self._name, indices)
            self._wait_nodes(set(names), time.monotonic() + timeout)
            return names

    def set_node_count(self, count: int, timeout: float = _NODE_TIMEOUT) -> None:
        """Grow or shrink the fake nodes to ``count``; shrinking removes the newest ones."""
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        with self._lock:
            client = self._require_member()
            mine = self._own_node_names(client)
            if count > len(mine):
                self.add_nodes(count - len(mine), timeout)
                return
            doomed = set(mine[count:])
            delete_nodes(client, doomed)
            wait_for(
                self._children,
                self._child(comp.APISERVER),
                f"deletion of nodes {sorted(doomed)}",
                lambda: not doomed & set(self._own_node_names(client)),
                time.monotonic() + timeout,
            )

    # -- internals --------------------------------------------------------------------------

    @property
    def _member(self) -> bool:
        return self._profile is Profile.MEMBER

    def _state(self) -> dict[str, Any]:
        """What the CLI records in state.json so `down` can clean up without us."""
        if self._ports is None:
            raise ControlPlaneError("the control plane has not been started")
        return {
            "name": self._name,
            "profile": self._profile.value,
            "server": self.server,
            "kubeconfig": str(self.kubeconfig),
            "ports": dataclasses.asdict(self._ports),
            "components": [
                {"name": c.name, "pid": c.pid, "binary": str(c.binary)} for c in self._children
            ],
            "pids": self.pids(),
        }

    def _failed_child(self) -> Child | None:
        return first_dead(self._children)

    def _require_pki(self) -> ClusterPKI:
        if self._pki is None or self._ports is None:
            raise ControlPlaneError("the control plane has not been started")
        return self._pki

    def _require_client(self) -> httpx.Client:
        if self._client is None:
            raise ControlPlaneError("the control plane is not running")
        return self._client

    def _require_member(self) -> httpx.Client:
        if not self._member:
            raise ControlPlaneError("fake nodes need Profile.MEMBER")
        return self._require_client()

    def _child(self, name: str) -> Child:
        for child in self._children:
            if child.name == name:
                return child
        raise ControlPlaneError(f"{name} is not running")

    def _own_node_names(self, client: httpx.Client) -> list[str]:
        indexed = [
            (index, node["metadata"]["name"])
            for node in list_fake_nodes(client)
            if (index := node_index(self._name, node["metadata"]["name"])) is not None
        ]
        return [name for _, name in sorted(indexed)]

    def _prepare_workdir(self) -> None:
        self._workdir.mkdir(parents=True, exist_ok=True)
        # Only our own subdirectories are wiped: the workdir itself may hold user files.
        for stale in ("etcd", "pki", "users", "kwok"):
            shutil.rmtree(self._workdir / stale, ignore_errors=True)
        # etcd checks that its data dir is private (0700) and complains otherwise.
        (self._workdir / "etcd").mkdir(mode=0o700)
        (self._workdir / "logs").mkdir(exist_ok=True)

    def _write_admin_kubeconfig(self, pki: ClusterPKI) -> None:
        write_kubeconfig(
            self.kubeconfig,
            cluster=self._name,
            server=self.server,
            ca_pem=pki.server_ca.cert_pem(),
            user="admin",
            credentials=pki.admin,
        )

    def _boot(self, binaries: dict[str, Path], deadline: float) -> None:
        assert self._ports is not None
        assert self._pki is not None
        assert self._launcher is not None
        plan = BootPlan(name=self._name, workdir=self._workdir, kubeconfig=self.kubeconfig,
                        server=self.server, ports=self._ports, pki=self._pki,
                        member=self._member, initial_nodes=self._initial_nodes,
                        apiserver_extra=self._apiserver_extra)

        def keep_client(client: httpx.Client) -> None:
            self._client = client

        Boot(plan, self._launcher, binaries, self._children, keep_client).run(deadline)

    def _wait_nodes(self, names: set[str], deadline: float) -> None:
        client = self._require_client()
        wait_for(
            self._children,
            self._child(comp.KWOK),
            f"nodes {sorted(names)} Ready",
            lambda: names <= schedulable_names(client),
            deadline,
        )

"""`ControlPlane`: real etcd + kube-apiserver (+ friends) on loopback, for tests and `make run`."""

from __future__ import annotations

import atexit
import dataclasses
import hashlib
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from enum import StrEnum
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from . import _components as comp
from ._api import api_client, probe_ok
from ._binaries import find_binaries, resolve_bin_dir
from ._errors import ControlPlaneError
from ._kubeconfig import write_kubeconfig
from ._kwok_crds import install_log_crds
from ._kwok_usage import with_usage
from ._net import free_ports, port_accepts
from ._nodes import create_nodes, delete_nodes, list_fake_nodes, node_index, schedulable_names
from ._pki import ClusterPKI, create_cluster_pki, issue_client_cert
from ._process import Child, Launcher, first_dead, spawn, terminate, wait_for

log = logging.getLogger(__name__)

_STOP_GRACE = 10.0
_NODE_TIMEOUT = 60.0
_START_ATTEMPTS = 3
# Inherited variables these programs would silently read as configuration.
_ENV_PREFIXES_TO_DROP = ("ETCD_", "KWOK_")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?")
# Package data; read through importlib so it also works from an installed wheel.
_KWOK_STAGES = resources.files(__name__.rpartition(".")[0]).joinpath("kwok-stages.yaml")


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

    def _child_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_ENV_PREFIXES_TO_DROP)}
        # kwok otherwise also loads ~/.kwok/kwok.yaml, whatever the developer left there.
        env["KWOK_WORKDIR"] = str(self._workdir / "kwok")
        return env

    def _spawn(self, binaries: dict[str, Path], name: str, args: list[str]) -> Child:
        assert self._launcher is not None
        child = spawn(
            self._launcher,
            name,
            binaries[name],
            args,
            self._workdir / "logs" / f"{name}.log",
            self._child_env(),
        )
        self._children.append(child)
        return child

    def _boot(self, binaries: dict[str, Path], deadline: float) -> None:
        ports, pki, work = self._ports, self._pki, self._workdir
        assert ports is not None
        assert pki is not None

        def wait(child: Child, what: str, ready: Callable[[], bool]) -> None:
            wait_for(self._children, child, what, ready, deadline)

        etcd = self._spawn(binaries, comp.ETCD, comp.etcd_args(work / "etcd", ports))
        # The apiserver retries etcd itself; an open client port is enough to go on.
        wait(etcd, "client port to accept connections", lambda: port_accepts(ports.etcd_client))

        apiserver_args = [*comp.apiserver_args(pki, ports), *self._apiserver_extra]
        apiserver = self._spawn(binaries, comp.APISERVER, apiserver_args)
        self._client = client = api_client(
            self.server, pki.ca_cert, pki.admin_cert, pki.admin_key, timeout=2.0
        )
        # /readyz includes the RBAC bootstrap post-start hook.
        wait(apiserver, "/readyz", lambda: probe_ok(client, "/readyz"))
        default_ns = "/api/v1/namespaces/default"
        wait(apiserver, "namespace default", lambda: probe_ok(client, default_ns))

        kcm_args = comp.controller_manager_args(
            pki, ports, self.kubeconfig, pki.serving_cert_for(comp.CONTROLLER_MANAGER), self._name
        )
        kcm = self._spawn(binaries, comp.CONTROLLER_MANAGER, kcm_args)
        # Member components start before waiting on the controller-manager so that all of
        # them initialise in parallel.
        member_checks = self._start_member(binaries, client) if self._member else []
        # The token controller creates this as soon as the controller-manager runs.
        default_sa = "/api/v1/namespaces/default/serviceaccounts/default"
        wait(kcm, "ServiceAccount default/default", lambda: probe_ok(client, default_sa))
        for child, what, ready in member_checks:
            wait(child, what, ready)

    def _start_member(
        self, binaries: dict[str, Path], client: httpx.Client
    ) -> list[tuple[Child, str, Callable[[], bool]]]:
        """Start the scheduler and kwok, create the initial nodes; return readiness checks."""
        ports, pki, work = self._ports, self._pki, self._workdir
        assert ports is not None
        assert pki is not None
        serving = pki.serving_cert_for(comp.SCHEDULER)
        scheduler_args = comp.scheduler_args(ports, self.kubeconfig, serving)
        scheduler = self._spawn(binaries, comp.SCHEDULER, scheduler_args)
        stages = work / "kwok" / "stages.yaml"
        stages.parent.mkdir(parents=True, exist_ok=True)
        stages.write_bytes(with_usage(_KWOK_STAGES.read_bytes()))
        install_log_crds(client)
        kwok_args = comp.kwok_args(self.kubeconfig, stages, free_ports(1)[0],
                                   pki.serving_cert_for(comp.KWOK))
        kwok = self._spawn(binaries, comp.KWOK, kwok_args)
        wanted = set(create_nodes(client, self._name, range(self._initial_nodes)))
        scheduler_readyz = f"https://127.0.0.1:{ports.scheduler}/readyz"
        return [
            (scheduler, "/readyz", lambda: probe_ok(client, scheduler_readyz)),
            (kwok, f"nodes {sorted(wanted)} Ready", lambda: wanted <= schedulable_names(client)),
        ]

    def _wait_nodes(self, names: set[str], deadline: float) -> None:
        client = self._require_client()
        wait_for(
            self._children,
            self._child(comp.KWOK),
            f"nodes {sorted(names)} Ready",
            lambda: names <= schedulable_names(client),
            deadline,
        )

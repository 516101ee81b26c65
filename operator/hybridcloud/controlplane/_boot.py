"""The boot sequence of a control plane: which component starts after which, with which
arguments, and what "ready" means for each. ``ControlPlane`` owns the lifecycle (ports, PKI,
retries, stop); this module only starts processes into the list it is given."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import httpx

from . import _components as comp
from ._api import api_client, probe_ok
from ._kwok_crds import install_log_crds
from ._kwok_usage import with_usage
from ._net import free_ports, port_accepts
from ._nodes import create_nodes, schedulable_names
from ._pki import ClusterPKI
from ._process import Child, Launcher, spawn, wait_for

# Inherited variables these programs would silently read as configuration.
_ENV_PREFIXES_TO_DROP = ("ETCD_", "KWOK_")
# Package data; read through importlib so it also works from an installed wheel.
_KWOK_STAGES = resources.files(__name__.rpartition(".")[0]).joinpath("kwok-stages.yaml")

ReadinessCheck = tuple[Child, str, Callable[[], bool]]


@dataclass(frozen=True)
class BootPlan:
    """Everything the sequence needs to know about the cluster being started."""

    name: str
    workdir: Path
    kubeconfig: Path
    server: str
    ports: comp.Ports
    pki: ClusterPKI
    member: bool
    initial_nodes: int
    apiserver_extra: Sequence[str]


class Boot:
    """One start attempt. Every process it spawns is appended to ``children`` at once, so the
    caller can stop them even when a later step fails; the admin client is handed to
    ``keep_client`` as soon as it exists for the same reason."""

    def __init__(self, plan: BootPlan, launcher: Launcher, binaries: dict[str, Path],
                 children: list[Child], keep_client: Callable[[httpx.Client], None]) -> None:
        self._plan = plan
        self._launcher = launcher
        self._binaries = binaries
        self._children = children
        self._keep_client = keep_client

    def run(self, deadline: float) -> None:
        plan = self._plan
        ports, pki = plan.ports, plan.pki

        def wait(child: Child, what: str, ready: Callable[[], bool]) -> None:
            wait_for(self._children, child, what, ready, deadline)

        etcd = self._spawn(comp.ETCD, comp.etcd_args(plan.workdir / "etcd", ports))
        # The apiserver retries etcd itself; an open client port is enough to go on.
        wait(etcd, "client port to accept connections", lambda: port_accepts(ports.etcd_client))

        apiserver = self._spawn(comp.APISERVER,
                                [*comp.apiserver_args(pki, ports), *plan.apiserver_extra])
        client = api_client(plan.server, pki.ca_cert, pki.admin_cert, pki.admin_key, timeout=2.0)
        self._keep_client(client)
        # /readyz includes the RBAC bootstrap post-start hook.
        wait(apiserver, "/readyz", lambda: probe_ok(client, "/readyz"))
        default_ns = "/api/v1/namespaces/default"
        wait(apiserver, "namespace default", lambda: probe_ok(client, default_ns))

        kcm_args = comp.controller_manager_args(
            pki, ports, plan.kubeconfig, pki.serving_cert_for(comp.CONTROLLER_MANAGER), plan.name
        )
        kcm = self._spawn(comp.CONTROLLER_MANAGER, kcm_args)
        # Member components start before waiting on the controller-manager so that all of
        # them initialise in parallel.
        member_checks = self._start_member(client) if plan.member else []
        # The token controller creates this as soon as the controller-manager runs.
        default_sa = "/api/v1/namespaces/default/serviceaccounts/default"
        wait(kcm, "ServiceAccount default/default", lambda: probe_ok(client, default_sa))
        for child, what, ready in member_checks:
            wait(child, what, ready)

    def _start_member(self, client: httpx.Client) -> list[ReadinessCheck]:
        """Start the scheduler and kwok, create the initial nodes; return readiness checks."""
        plan = self._plan
        ports, pki = plan.ports, plan.pki
        serving = pki.serving_cert_for(comp.SCHEDULER)
        scheduler = self._spawn(comp.SCHEDULER,
                                comp.scheduler_args(ports, plan.kubeconfig, serving))
        stages = plan.workdir / "kwok" / "stages.yaml"
        stages.parent.mkdir(parents=True, exist_ok=True)
        stages.write_bytes(with_usage(_KWOK_STAGES.read_bytes()))
        install_log_crds(client)
        kwok_args = comp.kwok_args(plan.kubeconfig, stages, free_ports(1)[0],
                                   pki.serving_cert_for(comp.KWOK))
        kwok = self._spawn(comp.KWOK, kwok_args)
        wanted = set(create_nodes(client, plan.name, range(plan.initial_nodes)))
        scheduler_readyz = f"https://127.0.0.1:{ports.scheduler}/readyz"
        return [
            (scheduler, "/readyz", lambda: probe_ok(client, scheduler_readyz)),
            (kwok, f"nodes {sorted(wanted)} Ready", lambda: wanted <= schedulable_names(client)),
        ]

    def _spawn(self, name: str, args: list[str]) -> Child:
        workdir = self._plan.workdir
        child = spawn(self._launcher, name, self._binaries[name], args,
                      workdir / "logs" / f"{name}.log", child_env(workdir))
        self._children.append(child)
        return child


def child_env(workdir: Path) -> dict[str, str]:
    """This process' environment minus what the components would read as configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_ENV_PREFIXES_TO_DROP)}
    # kwok otherwise also loads ~/.kwok/kwok.yaml, whatever the developer left there.
    env["KWOK_WORKDIR"] = str(workdir / "kwok")
    return env

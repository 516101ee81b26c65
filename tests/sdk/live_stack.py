"""The parts of the Go/TypeScript SDK stack beyond the bare API: a real Prometheus, Alertmanager
and VictoriaLogs behind it, a second tenant namespace where the real operator runs (clusters
the SDKs create there become real `local` member control planes, applications are delivered
from a local git repository, webhook pings reach a receiver), and the same tenant identity
allowed there. One per SDK test module, so each suite's objects stay its own."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule, RoleRef, Subject
from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding

from hybridcloud.controlplane import ControlPlane
from hybridcloud.observability.logstore import LogStore

from ..integration.api_support import TENANT_ROLE, ensure_namespace
from ..integration.harness import delivery_operator
from ..integration.logs_support import stamp, victorialogs
from ..integration.metrics_support import (
    RULES_ROLE,
    install_prometheus_rule_crd,
    scraper_token,
)
from ..integration.test_application_delivery import Repo, sample_files
from ..integration.webhook_support import OPERATOR_ENV, SECRET, receiver
from ..observability_support import alertmanager, free_url, prometheus

# The webhook settings of the webhook tests (loopback receivers over http, quick retries),
# without their instant `local` provider: clusters here are real member control planes.
WEBHOOK_ENV = {key: value for key, value in OPERATOR_ENV.items()
               if key.startswith("HYBRIDCLOUD_OPERATOR_WEBHOOK_")}
LOG_CLUSTER = "cluster-001"
LOG_LINES = 5  # seeded into the store, so paging through them is deterministic


@dataclass(frozen=True)
class Backends:
    prometheus: str
    alertmanager: str
    logs: str
    rules_file: Path


@contextmanager
def observability_backends(kube: Client, work: Path) -> Iterator[Backends]:
    """Alertmanager, Prometheus (scraping what the API lists, evaluating the rule file the API
    writes) and VictoriaLogs; the API started afterwards gets their URLs."""
    install_prometheus_rule_crd(kube)
    rules_dir = work / "rules"
    rules_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        alerts = stack.enter_context(alertmanager(work / "alertmanager"))
        logs = stack.enter_context(victorialogs(work / "victorialogs"))
        # Started by `scraping` once the API it discovers targets through is up.
        yield Backends(free_url(), alerts, logs, rules_dir / "tenants.yaml")


@contextmanager
def scraping(backends: Backends, kube: Client, api: str, work: Path) -> Iterator[None]:
    """Prometheus on the URL the API was given, discovering targets through that API."""
    with prometheus(work / "prometheus", f"{api}/internal/metrics/targets", scraper_token(kube),
                    url=backends.prometheus, alertmanager_url=backends.alertmanager,
                    rules_dir=backends.rules_file.parent):
        yield


def seed_logs(url: str, tenant: str) -> None:
    """LOG_LINES error lines of ``tenant``'s LOG_CLUSTER in the store, a minute apart, as the
    operator's shipper writes them (its own path is tested in tests/integration)."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    records = [{"_time": stamp(start + timedelta(minutes=i)), "_msg": f"ERROR sdk line {i}",
                "level": "error", "tenant": tenant, "cluster": LOG_CLUSTER,
                "namespace": "production", "pod": "api-1", "container": "api",
                "source": "container"} for i in range(LOG_LINES)]

    async def write() -> None:
        store = LogStore(url)
        try:
            await store.ingest(records)
            await store.flush()
        finally:
            await store.close()
    asyncio.run(write())


def allow_tenant_in(kube: Client, namespace: str, tenant: str, account: str) -> None:
    """The tenant's ServiceAccount may act in ``namespace`` too: the platform's resources,
    alert rules, and the Secrets webhook signing keys go into."""
    ensure_namespace(kube, namespace)
    subject = [Subject(kind="ServiceAccount", name=account, namespace=tenant)]
    kube.apply(Role(metadata=ObjectMeta(name="sdk-secret-writer", namespace=namespace),
                    rules=[PolicyRule(apiGroups=[""], resources=["secrets"],
                                      verbs=["create", "patch", "delete"])]))
    for name, kind, role in (("sdk-tenant", "ClusterRole", TENANT_ROLE),
                             ("sdk-rules", "ClusterRole", RULES_ROLE),
                             ("sdk-secrets", "Role", "sdk-secret-writer")):
        kube.apply(RoleBinding(
            metadata=ObjectMeta(name=name, namespace=namespace),
            roleRef=RoleRef(apiGroup="rbac.authorization.k8s.io", kind=kind, name=role),
            subjects=subject))


@contextmanager
def operator_side(management: ControlPlane, namespace: str,
                  work: Path) -> Iterator[dict[str, str]]:
    """The operator on ``namespace``, a git repository to deploy from and a webhook receiver;
    yields the HYBRIDCLOUD_SDK_* variables naming them."""
    (work / "repo").mkdir(parents=True, exist_ok=True)
    repo = Repo(work / "repo")
    repo.commit(dict(sample_files()))
    with receiver(work) as hooks, delivery_operator(management.kubeconfig, namespace,
                                                    work / "operator", **WEBHOOK_ENV) as op:
        yield {"HYBRIDCLOUD_SDK_OPERATOR_NAMESPACE": namespace,
               "HYBRIDCLOUD_SDK_REPO_URL": repo.url,
               "HYBRIDCLOUD_SDK_WEBHOOK_URL": hooks.url,
               "HYBRIDCLOUD_SDK_WEBHOOK_SECRET": SECRET,
               # Not for the SDK suites: the pytest side shows its tail when a suite fails.
               "HYBRIDCLOUD_SDK_OPERATOR_LOG": str(op.log)}


def operator_tail(sdk_env: dict[str, str], lines: int = 60) -> str:
    """The end of the operator's log, to show beside a failing SDK suite's output."""
    log = Path(sdk_env["HYBRIDCLOUD_SDK_OPERATOR_LOG"])
    text = log.read_text(errors="replace") if log.exists() else ""
    return "operator log:\n" + "\n".join(text.splitlines()[-lines:])

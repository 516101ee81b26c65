"""``make up``'s Prometheus and Alertmanager (issue 14): binaries built by
``tests/tools/build.sh`` (``make tools``), configured like the tests' ones — Prometheus finds
the Active clusters through the API's HTTP service discovery with a scraper token, evaluates the
tenant rules the API writes, and alerts the Alertmanager beside it. Missing binaries only mean
the environment runs without them (the metrics endpoints then answer 503)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule, RoleRef, Subject
from lightkube.resources.core_v1 import ServiceAccount
from lightkube.resources.rbac_authorization_v1 import ClusterRole, ClusterRoleBinding

from ..kube.bootstrap import client_for, request_token

_BUILD = Path(__file__).resolve().parents[3] / "tests" / "tools" / "build.sh"
SCRAPER = "hybridcloud-dev-prometheus"


def tool(component: str, name: str) -> Path | None:
    """The built binary, or None when ``make tools`` has not built it."""
    if not _BUILD.exists():
        return None
    found = subprocess.run([str(_BUILD), "--print-dir", component], capture_output=True,
                           text=True, check=False).stdout.strip()
    path = Path(found) / name if found else None
    return path if path and path.is_file() else None


def scraper_token(kubeconfig: Path, namespace: str) -> str:
    """A ServiceAccount for Prometheus allowed only ``get`` on ``/internal/metrics/*``."""
    client = client_for(kubeconfig)
    client.apply(ServiceAccount(metadata=ObjectMeta(name=SCRAPER, namespace=namespace)))
    client.apply(ClusterRole(metadata=ObjectMeta(name=SCRAPER), rules=[
        PolicyRule(nonResourceURLs=["/internal/metrics/*"], verbs=["get"])]))
    client.apply(ClusterRoleBinding(
        metadata=ObjectMeta(name=SCRAPER),
        roleRef=RoleRef(apiGroup="rbac.authorization.k8s.io", kind="ClusterRole", name=SCRAPER),
        subjects=[Subject(kind="ServiceAccount", name=SCRAPER, namespace=namespace)]))
    return request_token(client, namespace, SCRAPER, 86400)


@dataclass(frozen=True)
class Layout:
    work: Path
    prometheus_port: int
    alertmanager_port: int

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.alertmanager_port}"

    @property
    def rules_file(self) -> Path:
        return self.work / "rules" / "tenants.yaml"


def alertmanager_args(layout: Layout, cluster_port: int) -> list[str]:
    config = layout.work / "alertmanager.yml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(yaml.safe_dump({"route": {"receiver": "none"},
                                      "receivers": [{"name": "none"}]}))
    return [f"--config.file={config}", f"--storage.path={layout.work / 'alertmanager'}",
            f"--web.listen-address=127.0.0.1:{layout.alertmanager_port}",
            f"--cluster.listen-address=127.0.0.1:{cluster_port}",
            f"--cluster.advertise-address=127.0.0.1:{cluster_port}"]


def prometheus_args(layout: Layout, api_url: str, token: str) -> list[str]:
    layout.rules_file.parent.mkdir(parents=True, exist_ok=True)
    token_file = layout.work / "scraper-token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    auth = {"type": "Bearer", "credentials_file": str(token_file)}
    config = {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "rule_files": [str(layout.rules_file)],
        "alerting": {"alertmanagers": [{"static_configs": [
            {"targets": [f"127.0.0.1:{layout.alertmanager_port}"]}]}]},
        "scrape_configs": [{
            "job_name": "hybridcloud-clusters", "authorization": auth,
            "http_sd_configs": [{"url": f"{api_url}/internal/metrics/targets",
                                 "refresh_interval": "15s", "authorization": auth}]}]}
    (layout.work / "prometheus.yml").write_text(yaml.safe_dump(config))
    return [f"--config.file={layout.work / 'prometheus.yml'}",
            f"--storage.tsdb.path={layout.work / 'prometheus'}",
            f"--web.listen-address=127.0.0.1:{layout.prometheus_port}", "--web.enable-lifecycle"]

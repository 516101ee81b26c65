"""Shared setup of the metrics and alerting tests: the scraper identity, the PrometheusRule CRD,
tenants with RBAC on rules, and the API wired to a real Prometheus and Alertmanager."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule, RoleRef, Subject
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.rbac_authorization_v1 import ClusterRole, ClusterRoleBinding

from hybridcloud.api.settings import Settings, Tier
from hybridcloud.controlplane import ControlPlane

from ..observability_support import alertmanager, free_url, prometheus
from .api_support import ensure_namespace, eventually, grant, identity, serve

SCRAPER_ROLE = "hybridcloud-metrics-scraper"
# The member's apiserver counts its objects (the catalogue's ``pods``) once a minute by default;
# every 5 s here, so the tests that follow a replica change wait seconds, not minutes. Every test
# starting the shared "metrics-member" passes the same flags (the first start wins).
MEMBER_APISERVER_ARGS = ("--etcd-count-metric-poll-period=5s",)
RULES_ROLE = "hybridcloud-test-alert-rules"

# The prometheus-operator CRD, reduced to what the platform relies on (a real installation
# carries the full schema; the platform only reads and writes spec.groups).
PROMETHEUS_RULE_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "prometheusrules.monitoring.coreos.com"},
    "spec": {"group": "monitoring.coreos.com", "scope": "Namespaced",
             "names": {"kind": "PrometheusRule", "plural": "prometheusrules",
                       "singular": "prometheusrule", "listKind": "PrometheusRuleList"},
             "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                 "openAPIV3Schema": {"type": "object", "properties": {
                     "spec": {"type": "object",
                              "x-kubernetes-preserve-unknown-fields": True}}}}}]}}


def install_prometheus_rule_crd(kube: Client) -> None:
    kube.apply(CustomResourceDefinition.from_dict(PROMETHEUS_RULE_CRD))

    def established() -> bool:
        crd = kube.get(CustomResourceDefinition, "prometheusrules.monitoring.coreos.com")
        return any(c.type == "Established" and c.status == "True"
                   for c in (crd.status.conditions if crd.status else None) or [])
    eventually(established, timeout=30)


def scraper_token(kube: Client, namespace: str = "hybridcloud-system") -> str:
    """A token of the platform's Prometheus: ``get`` on ``/internal/metrics/*`` only (the same
    rule as the chart's scraper ClusterRole)."""
    ensure_namespace(kube, namespace)
    kube.apply(ClusterRole(metadata=ObjectMeta(name=SCRAPER_ROLE), rules=[
        PolicyRule(nonResourceURLs=["/internal/metrics/*"], verbs=["get"])]))
    kube.apply(ClusterRoleBinding(
        metadata=ObjectMeta(name=SCRAPER_ROLE),
        roleRef=RoleRef(apiGroup="rbac.authorization.k8s.io", kind="ClusterRole",
                        name=SCRAPER_ROLE),
        subjects=[Subject(kind="ServiceAccount", name="prometheus", namespace=namespace)]))
    return identity(kube, namespace, "prometheus", bind=False)


def tenant_token(kube: Client, namespace: str, account: str = "tenant") -> str:
    """A tenant identity: the platform's resources plus PrometheusRules in its namespace."""
    ensure_namespace(kube, namespace)
    token = identity(kube, namespace, account)
    grant(kube, namespace, account, RULES_ROLE, [
        PolicyRule(apiGroups=["monitoring.coreos.com"], resources=["prometheusrules"],
                   verbs=["*"])], cluster_role=True, binding=f"{account}-rules")
    return token


@dataclass(frozen=True)
class Stack:
    api: str
    prometheus: str
    alertmanager: str


@contextmanager
def observability_stack(management: ControlPlane, kube: Client, work: Path,
                        ) -> Iterator[Stack]:
    """The API (metrics, alerts, rule sync) + Prometheus scraping through its discovery +
    Alertmanager receiving Prometheus's alerts."""
    install_prometheus_rule_crd(kube)
    prometheus_url = free_url()
    rules_dir = work / "rules"
    rules_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(kubeconfig=str(management.kubeconfig), default_tier=Tier.ENTERPRISE,
                        oauth_namespace="metrics-oauth", prometheus_url=prometheus_url,
                        rules_file=str(rules_dir / "tenants.yaml"), rules_sync_seconds=0.5,
                        metrics_scrape_local_pods=True)
    token = scraper_token(kube)
    with alertmanager(work / "alertmanager") as alertmanager_url:
        settings.alertmanager_url = alertmanager_url
        with serve(settings) as api, prometheus(
                work / "prometheus", f"{api}/internal/metrics/targets", token,
                url=prometheus_url, alertmanager_url=alertmanager_url, rules_dir=rules_dir):
            yield Stack(api, prometheus_url, alertmanager_url)

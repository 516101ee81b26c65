"""SecurityPolicy end to end: the real operator compiles policies to ValidatingAdmissionPolicies
on `local` member clusters (real kube-apiservers with kwok nodes), whose own admission then
denies, warns or admits.

One policy carries every catalogue rule but one and guards member namespace ``guarded``; each case
takes a workload that satisfies all rules and breaks exactly one, as a Pod and as a Deployment:
denied with the rule's message naming the container and field, admitted in ``open``.
``require_security_context`` guards ``hardened`` alone: a privileged container must allow
privilege escalation (the apiserver's own validation), so it breaks that rule as well. The
module shares its clusters (each is a control plane); the second cluster joins mid-module, so the
tests run in order.
"""

from __future__ import annotations

import base64
import copy
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import Client, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.generic_resource import create_global_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace, Pod, Secret
from lightkube.types import PatchType

from hybridcloud.controlplane import ControlPlane
from hybridcloud.kube.resources import HybridClusterResource, SecurityPolicyResource

from .harness import (
    OperatorProcess,
    condition,
    delivery_operator,
    eventually,
    fresh_namespace,
    wait_phase,
)
from .test_application_delivery import Repo, create_app, wait_app

pytestmark = pytest.mark.integration
AdmissionPolicy = create_global_resource(
    "admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy",
    "validatingadmissionpolicies")
GUARDED, HARDENED, OPEN, WARNED = "guarded", "hardened", "open", "warned"
ALL_RULES = {
    # memory limits are not required here, so a container without any memory value breaks
    # only the requests rule (the apiserver defaults a Pod's requests from its limits).
    "requireResourceLimits": {"cpu": True, "memory": False},
    "requireResourceRequests": {"cpu": True, "memory": True},
    "disallowPrivileged": True,
    "disallowHostNamespaces": True,
    "disallowHostPath": True,
    "allowedRegistries": ["ghcr.io/acme"],
    "disallowLatestTag": True,
    "requireLabels": ["team"],
    "maxReplicas": 3,
    "cel": [{"expression": "!object.metadata.name.startsWith('forbidden')",
             "message": "names must not start with forbidden"}],
}


def good_pod_spec() -> dict[str, Any]:
    """Satisfies every rule of ALL_RULES."""
    resources = {"cpu": "100m", "memory": "64Mi"}
    return {"containers": [{
        "name": "app", "image": "ghcr.io/acme/app:1.0.0",
        "resources": {"limits": dict(resources), "requests": dict(resources)},
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]}}}]}


def _container(spec: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = spec["containers"][0]
    return container


# rule → (how to break it, what the denial must say); all guarded by GUARDED but one.
VIOLATIONS: dict[str, tuple[Callable[[dict[str, Any]], None], list[str]]] = {
    "require_resource_limits": (lambda s: _container(s)["resources"].pop("limits"),
                                ["container app", "resources.limits.cpu"]),
    "require_resource_requests": (lambda s: [_container(s)["resources"][section].pop("memory")
                                             for section in ("limits", "requests")],
                                  ["container app", "resources.requests.memory"]),
    "require_security_context": (lambda s: _container(s)["securityContext"].pop(
        "runAsNonRoot"), ["container app", "securityContext.runAsNonRoot"]),
    "disallow_privileged": (lambda s: _container(s)["securityContext"].update(
        privileged=True, allowPrivilegeEscalation=True), ["container app",
                                                          "securityContext.privileged"]),
    "disallow_host_namespaces": (lambda s: s.update(hostNetwork=True), ["hostNetwork"]),
    "disallow_host_path": (lambda s: s.update(volumes=[{"name": "root", "hostPath": {
        "path": "/"}}]), ["volume root", "hostPath"]),
    "allowed_registries": (lambda s: _container(s).update(image="evil.example.com/app:1.0"),
                           ["container app", "evil.example.com/app:1.0", "ghcr.io/acme"]),
    "disallow_latest_tag": (lambda s: _container(s).update(image="ghcr.io/acme/app:latest"),
                            ["container app", "latest"]),
}


def pod(name: str, namespace: str, spec: dict[str, Any],
        labels: dict[str, str] | None = None) -> Pod:
    return Pod.from_dict({"apiVersion": "v1", "kind": "Pod",
                          "metadata": {"name": name, "namespace": namespace,
                                       "labels": {"team": "shop"} if labels is None else labels},
                          "spec": spec})


def deployment(name: str, namespace: str, spec: dict[str, Any], replicas: int = 1,
               labels: dict[str, str] | None = None) -> Deployment:
    pod_labels = {"app": name, **({"team": "shop"} if labels is None else labels)}
    return Deployment.from_dict({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": pod_labels}, "spec": spec}}})


def refusal(member: Client, obj: Any) -> str | None:
    """The member's admission answer to creating ``obj`` (server-side dry run: admission runs,
    nothing is stored); None when admitted."""
    try:
        member.create(obj, dry_run=True)
    except ApiError as exc:
        return str(exc.status.message)
    return None


# -- fixtures --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tenant(kube: Client) -> Iterator[str]:
    with fresh_namespace(kube, "secpol") as name:
        yield name


@pytest.fixture(scope="module")
def operator(management: ControlPlane, tenant: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    with delivery_operator(management.kubeconfig, tenant,
                           tmp_path_factory.mktemp("operator")) as process:
        yield process


def add_cluster(kube: Client, tenant: str, operator: OperatorProcess, name: str,
                workdir: Path) -> tuple[Client, Path]:
    """A `local` HybridCluster, Active, with an admin client and kubeconfig file for it."""
    kube.create(HybridClusterResource.from_dict({
        "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
        "metadata": {"name": name},
        "spec": {"provider": "local", "nodeGroups": [{"name": "workers", "size": 1}]}}),
        namespace=tenant)
    wait_phase(kube, tenant, name, "Active", operator, timeout=180)
    secret = kube.get(Secret, name=f"{name}-kubeconfig", namespace=tenant)
    text = base64.b64decode((secret.data or {})["value"]).decode()
    path = workdir / f"{name}.kubeconfig"
    path.write_text(text)
    member = Client(config=KubeConfig.from_dict(yaml.safe_load(text)), field_manager="tests")
    for namespace in (GUARDED, HARDENED, OPEN, WARNED):
        member.apply(Namespace(metadata=ObjectMeta(name=namespace)))
    return member, path


@pytest.fixture(scope="module")
def first(kube: Client, tenant: str, operator: OperatorProcess,
          tmp_path_factory: pytest.TempPathFactory) -> tuple[Client, Path]:
    return add_cluster(kube, tenant, operator, "first", tmp_path_factory.mktemp("first"))


def create_policy(kube: Client, tenant: str, name: str, **spec: Any) -> None:
    kube.create(SecurityPolicyResource.from_dict({
        "apiVersion": "platform.example.com/v1", "kind": "SecurityPolicy",
        "metadata": {"name": name}, "spec": spec}), namespace=tenant)


def get_policy(kube: Client, tenant: str, name: str) -> dict[str, Any] | None:
    try:
        return dict(kube.get(SecurityPolicyResource, name, namespace=tenant).to_dict())
    except ApiError as exc:
        if exc.status.code == 404:
            return None
        raise


def wait_ready(kube: Client, tenant: str, name: str, operator: OperatorProcess,
               clusters: set[str]) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        obj = get_policy(kube, tenant, name)
        if not obj or (condition(obj, "Ready") or {}).get("status") != "True":
            return None
        status = obj["status"]
        states = {c["cluster"]: c["state"] for c in status.get("clusters") or []}
        wanted = "Applied" if obj["spec"].get("enabled", True) else "Removed"
        done = status.get("observedGeneration") == obj["metadata"]["generation"] and \
            states == dict.fromkeys(clusters, wanted)
        return obj if done else None

    return eventually(probe, timeout=90, message=lambda: (
        f"policy {name} not ready on {clusters}: "
        f"{(get_policy(kube, tenant, name) or {}).get('status')}\n{operator.tail(30)}"))


def enforced(member: Client, probe: Any) -> str:
    """Wait for the member's admission to pick the policy up (its informer lags a write)."""
    return str(eventually(lambda: refusal(member, probe), timeout=30,
                          message=lambda: "the member never enforced the policy"))


@pytest.fixture(scope="module")
def guard(kube: Client, tenant: str, operator: OperatorProcess,
          first: tuple[Client, Path]) -> str:
    create_policy(kube, tenant, "all-rules", enforcement="deny",
                  targets={"namespaces": [GUARDED], "kinds": ["Pod"]}, rules=ALL_RULES)
    create_policy(kube, tenant, "hardened", targets={"namespaces": [HARDENED]},
                  rules={"requireSecurityContext": True})
    obj = wait_ready(kube, tenant, "all-rules", operator, {"first"})
    assert obj["status"]["policyName"] == f"hybridcloud.{tenant}.all-rules"
    wait_ready(kube, tenant, "hardened", operator, {"first"})
    enforced(first[0], pod("probe", GUARDED, good_pod_spec(), labels={}))
    enforced(first[0], pod("probe", HARDENED, {"containers": [{"name": "c", "image": "x:1"}]}))
    return "all-rules"


# -- the catalogue ---------------------------------------------------------------------------------

def test_a_workload_meeting_every_rule_is_admitted_in_the_guarded_namespace(
        first: tuple[Client, Path], guard: str) -> None:
    member = first[0]
    assert refusal(member, pod("fine", GUARDED, good_pod_spec())) is None
    assert refusal(member, deployment("fine", GUARDED, good_pod_spec())) is None
    member.create(pod("really-created", GUARDED, good_pod_spec()))  # not only a dry run


@pytest.mark.parametrize("rule", sorted(VIOLATIONS))
def test_each_rule_denies_a_violating_pod_and_deployment_and_admits_them_elsewhere(
        first: tuple[Client, Path], guard: str, rule: str) -> None:
    member = first[0]
    breaks, expected = VIOLATIONS[rule]
    spec = copy.deepcopy(good_pod_spec())
    breaks(spec)
    name = f"bad-{rule.replace('_', '-')}"
    where = HARDENED if rule == "require_security_context" else GUARDED
    for obj in (pod(name, where, spec), deployment(name, where, spec)):
        message = refusal(member, obj)
        assert message is not None, f"{obj.kind} breaking {rule} was admitted"
        assert "denied request" in message and f"{rule}:" in message, message
        for text in expected:
            assert text in message, message
    assert refusal(member, pod(name, OPEN, spec)) is None
    assert refusal(member, deployment(name, OPEN, spec)) is None


def test_require_labels_denies_pods_and_templates_without_the_label(
        first: tuple[Client, Path], guard: str) -> None:
    member = first[0]
    for obj in (pod("unlabelled", GUARDED, good_pod_spec(), labels={}),
                deployment("unlabelled", GUARDED, good_pod_spec(), labels={})):
        message = refusal(member, obj)
        assert message is not None and "require_labels:" in message and "team" in message
    assert refusal(member, pod("unlabelled", OPEN, good_pod_spec(), labels={})) is None


def test_max_replicas_denies_a_deployment_asking_for_more(
        first: tuple[Client, Path], guard: str) -> None:
    member = first[0]
    message = refusal(member, deployment("many", GUARDED, good_pod_spec(), replicas=5))
    assert message is not None and "max_replicas: spec.replicas 5 exceeds the maximum of 3" \
        in message
    assert refusal(member, deployment("few", GUARDED, good_pod_spec(), replicas=3)) is None
    assert refusal(member, deployment("many", OPEN, good_pod_spec(), replicas=5)) is None


def test_raw_cel_denies_with_its_own_message(first: tuple[Client, Path], guard: str) -> None:
    member = first[0]
    for obj in (pod("forbidden-pod", GUARDED, good_pod_spec()),
                deployment("forbidden-app", GUARDED, good_pod_spec())):
        message = refusal(member, obj)
        assert message is not None and "cel[0]: names must not start with forbidden" in message
    assert refusal(member, pod("forbidden-pod", OPEN, good_pod_spec())) is None


def test_a_pod_template_in_a_cronjob_is_checked_too(first: tuple[Client, Path],
                                                    guard: str) -> None:
    spec = good_pod_spec()
    spec["restartPolicy"] = "Never"
    _container(spec)["securityContext"].update(privileged=True, allowPrivilegeEscalation=True)
    job = {"apiVersion": "batch/v1", "kind": "CronJob",
           "metadata": {"name": "nightly", "namespace": GUARDED},
           "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {
               "metadata": {"labels": {"team": "shop"}}, "spec": spec}}}}}
    from lightkube.resources.batch_v1 import CronJob

    message = refusal(first[0], CronJob.from_dict(job))
    assert message is not None and "disallow_privileged: container app" in message


# -- enforcement modes -----------------------------------------------------------------------------

def kubectl_on(bin_dir: Path, kubeconfig: Path, *args: str,
               stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(bin_dir / "kubectl"), "--kubeconfig", str(kubeconfig), *args],
                          input=stdin, capture_output=True, text=True, timeout=60, check=False)


def test_warn_admits_with_a_warning_naming_the_rule(
        kube: Client, tenant: str, operator: OperatorProcess, first: tuple[Client, Path],
        bin_dir: Path) -> None:
    create_policy(kube, tenant, "warn-latest", enforcement="warn",
                  targets={"namespaces": [WARNED]}, rules={"disallowLatestTag": True})
    wait_ready(kube, tenant, "warn-latest", operator, {"first"})
    manifest = yaml.safe_dump(pod("latest", WARNED, {"containers": [
        {"name": "web", "image": "nginx:latest"}]}).to_dict())

    def warned() -> subprocess.CompletedProcess[str] | None:
        # A server-side dry run passes admission without storing anything: the apiserver's
        # policy informer may lag the applied policy, and a real create that slipped through
        # unwarned would make every retry an AlreadyExists.
        result = kubectl_on(bin_dir, first[1], "create", "--dry-run=server", "-f", "-",
                            stdin=manifest)
        return result if "Warning" in result.stderr else None

    eventually(warned, timeout=30, message=lambda: "no warning was returned")
    result = kubectl_on(bin_dir, first[1], "create", "-f", "-", stdin=manifest)
    assert result.returncode == 0, result.stderr
    assert "disallow_latest_tag: container web must set image with a tag other than latest" \
        in result.stderr
    assert first[0].get(Pod, "latest", namespace=WARNED).metadata is not None  # admitted


# -- delivery ----------------------------------------------------------------------------------

def test_an_application_denied_by_a_policy_shows_the_admission_message(
        kube: Client, tenant: str, operator: OperatorProcess, first: tuple[Client, Path],
        guard: str, tmp_path: Path) -> None:
    repo = Repo(tmp_path)
    repo.commit({"manifests/web.yaml": yaml.safe_dump(deployment(
        "web", GUARDED, {"containers": [{"name": "web", "image": "ghcr.io/acme/web:1"}]})
        .to_dict())})
    create_app(kube, tenant, "denied-app", repo, "manifests",
               placement=[{"cluster": "first"}], targetNamespace=GUARDED)

    def failed(obj: dict[str, Any]) -> bool:
        return any(d.get("status") == "Failed" and "denied request" in (d.get("message") or "")
                   for d in (obj.get("status") or {}).get("deployments") or [])

    obj = wait_app(kube, tenant, "denied-app", operator, failed, "admission denial")
    (record,) = obj["status"]["deployments"]
    assert f"ValidatingAdmissionPolicy 'hybridcloud.{tenant}.all-rules'" in record["message"]
    assert "require_resource_limits: container web must set resources.limits.cpu" in \
        record["message"]


# -- fleet -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def second(kube: Client, tenant: str, operator: OperatorProcess, guard: str,
           tmp_path_factory: pytest.TempPathFactory) -> tuple[Client, Path]:
    return add_cluster(kube, tenant, operator, "second", tmp_path_factory.mktemp("second"))


def bad_pod(namespace: str = GUARDED) -> Pod:
    spec = good_pod_spec()
    _container(spec)["securityContext"].update(privileged=True, allowPrivilegeEscalation=True)
    return pod(f"priv-{uuid.uuid4().hex[:6]}", namespace, spec)


def test_a_cluster_that_joins_later_receives_existing_policies(
        kube: Client, tenant: str, operator: OperatorProcess, first: tuple[Client, Path],
        second: tuple[Client, Path]) -> None:
    wait_ready(kube, tenant, "all-rules", operator, {"first", "second"})
    message = enforced(second[0], bad_pod())
    assert "disallow_privileged: container app" in message
    assert refusal(second[0], bad_pod(OPEN)) is None


def test_disabling_lifts_the_policy_on_every_cluster_and_enabling_restores_it(
        kube: Client, tenant: str, operator: OperatorProcess, first: tuple[Client, Path],
        second: tuple[Client, Path]) -> None:
    def set_enabled(value: bool) -> None:
        kube.patch(SecurityPolicyResource, "all-rules", {"spec": {"enabled": value}},
                   namespace=tenant, patch_type=PatchType.MERGE)

    set_enabled(False)
    wait_ready(kube, tenant, "all-rules", operator, {"first", "second"})
    for member, _ in (first, second):
        assert not [p for p in member.list(AdmissionPolicy)
                    if p.metadata.name == f"hybridcloud.{tenant}.all-rules"]
        eventually(lambda m=member: refusal(m, bad_pod()) is None, timeout=30,
                   message=lambda: "still denied after disabling")
    set_enabled(True)
    wait_ready(kube, tenant, "all-rules", operator, {"first", "second"})
    for member, _ in (first, second):
        assert "disallow_privileged" in enforced(member, bad_pod())


def test_deleting_a_policy_removes_it_from_every_cluster(
        kube: Client, tenant: str, operator: OperatorProcess, first: tuple[Client, Path],
        second: tuple[Client, Path]) -> None:
    kube.delete(SecurityPolicyResource, "all-rules", namespace=tenant)
    eventually(lambda: get_policy(kube, tenant, "all-rules") is None, timeout=60,
               message=lambda: f"policy not finalized\n{operator.tail(30)}")
    for member, _ in (first, second):
        names = {p.metadata.name for p in member.list(AdmissionPolicy)}
        assert f"hybridcloud.{tenant}.all-rules" not in names
        eventually(lambda m=member: refusal(m, bad_pod()) is None, timeout=30,
                   message=lambda: "still denied after deletion")

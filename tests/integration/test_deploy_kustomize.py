"""`kubectl apply --server-side -k deploy/` on a real apiserver: a fresh management cluster, so
the cluster-scoped objects (CRDs, ClusterRoles, aggregation into the built-in roles) never mix
with the session's."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybridcloud.controlplane import ControlPlane, Profile

from .harness import eventually

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "hybridcloud-system"
Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def cluster(bin_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(tmp_path_factory.mktemp("kustomize"), Profile.MANAGEMENT, name="kustomize",
                      bin_dir=bin_dir) as plane:
        yield plane


@pytest.fixture(scope="module")
def kubectl(cluster: ControlPlane, bin_dir: Path) -> Kubectl:
    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(bin_dir / "kubectl"), "--kubeconfig", str(cluster.kubeconfig),
                               *args], input=stdin, capture_output=True, text=True, timeout=90,
                              check=False)
    return run


@pytest.fixture(scope="module")
def applied(kubectl: Kubectl) -> str:
    answer = kubectl("apply", "--server-side", "-k", str(ROOT / "deploy"))
    assert answer.returncode == 0, answer.stderr
    return answer.stdout


def rendered(kubectl: Kubectl) -> list[dict[str, Any]]:
    answer = kubectl("kustomize", str(ROOT / "deploy"))
    assert answer.returncode == 0, answer.stderr
    return [doc for doc in yaml.safe_load_all(answer.stdout) if doc]


def live(kubectl: Kubectl, obj: dict[str, Any]) -> dict[str, Any]:
    where = ["-n", obj["metadata"]["namespace"]] if "namespace" in obj["metadata"] else []
    answer = kubectl("get", f"{obj['kind']}.{obj['apiVersion'].split('/')[0]}"
                     if "/" in obj["apiVersion"] else obj["kind"],
                     obj["metadata"]["name"], *where, "-o", "json")
    assert answer.returncode == 0, f"{obj['kind']}/{obj['metadata']['name']}: {answer.stderr}"
    found: dict[str, Any] = json.loads(answer.stdout)
    return found


def test_server_side_apply_creates_every_object_of_the_base(applied: str,
                                                            kubectl: Kubectl) -> None:
    objects = rendered(kubectl)
    assert len(objects) >= 20
    for obj in objects:
        assert live(kubectl, obj)["metadata"]["uid"]
    for name in ("hybridclusters.platform.example.com",
                 "multiclusterapplications.platform.example.com"):
        answer = kubectl("wait", "--for=condition=Established", f"crd/{name}", "--timeout=30s")
        assert answer.returncode == 0, answer.stderr


def test_reapplying_the_base_changes_nothing(applied: str, kubectl: Kubectl) -> None:
    objects = rendered(kubectl)
    before = {(o["kind"], o["metadata"]["name"]): live(kubectl, o)["metadata"]["resourceVersion"]
              for o in objects}
    answer = kubectl("apply", "--server-side", "-k", str(ROOT / "deploy"))
    assert answer.returncode == 0, answer.stderr
    after = {(o["kind"], o["metadata"]["name"]): live(kubectl, o)["metadata"]["resourceVersion"]
             for o in objects}
    assert after == before


def test_both_pod_templates_are_admitted_under_the_restricted_pod_security_standard(
    applied: str, kubectl: Kubectl,
) -> None:
    labels = json.loads(kubectl("get", "namespace", NAMESPACE, "-o", "json").stdout)[
        "metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    for name in ("hybridcloud-operator", "hybridcloud-api"):
        deployment = json.loads(kubectl("get", "deployment", name, "-n", NAMESPACE,
                                        "-o", "json").stdout)
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": f"{name}-probe", "namespace": NAMESPACE},
               "spec": deployment["spec"]["template"]["spec"]}
        answer = kubectl("create", "--dry-run=server", "-f", "-", stdin=json.dumps(pod))
        assert answer.returncode == 0, answer.stderr
        # The control: the same pod as root with privilege escalation is refused by enforcement.
        container = pod["spec"]["containers"][0]
        container["securityContext"] = {"allowPrivilegeEscalation": True}
        pod["spec"]["securityContext"] = {}
        refused = kubectl("create", "--dry-run=server", "-f", "-", stdin=json.dumps(pod))
        assert refused.returncode != 0 and "restricted" in refused.stderr


def test_samples_are_accepted_by_the_installed_crds(applied: str, kubectl: Kubectl) -> None:
    namespace = f"samples-{uuid.uuid4().hex[:6]}"
    assert kubectl("create", "namespace", namespace).returncode == 0
    answer = kubectl("apply", "--server-side", "-n", namespace, "-k",
                     str(ROOT / "deploy" / "samples"))
    assert answer.returncode == 0, answer.stderr
    listed = json.loads(kubectl("get", "hybridclusters,multiclusterapplications,securitypolicies",
                                "-n", namespace, "-o", "json").stdout)["items"]
    assert len(listed) == len(yaml.safe_load(
        (ROOT / "deploy" / "samples" / "kustomization.yaml").read_text())["resources"])


def test_objects_created_after_the_install_carry_the_operators_finalizer(
        applied: str, kubectl: Kubectl) -> None:
    namespace = f"admission-{uuid.uuid4().hex[:6]}"
    assert kubectl("create", "namespace", namespace).returncode == 0
    sample = (ROOT / "deploy" / "samples" / "hybridcluster-local.yaml").read_text()

    def finalizers() -> list[str] | None:  # the policy is enforced a moment after it is applied
        answer = kubectl("create", "--dry-run=server", "-n", namespace, "-o", "json", "-f", "-",
                         stdin=sample)
        assert answer.returncode == 0, answer.stderr
        found: list[str] = json.loads(answer.stdout)["metadata"].get("finalizers") or []
        return found or None

    assert eventually(finalizers, timeout=30) == ["platform.example.com/finalizer"]


def test_built_in_view_edit_and_admin_roles_gain_the_custom_resources(applied: str,
                                                                     kubectl: Kubectl) -> None:
    def granted(role: str) -> set[tuple[str, str]] | None:
        rules = json.loads(kubectl("get", "clusterrole", role, "-o", "json").stdout).get(
            "rules") or []
        found = {(resource, verb) for rule in rules
                 if "platform.example.com" in rule.get("apiGroups", [])
                 for resource in rule.get("resources", []) for verb in rule.get("verbs", [])}
        return found or None

    for role, verb in (("view", "list"), ("edit", "create"), ("admin", "delete")):
        rules = eventually(partial(granted, role), timeout=30,
                           message=f"{role} never aggregated the hybridcloud rules")
        assert ("hybridclusters", verb) in rules and ("multiclusterapplications", verb) in rules
    assert ("hybridclusters", "create") not in (granted("view") or set())

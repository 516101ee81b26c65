"""MultiClusterApplication end to end: the real operator, three `local` member clusters (real
control planes with kwok nodes) and bare git repositories created here with real git.

The member clusters are shared by the module (each costs a control plane); every test uses its
own repository and application. The failover test deletes a cluster, so it runs last.
"""

from __future__ import annotations

import base64
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import Client, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ConfigMap, Secret, Service
from lightkube.types import PatchType

from hybridcloud.controlplane import ControlPlane
from hybridcloud.kube.resources import HybridClusterResource, MultiClusterApplicationResource

from .harness import (
    OperatorProcess,
    condition,
    delivery_operator,
    eventually,
    fresh_namespace,
    wait_gone,
    wait_phase,
)

pytestmark = pytest.mark.integration
APP_LABEL = "platform.example.com/application"
REGIONS = {"east": "local-a", "west": "local-b", "north": "local-c"}

# -- the contract's sample-app and distributed-app ------------------------------------------------

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels: {{app: {name}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
        - name: {name}
          image: registry.example.com/{name}:v1.0.0
          env: [{{name: GREETING, value: "{greeting}"}}]
"""
SERVICE = """\
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  selector: {{app: {name}}}
  ports: [{{port: 80, targetPort: 8080}}]
"""
SETTINGS = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: blue}\n"
SAMPLE_VALUES = {"image": {"tag": "v1.2.3"}, "replicas": 3,
                 "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                               "limits": {"cpu": "500m", "memory": "512Mi"}}}


def sample_files(greeting: str = "hello") -> dict[str, str]:
    return {"k8s/manifests/deployment.yaml": DEPLOYMENT.format(name="sample-app",
                                                                greeting=greeting),
            "k8s/manifests/service.yaml": SERVICE.format(name="sample-app"),
            "k8s/manifests/settings.yaml": SETTINGS}


def distributed_files() -> dict[str, str]:
    files = {"manifests/shared.yaml": SETTINGS}
    for component in ("frontend", "api", "database", "cache"):
        files[f"manifests/{component}/deployment.yaml"] = DEPLOYMENT.format(
            name=component, greeting=component)
    return files


# -- git -------------------------------------------------------------------------------------------

class Repo:
    """A work tree pushing to a bare repository the operator reads through file://."""

    def __init__(self, root: Path) -> None:
        self.work, self.bare = root / "work", root / "origin.git"
        self._git(root, "init", "--quiet", "--bare", "--initial-branch=main", str(self.bare))
        self._git(root, "init", "--quiet", "--initial-branch=main", str(self.work))
        self.url = f"file://{self.bare}"

    @staticmethod
    def _git(cwd: Path, *args: str) -> str:
        env = {**os.environ, "GIT_AUTHOR_NAME": "dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
               "GIT_COMMITTER_NAME": "dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}
        return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, text=True,
                              capture_output=True).stdout.strip()

    def commit(self, files: dict[str, str | None], message: str = "change") -> str:
        for name, text in files.items():
            path = self.work / name
            if text is None:
                path.unlink()
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        self._git(self.work, "add", "-A")
        self._git(self.work, "commit", "--quiet", "-m", message)
        self._git(self.work, "push", "--quiet", str(self.bare), "main")
        return self._git(self.work, "rev-parse", "HEAD")


# -- fixtures --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def app_namespace(kube: Client) -> Iterator[str]:
    with fresh_namespace(kube, "apps") as name:
        yield name


@pytest.fixture(scope="module")
def operator(management: ControlPlane, app_namespace: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    with delivery_operator(management.kubeconfig, app_namespace,
                           tmp_path_factory.mktemp("operator")) as process:
        yield process


@pytest.fixture(scope="module")
def members(kube: Client, app_namespace: str,
            operator: OperatorProcess) -> dict[str, Client]:
    """east (local-a), west (local-b), north (local-c): Active, with admin clients."""
    for name, region in REGIONS.items():
        kube.create(HybridClusterResource.from_dict({
            "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
            "metadata": {"name": name, "labels": {"pool": "main" if name != "north"
                                                  else "spare"}},
            "spec": {"provider": "local", "version": "v1.37.2", "region": region,
                     "nodeGroups": [{"name": "workers", "size": 2}]}}), namespace=app_namespace)
    clients = {}
    for name in REGIONS:
        wait_phase(kube, app_namespace, name, "Active", operator, timeout=180)
        secret = kube.get(Secret, name=f"{name}-kubeconfig", namespace=app_namespace)
        text = base64.b64decode((secret.data or {})["value"]).decode()
        clients[name] = Client(config=KubeConfig.from_dict(yaml.safe_load(text)),
                               field_manager="someone-else")
    return clients


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path)


# -- helpers ---------------------------------------------------------------------------------------

def create_app(kube: Client, namespace: str, name: str, repo: Repo, path: str,
               **spec: Any) -> str:
    body = {"apiVersion": "platform.example.com/v1", "kind": "MultiClusterApplication",
            "metadata": {"name": name},
            "spec": {"source": {"type": "git", "repository": repo.url, "path": path,
                                "revision": "main"}, **spec}}
    created = kube.create(MultiClusterApplicationResource.from_dict(body), namespace=namespace)
    return str(created.metadata.uid)


def get_app(kube: Client, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return dict(kube.get(MultiClusterApplicationResource, name, namespace=namespace)
                    .to_dict())
    except ApiError as exc:
        if exc.status.code == 404:
            return None
        raise


def wait_app(kube: Client, namespace: str, name: str, operator: OperatorProcess,
             check: Callable[[dict[str, Any]], bool], what: str,
             timeout: float = 90) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        obj = get_app(kube, namespace, name)
        return obj if obj and check(obj) else None

    return eventually(probe, timeout=timeout, message=lambda: (
        f"{name}: {what} not reached; status="
        f"{yaml.safe_dump((get_app(kube, namespace, name) or {}).get('status'))}\n"
        f"{operator.tail(30)}"))


def is_ready(obj: dict[str, Any]) -> bool:
    return (condition(obj, "Ready") or {}).get("status") == "True" and \
        obj["status"].get("observedGeneration") == obj["metadata"]["generation"]


def refresh(kube: Client, namespace: str, name: str) -> None:
    kube.patch(MultiClusterApplicationResource, name, {"metadata": {"annotations": {
        "platform.example.com/refresh": uuid.uuid4().hex}}}, namespace=namespace,
        patch_type=PatchType.MERGE)


def deployments(member: Client, namespace: str, uid: str) -> dict[str, Any]:
    # Listing a namespace that does not exist answers an empty list, so any ApiError here
    # (403, 500, ...) is a real failure and must not read as "nothing deployed".
    return {d.metadata.name: d for d in member.list(
        Deployment, namespace=namespace, labels={APP_LABEL: uid})}


def owned_anything(member: Client, uid: str) -> list[str]:
    found = [f"{r.__name__}/{o.metadata.name}" for r in (Deployment, Service, ConfigMap)
             for o in member.list(r, namespace="*", labels={APP_LABEL: uid})]
    return found + [f"inventory/{c.metadata.name}" for c in member.list(
        ConfigMap, namespace="hybridcloud-system") if c.metadata.name == f"app-{uid}"]


# -- delivery ------------------------------------------------------------------------------------

def test_sample_app_is_applied_with_its_values_and_becomes_ready(
        kube: Client, app_namespace: str, operator: OperatorProcess,
        members: dict[str, Client], repo: Repo) -> None:
    sha = repo.commit(sample_files())
    uid = create_app(kube, app_namespace, "sample-app", repo, "k8s/manifests",
                     targetNamespace="production", placement=[{"cluster": "east"}],
                     syncPolicy={"automated": True, "prune": True, "selfHeal": True},
                     values=SAMPLE_VALUES)
    obj = wait_app(kube, app_namespace, "sample-app", operator, is_ready, "Ready")
    status = obj["status"]
    assert status["phase"] == "Deployed" and status["sourceRevision"] == sha
    assert status["placedClusters"] == ["east"]
    for type_ in ("Synced", "PlacementReady"):
        assert (condition(obj, type_) or {}).get("status") == "True", type_
    assert condition(obj, "Reconciling") is None and condition(obj, "Stalled") is None
    [record] = status["deployments"]
    assert (record["cluster"], record["status"], record["health"], record["revision"]) == \
        ("east", "Synced", "Healthy", sha)
    assert record["resources"] == {"deployments": 1, "services": 1, "configmaps": 1, "pods": 3}
    live = members["east"].get(Deployment, "sample-app", namespace="production")
    assert live.status.readyReplicas == 3
    container = live.spec.template.spec.containers[0]
    assert container.image == "registry.example.com/sample-app:v1.2.3"
    assert container.resources.limits == {"cpu": "500m", "memory": "512Mi"}
    assert live.metadata.labels[APP_LABEL] == uid
    assert any(f.manager == "hybridcloud-delivery" for f in live.metadata.managedFields)
    assert members["east"].get(Service, "sample-app", namespace="production")
    assert not deployments(members["west"], "production", uid), "placed on east only"


def test_a_new_commit_rolls_out_and_a_removed_file_is_pruned(
        kube: Client, app_namespace: str, operator: OperatorProcess,
        members: dict[str, Client], repo: Repo) -> None:
    repo.commit(sample_files())
    create_app(kube, app_namespace, "rolling", repo, "k8s/manifests",
               targetNamespace="rolling", placement=[{"cluster": "west"}],
               syncPolicy={"prune": True})
    wait_app(kube, app_namespace, "rolling", operator, is_ready, "Ready")
    east = members["west"]
    assert east.get(ConfigMap, "settings", namespace="rolling")
    files: dict[str, str | None] = {**sample_files("bonjour"),
                                    "k8s/manifests/settings.yaml": None}
    sha = repo.commit(files, "new greeting, no settings")
    refresh(kube, app_namespace, "rolling")
    obj = wait_app(kube, app_namespace, "rolling", operator,
                   lambda o: o["status"].get("sourceRevision") == sha and is_ready(o),
                   "new revision ready")
    assert obj["status"]["deployments"][0]["revision"] == sha
    env = east.get(Deployment, "sample-app", namespace="rolling").spec.template.spec \
        .containers[0].env
    assert [(e.name, e.value) for e in env] == [("GREETING", "bonjour")]
    with pytest.raises(ApiError) as gone:
        east.get(ConfigMap, "settings", namespace="rolling")
    assert gone.value.status.code == 404


def test_a_manual_edit_on_a_member_is_reverted_by_self_heal(
        kube: Client, app_namespace: str, operator: OperatorProcess,
        members: dict[str, Client], repo: Repo) -> None:
    repo.commit(sample_files())
    create_app(kube, app_namespace, "healing", repo, "k8s/manifests", targetNamespace="healing",
               placement=[{"cluster": "east"}], values={"replicas": 2},
               syncPolicy={"selfHeal": True})
    wait_app(kube, app_namespace, "healing", operator, is_ready, "Ready")
    east = members["east"]
    edited = east.patch(Deployment, "sample-app", {"spec": {"replicas": 5}}, namespace="healing")
    assert edited.spec.replicas == 5
    edited_cm = east.patch(ConfigMap, "settings", {"data": {"mode": "green"}},
                           namespace="healing")
    assert edited_cm.data == {"mode": "green"}
    eventually(lambda: east.get(Deployment, "sample-app", namespace="healing").spec.replicas
               == 2 and east.get(ConfigMap, "settings", namespace="healing").data
               == {"mode": "blue"}, timeout=30, message=lambda: operator.tail(20))


def test_distributed_app_components_land_on_their_clusters(
        kube: Client, app_namespace: str, operator: OperatorProcess,
        members: dict[str, Client], repo: Repo) -> None:
    repo.commit(distributed_files())
    uid = create_app(
        kube, app_namespace, "distributed-app", repo, "manifests", targetNamespace="dist",
        placement=[{"cluster": "east", "components": ["frontend", "api"]},
                   {"cluster": "west", "components": ["database", "cache"],
                    "values": {"replicas": 2}}],
        placementPolicy={"strategy": "availability", "clusterSelector": {
            "matchLabels": {"pool": "main"}},
            "constraints": [{"type": "region_diversity", "minRegions": 2}]})
    obj = wait_app(kube, app_namespace, "distributed-app", operator, is_ready, "Ready")
    on_east = deployments(members["east"], "dist", uid)
    on_west = deployments(members["west"], "dist", uid)
    assert sorted(on_east) == ["api", "frontend"]
    assert sorted(on_west) == ["cache", "database"]
    assert all(d.status.readyReplicas == 2 for d in on_west.values())
    assert all(d.status.readyReplicas == 1 for d in on_east.values())
    for member in ("east", "west"):  # common manifests go everywhere
        assert members[member].get(ConfigMap, "settings", namespace="dist")
    records = {d["cluster"]: d["components"] for d in obj["status"]["deployments"]}
    assert records == {"east": ["frontend", "api"], "west": ["database", "cache"]}


def test_impossible_constraints_say_why_and_apply_nothing(
        kube: Client, app_namespace: str, operator: OperatorProcess,
        members: dict[str, Client], repo: Repo) -> None:
    repo.commit(distributed_files())
    uid = create_app(
        kube, app_namespace, "two-clouds", repo, "manifests", targetNamespace="clouds",
        placement=[{"cluster": "east", "components": ["frontend", "api"]},
                   {"cluster": "west", "components": ["database", "cache"]}],
        placementPolicy={"strategy": "availability", "constraints": [
            {"type": "region_diversity", "minRegions": 2},
            {"type": "provider_diversity", "minProviders": 2}]})
    obj = wait_app(kube, app_namespace, "two-clouds", operator,
                   lambda o: (condition(o, "PlacementReady") or {}).get("status") == "False",
                   "PlacementReady=False")
    placement = condition(obj, "PlacementReady") or {}
    assert placement["reason"] == "ConstraintsUnsatisfiable"
    assert "provider_diversity needs 2 providers but eligible clusters span 1 (local)" in \
        placement["message"]
    assert (condition(obj, "Stalled") or {}).get("status") == "True"
    assert obj["status"]["phase"] == "Failed"
    for member in members.values():
        assert owned_anything(member, uid) == []


def test_a_broken_manifest_is_reported_by_file_and_running_objects_stay(
        kube: Client, app_namespace: str, operator: OperatorProcess,
        members: dict[str, Client], repo: Repo) -> None:
    repo.commit(sample_files())
    create_app(kube, app_namespace, "fragile", repo, "k8s/manifests", targetNamespace="fragile",
               placement=[{"cluster": "east"}], syncPolicy={"prune": True, "selfHeal": True})
    wait_app(kube, app_namespace, "fragile", operator, is_ready, "Ready")
    before = members["east"].get(Deployment, "sample-app", namespace="fragile")
    repo.commit({"k8s/manifests/service.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n"
                 "  name: [unclosed\n", "k8s/manifests/settings.yaml": None})
    refresh(kube, app_namespace, "fragile")
    obj = wait_app(kube, app_namespace, "fragile", operator,
                   lambda o: (condition(o, "Synced") or {}).get("reason") == "RenderFailed",
                   "Synced=False RenderFailed")
    message = (condition(obj, "Synced") or {})["message"]
    assert message.startswith("service.yaml:5: invalid YAML"), message
    assert (condition(obj, "Ready") or {}).get("status") == "False"
    after = members["east"].get(Deployment, "sample-app", namespace="fragile")
    assert (after.metadata.uid, after.metadata.generation) == \
        (before.metadata.uid, before.metadata.generation)
    assert after.status.readyReplicas == 1
    assert members["east"].get(ConfigMap, "settings", namespace="fragile"), "nothing pruned"


def test_deleting_the_app_removes_it_from_every_member(
        kube: Client, app_namespace: str, operator: OperatorProcess,
        members: dict[str, Client], repo: Repo) -> None:
    repo.commit(sample_files())
    uid = create_app(kube, app_namespace, "everywhere", repo, "k8s/manifests",
                     targetNamespace="everywhere", placementPolicy={
                         "strategy": "spread", "clusterSelector": {
                             "matchLabels": {"pool": "main"}}})
    obj = wait_app(kube, app_namespace, "everywhere", operator, is_ready, "Ready")
    assert sorted(obj["status"]["placedClusters"]) == ["east", "west"]
    assert owned_anything(members["east"], uid) and owned_anything(members["west"], uid)
    kube.delete(MultiClusterApplicationResource, "everywhere", namespace=app_namespace)
    eventually(lambda: get_app(kube, app_namespace, "everywhere") is None, timeout=60,
               message=lambda: operator.tail(20))
    for member in members.values():
        assert owned_anything(member, uid) == []


def test_a_helm_chart_is_rendered_with_the_app_values(
        kube: Client, app_namespace: str, operator: OperatorProcess,
        members: dict[str, Client], repo: Repo) -> None:
    template = DEPLOYMENT.format(name="{{ .Release.Name }}-web", greeting="{{ .Values.greeting }}")
    repo.commit({"chart/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
                 "chart/values.yaml": "greeting: hi\n",
                 "chart/templates/deployment.yaml": template.replace(
                     "replicas: 1", "replicas: {{ .Values.replicas | default 1 }}")})
    uid = create_app(kube, app_namespace, "charted", repo, "chart", targetNamespace="charted",
                     placement=[{"cluster": "west", "values": {"greeting": "from-helm"}}],
                     values={"replicas": 2})
    wait_app(kube, app_namespace, "charted", operator, is_ready, "Ready")
    live = deployments(members["west"], "charted", uid)["charted-web"]
    assert live.status.readyReplicas == 2
    assert live.spec.template.spec.containers[0].env[0].value == "from-helm"


def test_a_kustomize_overlay_is_built_over_its_base_and_takes_the_app_values(
        kube: Client, app_namespace: str, operator: OperatorProcess,
        members: dict[str, Client], repo: Repo) -> None:
    repo.commit({
        "kustomize/base/kustomization.yaml": "resources: [deployment.yaml]\n",
        "kustomize/base/deployment.yaml": DEPLOYMENT.format(name="web", greeting="base"),
        "kustomize/overlays/prod/kustomization.yaml":
            "resources: [../../base]\nnamePrefix: prod-\npatches:\n  - path: env.yaml\n",
        "kustomize/overlays/prod/env.yaml":
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n"
            "  template:\n    spec:\n      containers:\n        - name: web\n"
            "          env: [{name: GREETING, value: from-overlay}]\n"})
    uid = create_app(kube, app_namespace, "kustomized", repo, "kustomize/overlays/prod",
                     targetNamespace="kustomized", placement=[{"cluster": "west"}],
                     values={"replicas": 2, "image": {"tag": "v2.0.0"}})
    wait_app(kube, app_namespace, "kustomized", operator, is_ready, "Ready")
    live = deployments(members["west"], "kustomized", uid)["prod-web"]
    assert live.status.readyReplicas == 2
    container = live.spec.template.spec.containers[0]
    assert container.env[0].value == "from-overlay"
    assert container.image == "registry.example.com/web:v2.0.0"


# -- failover (deletes a member cluster: keep last) ----------------------------------------------

def test_a_lost_cluster_moves_the_app_within_its_constraints(
        kube: Client, app_namespace: str, operator: OperatorProcess,
        members: dict[str, Client], repo: Repo) -> None:
    repo.commit(sample_files())
    uid = create_app(kube, app_namespace, "resilient", repo, "k8s/manifests",
                     targetNamespace="resilient", placementPolicy={
                         "strategy": "availability", "clusterCount": 2,
                         "constraints": [{"type": "region_diversity", "minRegions": 2}]})
    obj = wait_app(kube, app_namespace, "resilient", operator, is_ready, "Ready")
    placed = sorted(obj["status"]["placedClusters"])
    assert placed == ["east", "north"], "ties are broken by name"
    assert not deployments(members["west"], "resilient", uid)
    kube.delete(HybridClusterResource, "north", namespace=app_namespace)
    obj = wait_app(kube, app_namespace, "resilient", operator,
                   lambda o: sorted(o["status"].get("placedClusters") or []) == ["east", "west"]
                   and is_ready(o), "moved to west", timeout=120)
    assert {REGIONS[c] for c in obj["status"]["placedClusters"]} == {"local-a", "local-b"}
    assert deployments(members["west"], "resilient", uid)["sample-app"].status \
        .readyReplicas == 1
    wait_gone(kube, app_namespace, "north", operator)

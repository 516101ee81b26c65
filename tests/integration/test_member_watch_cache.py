"""Delivery reads members through watches of what the platform applied, not GETs per pass.

One `local` member and an operator whose resync is ten minutes away: anything that happens
within a test happens because of a watch event or an explicit pass, never the resync. Requests
to the member are counted with its own ``apiserver_request_total`` metric (read with the
member's admin credential), restricted to the kinds the applications deliver.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from lightkube import Client, KubeConfig
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ConfigMap, Namespace, Secret
from lightkube.types import PatchType

from hybridcloud.controlplane import ControlPlane
from hybridcloud.controlplane._net import free_ports
from hybridcloud.delivery.githooks import REFRESH_ANNOTATION
from hybridcloud.kube.resources import HybridClusterResource, MultiClusterApplicationResource

from .harness import OperatorProcess, delivery_operator, eventually, fresh_namespace, wait_phase
from .test_application_delivery import (
    SETTINGS,
    Repo,
    create_app,
    is_ready,
    sample_files,
    wait_app,
)

pytestmark = pytest.mark.integration
APPS = 4
DELIVERED = ("configmaps", "deployments", "services")


@pytest.fixture(scope="module")
def tenant(kube: Client) -> Iterator[str]:
    with fresh_namespace(kube, "watchcache") as name:
        yield name


@pytest.fixture(scope="module")
def metrics_port() -> int:
    return free_ports(1)[0]


@pytest.fixture(scope="module")
def operator(management: ControlPlane, tenant: str, metrics_port: int,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    with delivery_operator(management.kubeconfig, tenant, tmp_path_factory.mktemp("operator"),
                           HYBRIDCLOUD_OPERATOR_RESYNC_INTERVAL="600",
                           HYBRIDCLOUD_OPERATOR_METRICS_PORT=str(metrics_port)) as process:
        yield process


@pytest.fixture(scope="module")
def member(kube: Client, tenant: str, operator: OperatorProcess,
           tmp_path_factory: pytest.TempPathFactory) -> tuple[Client, httpx.Client]:
    """The Active member: a lightkube client and an httpx client for its /metrics."""
    kube.create(HybridClusterResource.from_dict({
        "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
        "metadata": {"name": "east"},
        "spec": {"provider": "local", "version": "v1.37.2", "region": "local-a",
                 "nodeGroups": [{"name": "workers", "size": 1}]}}), namespace=tenant)
    wait_phase(kube, tenant, "east", "Active", operator, timeout=180)
    secret = kube.get(Secret, name="east-kubeconfig", namespace=tenant)
    text = base64.b64decode((secret.data or {})["value"]).decode()
    config = yaml.safe_load(text)
    folder = tmp_path_factory.mktemp("member")
    user = config["users"][0]["user"]
    files = {}
    for field in ("certificate-authority-data", "client-certificate-data", "client-key-data"):
        source = config["clusters"][0]["cluster"] if field.startswith("cert") else user
        path = folder / field
        path.write_bytes(base64.b64decode(source[field]))
        files[field] = str(path)
    context = ssl.create_default_context(cafile=files["certificate-authority-data"])
    context.load_cert_chain(files["client-certificate-data"], files["client-key-data"])
    http = httpx.Client(base_url=config["clusters"][0]["cluster"]["server"], verify=context)
    return (Client(config=KubeConfig.from_dict(config), field_manager="someone-else"), http)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    return Repo(Path(tmp_path_factory.mktemp("repo")))


@pytest.fixture(scope="module")
def apps(kube: Client, tenant: str, operator: OperatorProcess,
         member: tuple[Client, httpx.Client], repo: Repo) -> list[str]:
    repo.commit(sample_files())
    names = [f"cached-{i}" for i in range(APPS)]
    for name in names:
        create_app(kube, tenant, name, repo, "k8s/manifests", targetNamespace=name,
                   placement=[{"cluster": "east"}], syncPolicy={"selfHeal": True})
    for name in names:
        wait_app(kube, tenant, name, operator, is_ready, "Ready", timeout=120)
    return names


def member_requests(http: httpx.Client, verb: str,
                    resources: tuple[str, ...] = DELIVERED) -> float:
    """``apiserver_request_total`` for ``verb`` on ``resources`` (the kinds the apps deliver)."""
    text = http.get("/metrics").raise_for_status().text
    total = 0.0
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if labels.get("verb") == verb and labels.get("resource") in resources:
            total += float(line.rsplit(" ", 1)[1])
    return total


def operator_syncs(port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").raise_for_status().text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("hybridcloud_delivery_syncs_total{"))


def test_passes_at_rest_read_the_member_from_watches_and_send_it_no_get(
        kube: Client, tenant: str, member: tuple[Client, httpx.Client], apps: list[str],
        metrics_port: int, operator: OperatorProcess) -> None:
    _, http = member
    syncs, gets = operator_syncs(metrics_port), member_requests(http, "GET")
    patches = member_requests(http, "PATCH")
    for name in apps:  # a full pass per application, as a resync would run it
        kube.patch(MultiClusterApplicationResource, name, {"metadata": {"annotations": {
            "example.com/poke": uuid.uuid4().hex}}}, namespace=tenant,
            patch_type=PatchType.MERGE)
    eventually(lambda: operator_syncs(metrics_port) >= syncs + APPS, timeout=60,
               message=lambda: f"passes did not run\n{operator.tail(20)}")
    assert member_requests(http, "GET") == gets
    assert member_requests(http, "PATCH") == patches


def test_drift_on_a_member_is_healed_from_the_watch_without_a_resync(
        member: tuple[Client, httpx.Client], apps: list[str],
        operator: OperatorProcess) -> None:
    client, _ = member
    namespace = apps[0]
    client.patch(Deployment, "sample-app", {"spec": {"replicas": 4}}, namespace=namespace)
    client.patch(ConfigMap, "settings", {"data": {"mode": "green"}}, namespace=namespace)
    eventually(lambda: client.get(Deployment, "sample-app", namespace=namespace).spec.replicas
               == 1 and client.get(ConfigMap, "settings", namespace=namespace).data
               == {"mode": "blue"}, timeout=30, message=lambda: operator.tail(20))


def test_an_object_deleted_on_a_member_is_recreated_from_the_watch(
        member: tuple[Client, httpx.Client], apps: list[str],
        operator: OperatorProcess) -> None:
    client, _ = member
    namespace = apps[1]
    client.delete(ConfigMap, "settings", namespace=namespace)
    eventually(lambda: any(c.metadata.name == "settings"
                           for c in client.list(ConfigMap, namespace=namespace)),
               timeout=30, message=lambda: operator.tail(20))


def test_a_new_commit_costs_one_apply_per_object_and_no_other_request(
        kube: Client, tenant: str, member: tuple[Client, httpx.Client], apps: list[str],
        repo: Repo, operator: OperatorProcess) -> None:
    """What a push costs each member per application: the objects applied, nothing else. No
    namespace GETs before each write (the namespaces are known to exist) and no inventory write:
    it lists the same objects, and the rendering's digest is kept in the application's status
    (issue 19, commit to fleet)."""
    _, http = member
    counted = (*DELIVERED, "namespaces")

    def counts() -> tuple[float, float]:  # server-side applies are counted as verb APPLY
        return member_requests(http, "GET", counted), \
            member_requests(http, "APPLY", counted) + member_requests(http, "PATCH", counted)

    before = _at_rest(counts)  # the earlier tests' passes have ended
    sha = repo.commit(sample_files(greeting="bonjour"), message="bonjour")
    for name in apps:  # what the Git webhook receiver does for a push
        kube.patch(MultiClusterApplicationResource, name, {"metadata": {"annotations": {
            REFRESH_ANNOTATION: uuid.uuid4().hex}}}, namespace=tenant,
            patch_type=PatchType.MERGE)

    def delivered() -> bool:
        return all((kube.get(MultiClusterApplicationResource, name, namespace=tenant).status
                    or {}).get("sourceRevision") == sha for name in apps)

    eventually(delivered, timeout=60, message=lambda: operator.tail(20))
    gets, patches = counts()
    objects = len(sample_files())
    assert gets - before[0] == 0
    assert patches - before[1] == APPS * objects


def _at_rest(counts: Callable[[], tuple[float, ...]]) -> tuple[float, ...]:
    """``counts()`` once two readings two seconds apart agree."""
    previous = counts()
    for _ in range(15):
        time.sleep(2)
        current = counts()
        if current == previous:
            return current
        previous = current
    raise AssertionError("the member never came to rest")


def test_a_target_namespace_deleted_on_a_member_is_created_again_with_the_objects(
        member: tuple[Client, httpx.Client], apps: list[str],
        operator: OperatorProcess) -> None:
    """Namespaces are not asked for before every write once seen; a write into a namespace
    deleted since then answers 404, and the next pass creates it again."""
    client, _ = member
    namespace = apps[2]
    client.delete(Namespace, namespace)
    eventually(lambda: namespace not in {n.metadata.name for n in client.list(Namespace)
                                         if n.metadata},
               timeout=120, message="the member never finished deleting the namespace")
    eventually(lambda: any(c.metadata.name == "settings"
                           for c in client.list(ConfigMap, namespace=namespace)),
               timeout=90, message=lambda: operator.tail(20))


def test_a_new_commit_runs_one_pass_per_application_not_a_second_for_its_own_applies(
        kube: Client, tenant: str, apps: list[str], repo: Repo, metrics_port: int,
        operator: OperatorProcess) -> None:
    """The member watch reports every apply of ours back as MODIFIED; taking that echo for
    someone else's edit queued a second full pass per application and member after each push,
    which doubled the work queue and the commit-to-fleet time (issue 19). Only a ConfigMap
    changes here: no rollout (health moving) may legitimately ask for another pass."""
    before = _at_rest(lambda: (operator_syncs(metrics_port), 0.0))[0]
    settings = SETTINGS.replace("blue", f"amber-{uuid.uuid4().hex[:6]}")
    sha = repo.commit({"k8s/manifests/settings.yaml": settings}, message="amber")
    for name in apps:
        kube.patch(MultiClusterApplicationResource, name, {"metadata": {"annotations": {
            REFRESH_ANNOTATION: uuid.uuid4().hex}}}, namespace=tenant,
            patch_type=PatchType.MERGE)

    def delivered() -> bool:
        return all((kube.get(MultiClusterApplicationResource, name, namespace=tenant).status
                    or {}).get("sourceRevision") == sha for name in apps)

    eventually(delivered, timeout=60, message=lambda: operator.tail(20))
    after = _at_rest(lambda: (operator_syncs(metrics_port), 0.0))[0]
    assert after - before == APPS  # one member, one pass per application


def test_a_new_application_in_a_new_namespace_sends_no_get_at_all(
        kube: Client, tenant: str, member: tuple[Client, httpx.Client], apps: list[str],
        repo: Repo, operator: OperatorProcess) -> None:
    """Nothing can exist in a namespace that does not, and the member's watches already say
    that neither the namespace nor the application's inventory exists: the first delivery asks
    the member for nothing (one GET per object, then one for the namespace and one for the
    inventory, before issue 19's delivery profile) and writes the namespace, the inventory once
    (created before the objects it lists; the rendering's digest is kept in the application's
    status, not written to it again after them) and one apply per object."""
    _, http = member
    counted = (*DELIVERED, "namespaces")

    def counts() -> tuple[float, float, float]:  # (the member's own controllers POST)
        return (member_requests(http, "GET", DELIVERED),
                member_requests(http, "GET", ("namespaces",)),
                member_requests(http, "APPLY", counted) + member_requests(http, "PATCH", counted))

    before = _at_rest(counts)
    name = f"fresh-{uuid.uuid4().hex[:6]}"
    create_app(kube, tenant, name, repo, "k8s/manifests", targetNamespace=name,
               placement=[{"cluster": "east"}])
    wait_app(kube, tenant, name, operator, is_ready, "Ready", timeout=120)
    gets, namespace_gets, applies = (
        after - earlier for after, earlier in zip(counts(), before, strict=True))
    assert gets == 0
    assert namespace_gets == 0
    assert applies == len(sample_files()) + 1  # the namespace and the objects
    client, _ = member
    meta = kube.get(MultiClusterApplicationResource, name, namespace=tenant).metadata
    assert meta is not None
    inventory = client.get(ConfigMap, f"app-{meta.uid}", namespace="hybridcloud-system")
    assert len(json.loads((inventory.data or {})["objects"])) == len(sample_files())

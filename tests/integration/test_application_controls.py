"""MultiClusterApplication controls end to end: pause, manual sync and self-heal off.

The real operator, two `local` member clusters shared by the module and a bare git repository
per test. "Nothing is written" is checked on the members themselves: objects keep their content
and the inventory ConfigMap keeps its resourceVersion.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from lightkube import Client, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ConfigMap, Namespace, Secret, Service
from lightkube.types import PatchType

from hybridcloud.controlplane import ControlPlane
from hybridcloud.kube.resources import HybridClusterResource, MultiClusterApplicationResource
from tests.unit.test_argocd_health import health

from .harness import (
    OperatorProcess,
    condition,
    delivery_operator,
    eventually,
    fresh_namespace,
    wait_phase,
)
from .test_application_delivery import (
    Repo,
    create_app,
    deployments,
    get_app,
    is_ready,
    owned_anything,
    refresh,
    sample_files,
    wait_app,
)

pytestmark = pytest.mark.integration
PAUSED = "platform.example.com/paused"
SYNC = "platform.example.com/sync"
SYNCED = "platform.example.com/synced"


@pytest.fixture(scope="module")
def app_namespace(kube: Client) -> Iterator[str]:
    with fresh_namespace(kube, "controls") as name:
        yield name


@pytest.fixture(scope="module")
def operator(management: ControlPlane, app_namespace: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    with delivery_operator(management.kubeconfig, app_namespace,
                           tmp_path_factory.mktemp("operator")) as process:
        yield process


@pytest.fixture(scope="module")
def members(kube: Client, app_namespace: str, operator: OperatorProcess) -> dict[str, Client]:
    """east and west: Active `local` clusters, with admin clients."""
    for name in ("east", "west"):
        kube.create(HybridClusterResource.from_dict({
            "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
            "metadata": {"name": name},
            "spec": {"provider": "local", "version": "v1.37.2", "region": f"local-{name}",
                     "nodeGroups": [{"name": "workers", "size": 1}]}}), namespace=app_namespace)
    clients = {}
    for name in ("east", "west"):
        wait_phase(kube, app_namespace, name, "Active", operator, timeout=180)
        secret = kube.get(Secret, name=f"{name}-kubeconfig", namespace=app_namespace)
        text = base64.b64decode((secret.data or {})["value"]).decode()
        clients[name] = Client(config=KubeConfig.from_dict(yaml.safe_load(text)),
                               field_manager="someone-else")
    return clients


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path)


# -- helpers ---------------------------------------------------------------------------------

def annotate(kube: Client, namespace: str, name: str, **values: str | None) -> None:
    annotations = {f"platform.example.com/{key}": value for key, value in values.items()}
    kube.patch(MultiClusterApplicationResource, name, {"metadata": {"annotations": annotations}},
               namespace=namespace, patch_type=PatchType.MERGE)


def record(obj: dict[str, Any], cluster: str) -> dict[str, Any]:
    deployed = (obj.get("status") or {}).get("deployments") or []
    return next((d for d in deployed if d["cluster"] == cluster), {})


def inventory_version(member: Client, uid: str) -> str | None:
    try:
        found = member.get(ConfigMap, f"app-{uid}", namespace="hybridcloud-system")
    except ApiError as exc:
        if exc.status.code == 404:
            return None
        raise
    return found.metadata.resourceVersion


def greeting(member: Client, namespace: str) -> str | None:
    env = member.get(Deployment, "sample-app", namespace=namespace).spec.template.spec \
        .containers[0].env
    return next(e.value for e in env if e.name == "GREETING")


def exists(member: Client, resource: Any, name: str, namespace: str | None = None) -> bool:
    try:
        member.get(resource, name, namespace=namespace)
    except ApiError as exc:
        if exc.status.code == 404:
            return False
        raise
    return True


# A member-side request count: apiserver_request_total for the objects the delivery engine
# reads (any verb); the member's own controllers only watch these, so growth is the operator.
_REQUESTS = re.compile(r'^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<count>\S+)$', re.M)
_DELIVERED = ('resource="configmaps"', 'resource="deployments"', 'resource="services"')


def member_requests(operator: OperatorProcess, cluster: str) -> int:
    """How many requests about ConfigMaps, Deployments and Services the `local` member
    ``cluster`` served so far, read from its apiserver's /metrics with its admin identity."""
    homes = sorted((operator.workdir / "local").glob(f"hc-{cluster}-*"))
    assert len(homes) == 1, homes
    plane = homes[0] / "cp"
    server = json.loads((plane / "state.json").read_text())["server"]
    tls = ssl.create_default_context(cafile=str(plane / "pki" / "ca.crt"))
    tls.load_cert_chain(str(plane / "pki" / "admin.crt"), str(plane / "pki" / "admin.key"))
    answer = httpx.get(f"{server}/metrics", verify=tls, timeout=10)
    answer.raise_for_status()
    return sum(int(float(m["count"])) for m in _REQUESTS.finditer(answer.text)
               if any(r in m["labels"] for r in _DELIVERED))


def paused_condition(obj: dict[str, Any]) -> bool:
    return (condition(obj, "Paused") or {}).get("status") == "True"


# -- pause -----------------------------------------------------------------------------------

def test_a_paused_app_writes_nothing_reports_what_differs_and_resumes_when_unpaused(
        kube: Client, app_namespace: str, operator: OperatorProcess,
        members: dict[str, Client], repo: Repo) -> None:
    ns, east = app_namespace, members["east"]
    repo.commit(sample_files())
    uid = create_app(kube, ns, "halted", repo, "k8s/manifests", targetNamespace="halted",
                     placement=[{"cluster": "east"}],
                     syncPolicy={"automated": True, "prune": True, "selfHeal": True})
    wait_app(kube, ns, "halted", operator, is_ready, "Ready")
    annotate(kube, ns, "halted", paused="true")
    obj = wait_app(kube, ns, "halted", operator, paused_condition, "Paused=True")
    assert (condition(obj, "Paused") or {})["message"] == \
        f"annotation {PAUSED} is set; nothing is written to member clusters"
    assert health(obj)["status"] == "Suspended", "Argo CD's health check reads the condition"
    inventory = inventory_version(east, uid)
    service = east.get(Service, "sample-app", namespace="halted").metadata.resourceVersion

    # Drift (self-heal would revert it), a new commit (apply), a removed file (prune) and a
    # sync request: none of them may reach the member while paused.
    east.patch(ConfigMap, "settings", {"data": {"mode": "green"}}, namespace="halted")
    sha = repo.commit({**sample_files("bonjour"), "k8s/manifests/service.yaml": None})
    annotate(kube, ns, "halted", sync="while-paused")
    refresh(kube, ns, "halted")
    obj = wait_app(kube, ns, "halted", operator,
                   lambda o: (o.get("status") or {}).get("sourceRevision") == sha
                   and record(o, "east").get("status") == "OutOfSync", "changes reported")
    message = record(obj, "east")["message"]
    assert "ConfigMap halted/settings (.data.mode)" in message, message
    assert "Service halted/sample-app (no longer in git)" in message, message
    assert message.endswith(f"not applied: annotation {PAUSED} is set; nothing is written to "
                            "member clusters"), message
    assert (condition(obj, "Synced") or {}).get("reason") == "OutOfSync"
    assert SYNCED not in obj["metadata"]["annotations"], "the sync request waits for resume"
    before = member_requests(operator, "east")
    time.sleep(6)  # one more resync (5s) must not write either
    # ...and it ran: the operator looked at the member again during the wait.
    assert member_requests(operator, "east") > before, "no resync reached the member in 6 s"
    assert east.get(ConfigMap, "settings", namespace="halted").data == {"mode": "green"}
    assert greeting(east, "halted") == "hello"
    assert east.get(Service, "sample-app", namespace="halted").metadata.resourceVersion == \
        service
    assert inventory_version(east, uid) == inventory

    annotate(kube, ns, "halted", paused=None)
    obj = wait_app(kube, ns, "halted", operator,
                   lambda o: is_ready(o) and record(o, "east").get("revision") == sha
                   and not paused_condition(o), "resumed and synced")
    assert condition(obj, "Paused") is None
    assert obj["metadata"]["annotations"][SYNCED] == "while-paused"
    assert east.get(ConfigMap, "settings", namespace="halted").data == {"mode": "blue"}
    assert greeting(east, "halted") == "bonjour"
    assert not exists(east, Service, "sample-app", "halted"), "pruned after resume"


def test_a_paused_app_keeps_a_cluster_it_left_and_its_deletion_waits_for_resume(
        kube: Client, app_namespace: str, operator: OperatorProcess,
        members: dict[str, Client], repo: Repo) -> None:
    ns, east, west = app_namespace, members["east"], members["west"]
    repo.commit(sample_files())
    uid = create_app(kube, ns, "anchored", repo, "k8s/manifests", targetNamespace="anchored",
                     placement=[{"cluster": "east"}])
    wait_app(kube, ns, "anchored", operator, is_ready, "Ready")
    annotate(kube, ns, "anchored", paused="true")
    wait_app(kube, ns, "anchored", operator, paused_condition, "Paused=True")
    kube.patch(MultiClusterApplicationResource, "anchored",
               {"spec": {"placement": [{"cluster": "west"}]}}, namespace=ns,
               patch_type=PatchType.MERGE)
    obj = wait_app(kube, ns, "anchored", operator,
                   lambda o: (o.get("status") or {}).get("observedGeneration") == 2
                   and record(o, "east").get("status") == "Removing", "east held")
    assert obj["status"]["placedClusters"] == ["west"]
    assert record(obj, "east")["message"].startswith("not removed: annotation")
    assert record(obj, "west")["status"] == "OutOfSync"
    assert "Deployment anchored/sample-app (missing)" in record(obj, "west")["message"]
    assert deployments(east, "anchored", uid), "still on east"
    assert owned_anything(west, uid) == [] and not exists(west, Namespace, "anchored")

    kube.delete(MultiClusterApplicationResource, "anchored", namespace=ns)
    obj = wait_app(kube, ns, "anchored", operator,
                   lambda o: (o.get("status") or {}).get("phase") == "Deleting", "Deleting")
    assert (condition(obj, "Paused") or {})["message"].endswith(
        "deletion waits until it is removed")
    assert condition(obj, "Reconciling") is None
    time.sleep(3)
    assert get_app(kube, ns, "anchored") is not None, "the finalizer holds while paused"
    assert deployments(east, "anchored", uid)

    annotate(kube, ns, "anchored", paused=None)
    eventually(lambda: get_app(kube, ns, "anchored") is None, timeout=60,
               message=lambda: operator.tail(20))
    assert owned_anything(east, uid) == [] and owned_anything(west, uid) == []


# -- manual sync -----------------------------------------------------------------------------

def test_with_automated_sync_off_only_a_new_sync_value_applies_even_across_restarts(
        kube: Client, app_namespace: str, operator: OperatorProcess,
        members: dict[str, Client], repo: Repo) -> None:
    ns, west = app_namespace, members["west"]
    repo.commit(sample_files())
    uid = create_app(kube, ns, "manual", repo, "k8s/manifests", targetNamespace="manual",
                     placement=[{"cluster": "west"}], syncPolicy={"automated": False})
    obj = wait_app(kube, ns, "manual", operator,
                   lambda o: record(o, "west").get("status") == "OutOfSync", "OutOfSync")
    assert record(obj, "west")["message"].endswith(
        f"not applied: automated sync is off; set annotation {SYNC} to a new value to sync")
    assert "revision" not in record(obj, "west") and obj["status"]["phase"] != "Deployed"
    assert owned_anything(west, uid) == [] and not exists(west, Namespace, "manual")

    annotate(kube, ns, "manual", sync="first")
    obj = wait_app(kube, ns, "manual", operator, is_ready, "Ready after the first sync")
    assert obj["metadata"]["annotations"][SYNCED] == "first"
    assert greeting(west, "manual") == "hello"

    second = repo.commit(sample_files("bonjour"))
    refresh(kube, ns, "manual")
    wait_app(kube, ns, "manual", operator,
             lambda o: (o.get("status") or {}).get("sourceRevision") == second
             and record(o, "west").get("status") == "OutOfSync", "new commit held")
    assert greeting(west, "manual") == "hello"
    annotate(kube, ns, "manual", sync="second")
    wait_app(kube, ns, "manual", operator,
             lambda o: is_ready(o) and record(o, "west").get("revision") == second,
             "second commit synced")
    assert greeting(west, "manual") == "bonjour"

    # The sync value already carried out is on the object: a restarted operator does not
    # take it for a new request.
    third = repo.commit(sample_files("hallo"))
    operator.stop()
    operator.start()
    refresh(kube, ns, "manual")
    wait_app(kube, ns, "manual", operator,
             lambda o: (o.get("status") or {}).get("sourceRevision") == third
             and record(o, "west").get("status") == "OutOfSync", "third commit held",
             timeout=60)
    assert greeting(west, "manual") == "bonjour"


# -- self-heal off ---------------------------------------------------------------------------

def test_with_self_heal_off_drift_is_reported_by_field_and_left_until_a_sync(
        kube: Client, app_namespace: str, operator: OperatorProcess,
        members: dict[str, Client], repo: Repo) -> None:
    ns, east = app_namespace, members["east"]
    repo.commit(sample_files())
    create_app(kube, ns, "drifting", repo, "k8s/manifests", targetNamespace="drifting",
               placement=[{"cluster": "east"}], syncPolicy={"selfHeal": False})
    wait_app(kube, ns, "drifting", operator, is_ready, "Ready")
    east.patch(Deployment, "sample-app", {"spec": {"replicas": 3}}, namespace="drifting")
    obj = wait_app(kube, ns, "drifting", operator,
                   lambda o: (condition(o, "Synced") or {}).get("status") == "False",
                   "Synced=False")
    synced = condition(obj, "Synced") or {}
    assert synced["reason"] == "OutOfSync"
    assert synced["message"] == ("east: 1 object(s) differ from git: "
                                 "Deployment drifting/sample-app (.spec.replicas)")
    assert record(obj, "east")["status"] == "OutOfSync"
    before = member_requests(operator, "east")
    time.sleep(6)  # another resync: still reported, still not reverted
    assert member_requests(operator, "east") > before, "no resync reached the member in 6 s"
    assert east.get(Deployment, "sample-app", namespace="drifting").spec.replicas == 3
    obj = get_app(kube, ns, "drifting") or {}
    assert record(obj, "east")["status"] == "OutOfSync"

    annotate(kube, ns, "drifting", sync="revert")
    wait_app(kube, ns, "drifting", operator, is_ready, "Ready after the sync")
    assert east.get(Deployment, "sample-app", namespace="drifting").spec.replicas == 1


# -- drift as the apiserver stores it -------------------------------------------------------

# Quantities written the way people write them; the apiserver stores 1, 1Gi, 500m and 1Gi.
CANONICALISED = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: sample-app, labels: {app: sample-app}}
spec:
  selector: {matchLabels: {app: sample-app}}
  template:
    metadata: {labels: {app: sample-app}}
    spec:
      containers:
        - name: sample-app
          image: registry.example.com/sample-app:v1.0.0
          resources:
            limits: {cpu: 1000m, memory: 1Gi}
            requests: {cpu: 0.5, memory: 1024Mi}
"""


def heals(operator: OperatorProcess, namespace: str) -> int:
    """How many times the operator re-applied a drifted object of ``namespace``."""
    return sum(1 for line in operator.log.read_text(errors="replace").splitlines()
               if "reverted drift on" in line and f" {namespace}/" in line)


def test_canonicalised_quantities_are_synced_and_never_reapplied_but_real_drift_is_healed(
        kube: Client, app_namespace: str, operator: OperatorProcess,
        members: dict[str, Client], repo: Repo) -> None:
    ns, east = app_namespace, members["east"]
    repo.commit({"k8s/manifests/deployment.yaml": CANONICALISED})
    create_app(kube, ns, "quantities", repo, "k8s/manifests", targetNamespace="quantities",
               placement=[{"cluster": "east"}], syncPolicy={"selfHeal": True})
    obj = wait_app(kube, ns, "quantities", operator,
                   lambda o: record(o, "east").get("status") == "Synced", "Synced")
    stored = east.get(Deployment, "sample-app", namespace="quantities").spec.template.spec \
        .containers[0].resources
    # The apiserver did rewrite what git says: text comparison would see drift on every pass.
    assert stored.limits == {"cpu": "1", "memory": "1Gi"}
    assert stored.requests == {"cpu": "500m", "memory": "1Gi"}
    last_sync = record(obj, "east")["lastSync"]
    time.sleep(11)  # two resyncs (5s each): neither may re-apply nor report a difference
    obj = get_app(kube, ns, "quantities") or {}
    assert record(obj, "east")["status"] == "Synced"
    assert record(obj, "east")["lastSync"] == last_sync
    assert (condition(obj, "Synced") or {}).get("status") == "True"
    assert heals(operator, "quantities") == 0, operator.tail()

    # Someone changes a field the app manages: still drift, and self-heal reverts it.
    east.patch(Deployment, "sample-app", {"spec": {"template": {"spec": {"containers": [
        {"name": "sample-app", "resources": {"limits": {"cpu": "2"}}}]}}}},
        namespace="quantities")
    eventually(lambda: east.get(Deployment, "sample-app", namespace="quantities").spec
               .template.spec.containers[0].resources.limits["cpu"] == "1",
               timeout=30, message=operator.tail)
    # The pass logs what it reverted once it has finished (after the member already shows it).
    eventually(lambda: heals(operator, "quantities") >= 1, timeout=10, message=operator.tail)

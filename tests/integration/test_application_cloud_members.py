"""Delivery to a cloud-provisioned member, and placement policies over members of several
providers, with the real operator.

The AKS fake "runs" its managed clusters on a real member control plane started here: the
kubeconfig it issues through ``listClusterUserCredential`` (as ``az aks get-credentials`` gets
it) carries that plane's endpoint, its CA and a client certificate signed by its client CA. So
the operator's whole credential flow for a cloud cluster — ARM call, kubeconfig policy,
platform copy, member client — is the production one, and what it applies really runs.
Two `local` clusters stand beside it, so placement can choose among providers and regions.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import Client, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Secret

from hybridcloud.controlplane import ControlPlane
from hybridcloud.kube.resources import HybridClusterResource
from tests.fakes.aks_identity import HostedPlane

from .clouds import AKSCloud
from .harness import OperatorProcess, condition, delivery_operator, fresh_namespace, wait_phase
from .test_application_delivery import (
    Repo,
    create_app,
    deployments,
    distributed_files,
    get_app,
    is_ready,
    sample_files,
    wait_app,
)

pytestmark = pytest.mark.integration

COMPONENTS = ["api", "cache", "database", "frontend"]
LOCALS = {"local-east": "local-a", "local-west": "local-b"}  # name: region
CLOUD_CLUSTER = "aks-central"


@pytest.fixture(scope="module")
def aks() -> Iterator[AKSCloud]:
    cloud = AKSCloud()
    cloud.start()
    yield cloud
    cloud.stop()


@pytest.fixture(scope="module")
def hosted_member(member_cluster: Callable[..., ControlPlane], aks: AKSCloud) -> ControlPlane:
    """The real control plane the AKS fake runs every managed cluster of this module on."""
    plane = member_cluster("aks-hosted", nodes=2)
    pki = plane.ca_cert.parent
    aks.fake.host(r"^hc-", HostedPlane(
        server=plane.server, ca_pem=plane.ca_cert.read_bytes(),
        client_ca_pem=(pki / "client-ca.crt").read_bytes(),
        client_ca_key_pem=(pki / "client-ca.key").read_bytes()))
    return plane


@pytest.fixture(scope="module")
def app_namespace(kube: Client) -> Iterator[str]:
    with fresh_namespace(kube, "cloudapps") as name:
        yield name


@pytest.fixture(scope="module")
def operator(management: ControlPlane, kube: Client, app_namespace: str, aks: AKSCloud,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    kube.create(Secret(metadata=ObjectMeta(name="hybridcloud-azure-credentials",
                                           namespace=app_namespace),
                       stringData=aks.credentials()))
    with delivery_operator(management.kubeconfig, app_namespace,
                           tmp_path_factory.mktemp("operator")) as process:
        yield process


def member_client(kube: Client, namespace: str, cluster: str) -> tuple[Client, str]:
    """An admin client from the cluster's kubeconfig Secret, and the server it points at."""
    secret = kube.get(Secret, name=f"{cluster}-kubeconfig", namespace=namespace)
    document = yaml.safe_load(base64.b64decode((secret.data or {})["value"]))
    return (Client(config=KubeConfig.from_dict(document), field_manager="tests"),
            str(document["clusters"][0]["cluster"]["server"]))


@pytest.fixture(scope="module")
def members(kube: Client, app_namespace: str, operator: OperatorProcess, aks: AKSCloud,
            hosted_member: ControlPlane) -> dict[str, Client]:
    """aks-central (azure, on the hosted plane), local-east and local-west: all Active."""
    kube.create(HybridClusterResource.from_dict({
        "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
        "metadata": {"name": CLOUD_CLUSTER},
        "spec": {"provider": "azure", "region": aks.region, "version": aks.version,
                 "nodeGroups": [{"name": "workers", "size": 2,
                                 "instanceType": aks.instance_type}]}}),
        namespace=app_namespace)
    for name, region in LOCALS.items():
        kube.create(HybridClusterResource.from_dict({
            "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
            "metadata": {"name": name},
            "spec": {"provider": "local", "region": region,
                     "nodeGroups": [{"name": "workers", "size": 2}]}}), namespace=app_namespace)
    clients = {}
    for name in [CLOUD_CLUSTER, *LOCALS]:
        wait_phase(kube, app_namespace, name, "Active", operator, timeout=240)
        clients[name], server = member_client(kube, app_namespace, name)
        if name == CLOUD_CLUSTER:
            assert server == hosted_member.server, "the cloud's kubeconfig names its plane"
    return clients


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path)


def placed(obj: dict[str, Any]) -> list[str]:
    return sorted(obj["status"].get("placedClusters") or [])


def test_an_app_placed_on_a_cloud_provisioned_cluster_is_synced_and_available_there(
        kube: Client, app_namespace: str, operator: OperatorProcess,
        members: dict[str, Client], hosted_member: ControlPlane, repo: Repo) -> None:
    sha = repo.commit(sample_files())
    uid = create_app(kube, app_namespace, "on-aks", repo, "k8s/manifests",
                     targetNamespace="on-aks", placement=[{"cluster": CLOUD_CLUSTER}],
                     values={"replicas": 2})
    obj = wait_app(kube, app_namespace, "on-aks", operator, is_ready, "Ready", timeout=120)
    assert (condition(obj, "Synced") or {}).get("status") == "True"
    [record] = obj["status"]["deployments"]
    assert (record["cluster"], record["status"], record["revision"]) == \
        (CLOUD_CLUSTER, "Synced", sha)
    # Read with the test's own admin credential of that plane, not the operator's.
    plane = Client(config=KubeConfig.from_file(hosted_member.kubeconfig), field_manager="tests")
    live = plane.get(Deployment, "sample-app", namespace="on-aks")
    assert live.metadata.labels["platform.example.com/application"] == uid
    assert live.status.readyReplicas == 2
    available = [c for c in live.status.conditions or [] if c.type == "Available"]
    assert available and available[0].status == "True"
    for local in LOCALS:
        assert not deployments(members[local], "on-aks", uid), f"nothing placed on {local}"


def test_pack_puts_every_component_on_one_cluster_when_nothing_asks_for_more(
        kube: Client, app_namespace: str, operator: OperatorProcess,
        members: dict[str, Client], repo: Repo) -> None:
    repo.commit(distributed_files())
    uid = create_app(kube, app_namespace, "packed", repo, "manifests", targetNamespace="packed",
                     placementPolicy={"strategy": "pack"})
    obj = wait_app(kube, app_namespace, "packed", operator, is_ready, "Ready", timeout=120)
    [cluster] = placed(obj)
    on_it = deployments(members[cluster], "packed", uid)
    assert sorted(on_it) == COMPONENTS
    assert all(d.status.readyReplicas == 1 for d in on_it.values())
    for other in set(members) - {cluster}:
        assert not deployments(members[other], "packed", uid), f"pack also used {other}"


def test_pack_with_region_diversity_uses_exactly_the_regions_it_needs(
        kube: Client, app_namespace: str, operator: OperatorProcess,
        members: dict[str, Client], repo: Repo) -> None:
    repo.commit(distributed_files())
    uid = create_app(kube, app_namespace, "packed-two", repo, "manifests",
                     targetNamespace="packed-two", placementPolicy={
                         "strategy": "pack",
                         "constraints": [{"type": "region_diversity", "minRegions": 2}]})
    obj = wait_app(kube, app_namespace, "packed-two", operator, is_ready, "Ready", timeout=120)
    chosen = placed(obj)
    assert len(chosen) == 2, chosen  # three clusters fit; the constraint needs two
    for cluster in chosen:
        assert sorted(deployments(members[cluster], "packed-two", uid)) == COMPONENTS
    [left_out] = set(members) - set(chosen)
    assert not deployments(members[left_out], "packed-two", uid)


def test_provider_diversity_spreads_over_a_cloud_cluster_and_a_local_one(
        kube: Client, app_namespace: str, operator: OperatorProcess,
        members: dict[str, Client], repo: Repo) -> None:
    """pack prefers clusters of one provider; the constraint must still get two providers,
    although two `local` clusters alone would fit the count."""
    repo.commit(distributed_files())
    uid = create_app(kube, app_namespace, "diverse", repo, "manifests",
                     targetNamespace="diverse", placementPolicy={
                         "strategy": "pack", "clusterCount": 2,
                         "constraints": [{"type": "provider_diversity", "minProviders": 2}]})
    obj = wait_app(kube, app_namespace, "diverse", operator, is_ready, "Ready", timeout=120)
    chosen = placed(obj)
    assert CLOUD_CLUSTER in chosen and len(chosen) == 2, chosen
    [local] = set(chosen) - {CLOUD_CLUSTER}
    assert local in LOCALS
    for cluster in chosen:
        found = deployments(members[cluster], "diverse", uid)
        assert sorted(found) == COMPONENTS
        assert all(d.status.readyReplicas == 1 for d in found.values())


def test_a_provider_diversity_no_fleet_can_meet_is_not_placed_and_names_the_constraint(
        kube: Client, app_namespace: str, operator: OperatorProcess,
        members: dict[str, Client], repo: Repo) -> None:
    repo.commit(distributed_files())
    uid = create_app(kube, app_namespace, "too-diverse", repo, "manifests",
                     targetNamespace="too-diverse", placementPolicy={
                         "strategy": "availability",
                         "constraints": [{"type": "provider_diversity", "minProviders": 3}]})

    def refused(obj: dict[str, Any]) -> bool:
        return (condition(obj, "PlacementReady") or {}).get("status") == "False"

    obj = wait_app(kube, app_namespace, "too-diverse", operator, refused, "PlacementReady=False")
    placement = condition(obj, "PlacementReady") or {}
    assert placement.get("reason") == "ConstraintsUnsatisfiable"
    assert "provider_diversity needs 3 providers" in placement.get("message", "")
    assert "azure, local" in placement.get("message", "")
    assert (get_app(kube, app_namespace, "too-diverse") or {}).get("status", {}) \
        .get("phase") != "Deployed"
    for member in members.values():  # nothing applied anywhere
        assert not deployments(member, "too-diverse", uid)

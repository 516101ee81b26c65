"""SIGKILL the operator at random points while it creates and deletes many clusters: every
cluster converges, the cloud saw exactly one create per cluster, and nothing leaks."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Secret

from hybridcloud.controlplane import ControlPlane
from hybridcloud.kube.resources import HybridClusterResource

from .clouds import CRASH_TEST_CLOUDS, Cloud
from .harness import OperatorProcess, eventually, get_cluster

pytestmark = pytest.mark.integration

CLUSTERS = 8
KILLS = 3


@pytest.fixture(params=sorted(CRASH_TEST_CLOUDS))
def cloud(request: pytest.FixtureRequest) -> Iterator[Cloud]:
    fake: Cloud = CRASH_TEST_CLOUDS[request.param]()
    fake.start()
    yield fake
    fake.stop()


def crash_repeatedly(operator: OperatorProcess, rng: random.Random) -> None:
    for _ in range(KILLS):
        time.sleep(rng.uniform(0.2, 1.5))
        operator.kill()
        operator.start()


def test_random_sigkills_during_create_and_delete_never_duplicate_or_leak(
    management: ControlPlane, kube: Client, namespace: str, tmp_path: Path, cloud: Cloud
) -> None:
    rng = random.Random(20251125)
    kube.create(Secret(metadata=ObjectMeta(name=f"hybridcloud-{cloud.provider}-credentials",
                                           namespace=namespace),
                       stringData=cloud.credentials()))
    operator = OperatorProcess(management.kubeconfig, namespace, tmp_path)
    operator.start()
    names = [f"crash-{i}" for i in range(CLUSTERS)]
    try:
        for name in names:
            kube.create(HybridClusterResource.from_dict({
                "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
                "metadata": {"name": name},
                "spec": {"provider": cloud.provider, "region": cloud.region,
                         "version": cloud.version, **cloud.options(),
                         "nodeGroups": [{"name": "workers", "size": 1,
                                         "instanceType": cloud.instance_type}]}}),
                namespace=namespace)
        crash_repeatedly(operator, rng)

        def all_active() -> list[str] | None:
            objs = [get_cluster(kube, namespace, n) for n in names]
            if all(o and (o.get("status") or {}).get("phase") == "Active" for o in objs):
                return [o["status"]["providerName"] for o in objs if o]
            return None

        provider_names = eventually(all_active, timeout=180, message=lambda: (
            f"not all Active: {[(get_cluster(kube, namespace, n) or {}).get('status', {}).get('phase') for n in names]}"  # noqa: E501
            f"\n{operator.tail()}"))
        assert cloud.creates() == CLUSTERS, "exactly one create call per cluster"
        assert all(cloud.exists(name) for name in provider_names)

        for name in names:
            kube.delete(HybridClusterResource, name, namespace=namespace)
        crash_repeatedly(operator, rng)
        eventually(lambda: all(get_cluster(kube, namespace, n) is None for n in names),
                   timeout=180, message=operator.tail)
        assert cloud.empty(), "the cloud still holds clusters the platform created"
        assert cloud.creates() == CLUSTERS
        assert operator.starts == 2 * KILLS + 1
    finally:
        operator.stop()

"""Short-lived provider credentials: the kubeconfig Secret is rewritten before it expires."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Secret

from hybridcloud.controlplane import ControlPlane
from hybridcloud.kube.resources import HybridClusterResource

from .clouds import EKSCloud
from .harness import OperatorProcess, eventually, wait_phase

pytestmark = pytest.mark.integration


@pytest.fixture
def eks() -> Iterator[EKSCloud]:
    cloud = EKSCloud()
    cloud.start()
    yield cloud
    cloud.stop()


def token(kube: Client, namespace: str) -> tuple[str, str]:
    secret = kube.get(Secret, name="short-kubeconfig", namespace=namespace)
    config = yaml.safe_load(base64.b64decode((secret.data or {})["value"]))
    expires = ((secret.metadata.annotations or {}) if secret.metadata else {}).get(
        "platform.example.com/expires-at", "")
    return config["users"][0]["user"]["token"], expires


def test_eks_tokens_are_refreshed_ahead_of_their_expiry(
    management: ControlPlane, kube: Client, namespace: str, tmp_path: Path, eks: EKSCloud
) -> None:
    kube.create(Secret(metadata=ObjectMeta(name="hybridcloud-aws-credentials",
                                           namespace=namespace),
                       stringData=eks.credentials()))
    # EKS tokens live 14 minutes; a 13m57s margin makes the refresh due 3 s after each write.
    operator = OperatorProcess(management.kubeconfig, namespace, tmp_path,
                               env={"HYBRIDCLOUD_OPERATOR_KUBECONFIG_REFRESH_MARGIN": "837"})
    operator.start()
    try:
        kube.create(HybridClusterResource.from_dict({
            "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
            "metadata": {"name": "short"},
            "spec": {"provider": "aws", "region": eks.region, "version": eks.version,
                     "nodeGroups": [{"name": "workers", "size": 1,
                                     "instanceType": eks.instance_type}]}}),
            namespace=namespace)
        wait_phase(kube, namespace, "short", "Active", operator)
        first, first_expiry = eventually(lambda: token(kube, namespace), timeout=30)
        assert first.startswith("k8s-aws-v1.") and first_expiry
        second, second_expiry = eventually(
            lambda: (lambda t: t if t[0] != first else None)(token(kube, namespace)),
            timeout=30, message=operator.tail)
        assert second.startswith("k8s-aws-v1.")
        assert second_expiry > first_expiry
    finally:
        operator.stop()

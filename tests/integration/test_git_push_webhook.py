"""Commit to fleet through the Git webhook: a push, the host's signed webhook to the real API,
the push record it writes, the real operator watching it, resolving the new commit and applying
it to a real `local` member — within seconds, while the poll interval (10 minutes) would not
have."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from lightkube import Client, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import ConfigMap, Secret

from hybridcloud.controlplane import ControlPlane
from hybridcloud.kube.resources import HybridClusterResource

from .api_support import serve
from .git_hook_support import (
    create_application,
    hook_settings,
    push_payload,
    secrets_dir,
    signed_headers,
)
from .harness import OperatorProcess, delivery_operator, eventually, fresh_namespace, wait_phase
from .test_application_delivery import Repo

pytestmark = pytest.mark.integration
# Each test its own namespace on the member: applications never adopt each other's objects.
GREETING = ("apiVersion: v1\nkind: ConfigMap\n"
            "metadata: {{name: greeting, namespace: {namespace}}}\ndata: {{text: {text}}}\n")


@pytest.fixture(scope="module")
def hook_namespace(kube: Client) -> Iterator[str]:
    with fresh_namespace(kube, "git-hook") as name:
        yield name


@pytest.fixture(scope="module")
def operator(management: ControlPlane, hook_namespace: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    # delivery_operator sets HYBRIDCLOUD_OPERATOR_GIT_INTERVAL=600: no poll during the test.
    with delivery_operator(management.kubeconfig, hook_namespace,
                           tmp_path_factory.mktemp("hook-operator")) as process:
        yield process


@pytest.fixture(scope="module")
def member(kube: Client, hook_namespace: str, operator: OperatorProcess) -> Client:
    kube.create(HybridClusterResource.from_dict({
        "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
        "metadata": {"name": "edge"},
        "spec": {"provider": "local", "version": "v1.37.2", "region": "local-a",
                 "nodeGroups": [{"name": "workers", "size": 1}]}}), namespace=hook_namespace)
    wait_phase(kube, hook_namespace, "edge", "Active", operator, timeout=180)
    secret = kube.get(Secret, name="edge-kubeconfig", namespace=hook_namespace)
    text = base64.b64decode((secret.data or {})["value"]).decode()
    return Client(config=KubeConfig.from_dict(yaml.safe_load(text)), field_manager="observer")


@pytest.fixture
def receiver(management: ControlPlane, tmp_path: Path) -> Iterator[httpx.Client]:
    with serve(hook_settings(management.kubeconfig, secrets_dir(tmp_path / "hook"))) as base, \
            httpx.Client(base_url=base, timeout=30) as http:
        yield http


def _greeting(member: Client, namespace: str) -> str | None:
    try:
        return (member.get(ConfigMap, "greeting", namespace=namespace).data or {}).get("text")
    except ApiError as exc:
        if exc.status.code == 404:
            return None
        raise


@pytest.mark.parametrize("provider", ["github", "gitlab"])
def test_a_push_reaches_the_member_through_the_webhook_without_waiting_for_the_poll(
        kube: Client, hook_namespace: str, operator: OperatorProcess, member: Client,
        receiver: httpx.Client, tmp_path: Path, provider: str) -> None:
    repo = Repo(tmp_path)
    target = f"hooked-{provider}"
    repo.commit({"manifests/greeting.yaml": GREETING.format(namespace=target, text="first")})
    create_application(kube, hook_namespace, f"hooked-{provider}", repo.url, "main",
                       path="manifests", placement=["edge"])
    eventually(lambda: _greeting(member, target) == "first" or None, timeout=90,
               message=lambda: f"first commit never arrived\n{operator.tail(30)}")

    repo.commit({"manifests/greeting.yaml": GREETING.format(namespace=target, text="second")})
    time.sleep(3)
    assert _greeting(member, target) == "first", "nothing polls within the 600 s interval"

    body = push_payload(provider, repo.url)
    pushed = time.monotonic()
    answer = receiver.post("/v1/hooks/git", content=body, headers=signed_headers(provider, body))
    assert answer.status_code == 202, answer.text
    eventually(lambda: _greeting(member, target) == "second" or None, timeout=20,
               message=lambda: f"the push never arrived\n{operator.tail(30)}")
    assert time.monotonic() - pushed < 20

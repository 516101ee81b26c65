"""Installing the CRDs and the admission policy into a cluster, and minting ServiceAccount tokens
(used by ``make up``, tests and benchmarks; the development identity is ``devenv.access``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, cast

from lightkube import Client, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.generic_resource import load_in_cluster_generic_resources
from lightkube.models.authentication_v1 import TokenRequestSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.admissionregistration_v1 import (
    MutatingAdmissionPolicy,
    MutatingAdmissionPolicyBinding,
)
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.core_v1 import Namespace, ServiceAccountToken

from .. import API_VERSION, FINALIZER, admission, crdgen
from .resources import HybridClusterResource, MultiClusterApplicationResource

FIELD_MANAGER = "hybridcloud-bootstrap"


def client_for(kubeconfig: Path) -> Client:
    return Client(config=KubeConfig.from_file(kubeconfig), field_manager=FIELD_MANAGER)


def install_crds(kubeconfig: Path, timeout: float = 30.0) -> None:
    """Server-side apply the generated CRDs and the finalizer admission policy, and wait until
    the apiserver serves and enforces them."""
    client = client_for(kubeconfig)
    names = []
    for kind in crdgen.KINDS:
        manifest = crdgen.crd(kind)
        resource = cast(CustomResourceDefinition, CustomResourceDefinition.from_dict(manifest))
        client.apply(resource, force=True)
        names.append(manifest["metadata"]["name"])
    deadline = time.monotonic() + timeout
    for name in names:
        while True:
            crd = client.get(CustomResourceDefinition, name=name)
            conditions = crd.status.conditions if crd.status else None
            if any(c.type == "Established" and c.status == "True" for c in conditions or ()):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"CRD {name} not established after {timeout:.0f}s")
            time.sleep(0.1)
    load_in_cluster_generic_resources(client)
    wait_until_creatable(client, deadline)
    install_admission_policy(client, deadline)


def create_platform_namespace(kubeconfig: Path, name: str = "hybridcloud-system") -> None:
    """The namespace where the operator keeps its own copy of member credentials (the chart
    installs it; a bare development or test cluster needs it created)."""
    client_for(kubeconfig).apply(Namespace(metadata=ObjectMeta(name=name)), force=True)


def _probe() -> Any:
    return HybridClusterResource.from_dict({
        "apiVersion": API_VERSION, "kind": "HybridCluster",
        "metadata": {"name": "admission-probe", "namespace": "default"},
        "spec": {"provider": "local", "version": "v1.37.2",
                 "nodeGroups": [{"name": "workers", "size": 1}]}})


def _dry_run_create(client: Client, deadline: float) -> Any:
    """A dry-run create of a probe cluster, retried while the kind is not servable yet."""
    while True:
        try:
            return client.create(_probe(), dry_run=True)
        except ApiError as exc:
            # Established is not yet servable: for a moment the apiserver answers 404/503
            # "resource kind not found" or 429 "storage is (re)initializing".
            if exc.status.code not in (404, 429, 503) or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def wait_until_creatable(client: Client, deadline: float) -> None:
    """Wait until both kinds can be listed and created, so clients started next (operators,
    tests) see a clean start rather than the CRDs' warm-up errors."""
    served: tuple[Any, ...] = (HybridClusterResource, MultiClusterApplicationResource)
    for resource in served:
        while True:
            try:
                next(iter(client.list(resource, namespace="*", chunk_size=1)), None)
                break
            except ApiError as exc:
                if exc.status.code not in (404, 429, 503) or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    _dry_run_create(client, deadline)


def install_admission_policy(client: Client, deadline: float) -> None:
    """Apply the finalizer policy and wait until the apiserver enforces it (its policy informer
    lags the write): a dry-run create must come back carrying the finalizer."""
    client.apply(cast(MutatingAdmissionPolicy,
                      MutatingAdmissionPolicy.from_dict(admission.policy())), force=True)
    client.apply(cast(MutatingAdmissionPolicyBinding,
                      MutatingAdmissionPolicyBinding.from_dict(admission.binding())), force=True)
    while True:
        created = _dry_run_create(client, deadline)
        if created.metadata and FINALIZER in (created.metadata.finalizers or []):
            return
        if time.monotonic() > deadline:
            raise TimeoutError("the finalizer admission policy is not enforced")
        time.sleep(0.1)


def request_token(client: Client, namespace: str, account: str,
                  expiration_seconds: int = 3600) -> str:
    """Mint a bound ServiceAccount token through the TokenRequest API."""
    body = ServiceAccountToken(
        metadata=ObjectMeta(name=account, namespace=namespace),
        spec=TokenRequestSpec(audiences=[], expirationSeconds=expiration_seconds))
    for attempt in range(20):
        try:
            answer = client.create(body, name=account, namespace=namespace)
            if answer.status is None or not answer.status.token:
                raise RuntimeError(f"TokenRequest for {namespace}/{account} returned no token")
            return str(answer.status.token)
        except ApiError as exc:  # the ServiceAccount may not be visible to the cache yet
            if exc.status.code != 404 or attempt == 19:
                raise
            time.sleep(0.1)
    raise AssertionError("unreachable")

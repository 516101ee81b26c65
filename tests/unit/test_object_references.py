"""The one way to read an object a tenant named (``kube/references.py``) and the name rules of
the models and REST schemas. The same attacks against the real apiserver, operator and API are in
``tests/security/test_secret_references.py``."""

from __future__ import annotations

from typing import Any, cast

import pytest
from lightkube import AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Secret
from pydantic import ValidationError

from hybridcloud.api.schemas import ClusterPlacementIn, MultiClusterDeploy, SourceIn
from hybridcloud.kube.references import (
    CREDENTIAL_TYPE_LABEL,
    CredentialsNotAllowedError,
    InvalidReferenceError,
    read_credential_secret,
    read_named,
)
from hybridcloud.models import HybridApplicationSpec, HybridClusterSpec, SecretKeyRef

# Every form of "leave the namespace" or "not a name" a tenant might try.
HOSTILE_NAMES = [
    "../x", "../../victim/secrets/token", "..%2F..%2Fvictim%2Fsecrets%2Ftoken",
    "%2e%2e%2fvictim", "..%2Fx", "a/b", "Token", "UPPER", "x" * 254, "", ".hidden", "-lead",
    "trail-", "a..b", "tok\u0435n",  # a Cyrillic e
    "\uff54\uff4f\uff4b\uff45\uff4e",  # fullwidth "token"
    "token\n", "token ", "a_b", "a?b", "a#b", "a%00b", "..",
]


class RecordingClient:
    """Stands in for lightkube's AsyncClient: records every get and answers with ``answer``."""

    def __init__(self, answer: Any = None) -> None:
        self.answer = answer
        self.calls: list[tuple[Any, str, str]] = []

    async def get(self, resource: Any, *, name: str, namespace: str) -> Any:
        self.calls.append((resource, name, namespace))
        return self.answer


def _client(fake: RecordingClient) -> AsyncClient:
    return cast(AsyncClient, fake)


def _secret(namespace: str, name: str, labels: dict[str, str] | None = None) -> Secret:
    return Secret(apiVersion="v1", kind="Secret",
                  metadata=ObjectMeta(name=name, namespace=namespace, labels=labels),
                  data={"token": "c2VjcmV0"})


@pytest.mark.parametrize("name", HOSTILE_NAMES)
async def test_a_name_that_is_not_a_dns_name_is_refused_before_any_request(name: str) -> None:
    fake = RecordingClient(_secret("tenant", "token"))
    with pytest.raises(InvalidReferenceError) as error:
        await read_named(_client(fake), Secret, "tenant", name,
                         field="spec.source.secretRef.name")
    assert fake.calls == []
    assert str(error.value).startswith("spec.source.secretRef.name: ")
    assert error.value.field == "spec.source.secretRef.name"


@pytest.mark.parametrize(("answer", "what"), [
    (_secret("victim-ns", "token"), "another namespace"),
    (_secret("tenant", "victim-name"), "another name"),
    (ConfigMap(apiVersion="v1", kind="ConfigMap",
               metadata=ObjectMeta(name="token", namespace="tenant")), "another kind"),
    (Secret(apiVersion="v1", kind="Secret", metadata=None), "no metadata"),
])
async def test_an_answer_that_is_not_the_object_asked_for_is_refused(answer: Any,
                                                                     what: str) -> None:
    fake = RecordingClient(answer)
    with pytest.raises(InvalidReferenceError) as error:
        await read_named(_client(fake), Secret, "tenant", "token", field="spec.x.name")
    assert len(fake.calls) == 1, what
    message = str(error.value)
    assert message.startswith("spec.x.name: ") and "Secret tenant/token" in message
    assert "victim" not in message  # nothing of what came back


async def test_the_object_asked_for_is_returned() -> None:
    wanted = _secret("tenant", "token")
    fake = RecordingClient(wanted)
    assert await read_named(_client(fake), Secret, "tenant", "token", field="f") is wanted
    assert fake.calls == [(Secret, "token", "tenant")]


@pytest.mark.parametrize("labels", [None, {}, {CREDENTIAL_TYPE_LABEL: "cloud"},
                                    {CREDENTIAL_TYPE_LABEL: "GIT"}, {"credential-type": "git"}])
async def test_a_credential_secret_without_the_opt_in_label_is_refused_naming_field_and_label(
        labels: dict[str, str] | None) -> None:
    fake = RecordingClient(_secret("tenant", "token", labels))
    with pytest.raises(CredentialsNotAllowedError) as error:
        await read_credential_secret(_client(fake), "tenant", "token",
                                     field="spec.source.secretRef.name", credential_type="git")
    message = str(error.value)
    assert error.value.reason == "CredentialsNotAllowed"
    assert message.startswith("spec.source.secretRef.name: Secret token ")
    assert f"{CREDENTIAL_TYPE_LABEL}=git" in message
    assert "c2VjcmV0" not in message and "'token'" not in message  # no data, no key names


async def test_a_credential_secret_with_the_opt_in_label_is_used() -> None:
    wanted = _secret("tenant", "token", {CREDENTIAL_TYPE_LABEL: "cloud"})
    fake = RecordingClient(wanted)
    assert await read_credential_secret(_client(fake), "tenant", "token", field="f",
                                        credential_type="cloud") is wanted


# -- the same names in the models (hence the CRD schema) and the REST schemas ----------------

APP = {"source": {"repository": "https://git.example.com/app.git"},
       "placement": [{"cluster": "east"}]}


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_models_refuse_hostile_names_in_every_reference(name: str) -> None:
    with pytest.raises(ValidationError):
        SecretKeyRef(name=name)
    with pytest.raises(ValidationError):
        HybridApplicationSpec.model_validate({**APP, "placement": [{"cluster": name}]})
    with pytest.raises(ValidationError):
        HybridClusterSpec.model_validate({
            "provider": "aws", "region": "us-east-1", "version": "v1.30.0",
            "nodeGroups": [{"name": "w", "size": 1}], "credentialsRef": {"name": name}})
    if len(name) <= 63:
        for field in ("targetNamespace",):
            with pytest.raises(ValidationError):
                HybridApplicationSpec.model_validate({**APP, field: name})
        with pytest.raises(ValidationError):
            HybridApplicationSpec.model_validate(
                {**APP, "placement": [{"cluster": "east", "components": [name]}]})


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_rest_schemas_refuse_hostile_secret_cluster_and_component_names(name: str) -> None:
    with pytest.raises(ValidationError) as error:
        SourceIn(repository="https://git.example.com/app.git", secret_name=name)
    assert error.value.errors()[0]["loc"] == ("secret_name",)
    with pytest.raises(ValidationError):
        ClusterPlacementIn(cluster_id=name)
    with pytest.raises(ValidationError):
        MultiClusterDeploy.model_validate({
            "name": "app", "source": {"repository": "https://git.example.com/app.git"},
            "clusters": [{"cluster_id": "east", "components": [name]}]})


def test_valid_names_pass_everywhere() -> None:
    assert SecretKeyRef(name="git.token-1", key="pat_2.x").name == "git.token-1"
    spec = HybridApplicationSpec.model_validate(
        {**APP, "targetNamespace": "web", "placement": [{"cluster": "east.eu-1",
                                                         "components": ["api", "db-2"]}]})
    assert spec.placement and spec.placement[0].cluster == "east.eu-1"
    assert SourceIn(repository="x", secret_name="a.b-c").secret_name == "a.b-c"


@pytest.mark.parametrize("key", ["../token", "a/b", "", "tok en", "t\u00f6ken"])
def test_a_secret_key_must_be_a_valid_data_key(key: str) -> None:
    with pytest.raises(ValidationError):
        SecretKeyRef(name="token", key=key)

"""The member kubeconfig loader accepts credential data only and names every refused field."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest
import yaml

from hybridcloud.kube.kubeconfig_policy import (
    UnsafeKubeconfigError,
    checked_kubeconfig,
    safe_kube_config,
)

CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n").decode()
CERT = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nme\n-----END CERTIFICATE-----\n").decode()
KEY = base64.b64encode(b"-----BEGIN EC PRIVATE KEY-----\nk\n-----END EC PRIVATE KEY-----\n"
                       ).decode()
TOKEN = "s3cret-token-value"


def kubeconfig(user: dict[str, Any] | None = None, **cluster: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Config", "current-context": "ctx",
            "clusters": [{"name": "c", "cluster": {"server": "https://10.0.0.1:6443",
                                                   "certificate-authority-data": CA, **cluster}}],
            "users": [{"name": "u", "user": user if user is not None else {"token": TOKEN}}],
            "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u",
                                                     "namespace": "default"}}]}


def refused(document: Any) -> UnsafeKubeconfigError:
    with pytest.raises(UnsafeKubeconfigError) as caught:
        checked_kubeconfig(yaml.safe_dump(document))
    return caught.value


def test_token_kubeconfig_is_reduced_to_server_ca_and_token() -> None:
    checked = checked_kubeconfig(yaml.safe_dump(kubeconfig()))
    assert checked["clusters"] == [{"name": "member", "cluster": {
        "server": "https://10.0.0.1:6443", "certificate-authority-data": CA}}]
    assert checked["users"] == [{"name": "member", "user": {"token": TOKEN}}]
    config = safe_kube_config(yaml.safe_dump(kubeconfig()))
    assert config.get().cluster.server == "https://10.0.0.1:6443"


def test_client_certificate_kubeconfig_is_accepted() -> None:
    checked = checked_kubeconfig(yaml.safe_dump(kubeconfig(
        {"client-certificate-data": CERT, "client-key-data": KEY})))
    assert checked["users"][0]["user"] == {"client-certificate-data": CERT,
                                           "client-key-data": KEY}


@pytest.mark.parametrize(("user", "field"), [
    ({"exec": {"command": "touch", "args": ["/tmp/x"], "apiVersion":
               "client.authentication.k8s.io/v1"}}, "users[0].user.exec"),
    ({"auth-provider": {"name": "oidc", "config": {}}}, "users[0].user.auth-provider"),
    ({"tokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token"},
     "users[0].user.tokenFile"),
    ({"username": "admin"}, "users[0].user.username"),
    ({"token": TOKEN, "password": "pw"}, "users[0].user.password"),
    ({"client-certificate": "/etc/cert.pem", "client-key-data": KEY},
     "users[0].user.client-certificate"),
    ({"client-certificate-data": CERT, "client-key": "/etc/key.pem"},
     "users[0].user.client-key"),
    ({"token": TOKEN, "as": "system:admin"}, "users[0].user.as"),
    ({"token": TOKEN, "unheard-of": "x"}, "users[0].user.unheard-of"),
])
def test_refused_user_fields_are_named(user: dict[str, Any], field: str) -> None:
    error = refused(kubeconfig(user))
    assert error.field == field and field in str(error)


@pytest.mark.parametrize(("cluster", "field"), [
    ({"certificate-authority": "/etc/ca.pem"}, "clusters[0].cluster.certificate-authority"),
    ({"proxy-url": "http://127.0.0.1:3128"}, "clusters[0].cluster.proxy-url"),
    ({"insecure-skip-tls-verify": True}, "clusters[0].cluster.insecure-skip-tls-verify"),
    ({"tls-server-name": "other"}, "clusters[0].cluster.tls-server-name"),
    ({"server": "http://10.0.0.1:6443"}, "clusters[0].cluster.server"),
    ({"server": "/var/run/docker.sock"}, "clusters[0].cluster.server"),
    ({"server": "https://user:pw@10.0.0.1"}, "clusters[0].cluster.server"),
    ({"certificate-authority-data": "not base64!"},
     "clusters[0].cluster.certificate-authority-data"),
])
def test_refused_cluster_fields_are_named(cluster: dict[str, Any], field: str) -> None:
    error = refused(kubeconfig(**cluster))
    assert error.field == field and field in str(error)


def test_a_refused_field_in_an_unused_entry_is_still_refused() -> None:
    document = kubeconfig()
    document["users"].append({"name": "other", "user": {"exec": {"command": "sh"}}})
    assert refused(document).field == "users[1].user.exec"


def test_insecure_skip_tls_verify_false_is_harmless() -> None:
    checked = checked_kubeconfig(yaml.safe_dump(kubeconfig(**{"insecure-skip-tls-verify": False})))
    assert "insecure-skip-tls-verify" not in checked["clusters"][0]["cluster"]


@pytest.mark.parametrize(("change", "field"), [
    (lambda d: d.update({"current-context": "nope"}), "current-context"),
    (lambda d: d["contexts"][0]["context"].update(cluster="nope"), "contexts[0].context.cluster"),
    (lambda d: d["contexts"][0]["context"].update(user="nope"), "contexts[0].context.user"),
    (lambda d: d["users"][0].update(user={}), "users[0].user"),
    (lambda d: d["users"][0].update(user={"client-certificate-data": CERT}),
     "users[0].user.client-key-data"),
    (lambda d: d["users"][0].update(user={"token": ""}), "users[0].user.token"),
    (lambda d: d.update(clusters="x"), "clusters"),
])
def test_malformed_documents_name_the_field(change: Any, field: str) -> None:
    document = copy.deepcopy(kubeconfig())
    change(document)
    assert refused(document).field == field


def test_errors_never_quote_the_credential() -> None:
    for document in ("{not: yaml: at: all: " + TOKEN, yaml.safe_dump(
            kubeconfig({"token": TOKEN, "tokenFile": TOKEN}))):
        with pytest.raises(UnsafeKubeconfigError) as caught:
            checked_kubeconfig(document)
        assert TOKEN not in str(caught.value)
        # A chained parser error would quote the document in tracebacks and logs.
        error = caught.value
        assert error.__cause__ is None and (error.__context__ is None
                                            or error.__suppress_context__)

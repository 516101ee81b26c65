"""The one loader for member-cluster kubeconfigs: data, never code or paths.

A kubeconfig can make its reader run commands (``exec``, ``auth-provider``), read local files
(``tokenFile``, ``certificate-authority``, ``client-key`` …) and send them anywhere (``server``,
``proxy-url``). A member credential may have passed through places a tenant can write, so the
platform accepts only what a credential needs: the current context's cluster ``server`` (https)
and ``certificate-authority-data``, and its user's ``token`` or ``client-certificate-data`` +
``client-key-data``. Everything else is refused with an error naming the field
(``users[0].user.exec``) — never quoting a value, which may be a secret. The lightkube config is
built from a fresh document holding only the accepted fields, so a field this module does not
know about can never reach the client.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import yaml
from lightkube import KubeConfig

CLUSTER_FIELDS = frozenset({"server", "certificate-authority-data", "insecure-skip-tls-verify"})
USER_FIELDS = frozenset({"token", "client-certificate-data", "client-key-data"})
CONTEXT_FIELDS = frozenset({"cluster", "user", "namespace", "extensions"})

# Why each known-dangerous field is refused (anything else unknown is refused too).
_REFUSED = {
    "exec": "runs a command in the platform's pods",
    "auth-provider": "runs an authentication plugin in the platform's pods",
    "tokenFile": "reads a file of the platform's pods (e.g. their ServiceAccount token)",
    "username": "basic authentication is not accepted",
    "password": "basic authentication is not accepted",
    "client-certificate": "is a file path; embed client-certificate-data instead",
    "client-key": "is a file path; embed client-key-data instead",
    "certificate-authority": "is a file path; embed certificate-authority-data instead",
    "proxy-url": "would route the platform's requests through a proxy",
    "tls-server-name": "would accept a certificate issued for another name",
    "as": "impersonation is not accepted",
    "as-groups": "impersonation is not accepted",
    "as-uid": "impersonation is not accepted",
    "as-user-extra": "impersonation is not accepted",
}


class UnsafeKubeconfigError(ValueError):
    """The kubeconfig uses a feature the platform refuses, or is malformed; ``field`` says where."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"kubeconfig field {field} {problem}")
        self.field = field


def checked_kubeconfig(text: str | bytes) -> dict[str, Any]:
    """The minimal kubeconfig document (one cluster, user and context) equivalent to ``text``;
    raises :class:`UnsafeKubeconfigError` if ``text`` uses anything but plain credential data."""
    try:
        document = yaml.safe_load(text)
    except (yaml.YAMLError, UnicodeDecodeError):
        # The parser's message would quote the document, i.e. the credential: say nothing more.
        raise UnsafeKubeconfigError("(document)", "is not valid YAML") from None
    if not isinstance(document, Mapping):
        raise UnsafeKubeconfigError("(document)", "must be a mapping")
    clusters = _entries(document, "clusters", "cluster", CLUSTER_FIELDS)
    users = _entries(document, "users", "user", USER_FIELDS)
    contexts = _entries(document, "contexts", "context", CONTEXT_FIELDS)
    for where, cluster in clusters.values():
        _check_cluster(where, cluster)
    for where, user in users.values():
        _check_user(where, user)
    current = document.get("current-context")
    if current is None and len(contexts) == 1:
        current = next(iter(contexts))
    if not isinstance(current, str) or current not in contexts:
        raise UnsafeKubeconfigError("current-context", "must name one of the contexts")
    where, context = contexts[current]
    cluster_name, user_name = context.get("cluster"), context.get("user")
    if cluster_name not in clusters:
        raise UnsafeKubeconfigError(f"{where}.cluster", "must name one of the clusters")
    if user_name not in users:
        raise UnsafeKubeconfigError(f"{where}.user", "must name one of the users")
    cluster = {k: v for k, v in clusters[cluster_name][1].items()
               if k in ("server", "certificate-authority-data")}
    user = dict(users[user_name][1])
    return {"apiVersion": "v1", "kind": "Config", "current-context": "member",
            "clusters": [{"name": "member", "cluster": cluster}],
            "users": [{"name": "member", "user": user}],
            "contexts": [{"name": "member", "context": {"cluster": "member", "user": "member"}}]}


def safe_kube_config(text: str | bytes) -> KubeConfig:
    """A lightkube config built only from the fields :func:`checked_kubeconfig` accepts."""
    return KubeConfig.from_dict(checked_kubeconfig(text))


def _entries(document: Mapping[str, Any], section: str, inner: str,
             allowed: frozenset[str]) -> dict[str, tuple[str, Mapping[str, Any]]]:
    """``{name: (field path, body)}`` of one section, every entry checked against ``allowed``."""
    items = document.get(section) or []
    if not isinstance(items, list):
        raise UnsafeKubeconfigError(section, "must be a list")
    found: dict[str, tuple[str, Mapping[str, Any]]] = {}
    for index, item in enumerate(items):
        where = f"{section}[{index}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            raise UnsafeKubeconfigError(f"{where}.name", "must be a string")
        body = item.get(inner)
        if not isinstance(body, Mapping):
            raise UnsafeKubeconfigError(f"{where}.{inner}", "must be a mapping")
        for key in body:
            if key not in allowed:
                reason = _REFUSED.get(str(key), "is not accepted (only "
                                      f"{', '.join(sorted(allowed - {'extensions'}))})")
                raise UnsafeKubeconfigError(f"{where}.{inner}.{key}", reason)
        if item["name"] in found:
            raise UnsafeKubeconfigError(f"{where}.name", "is used twice")
        found[item["name"]] = (f"{where}.{inner}", body)
    return found


def _check_cluster(where: str, cluster: Mapping[str, Any]) -> None:
    if cluster.get("insecure-skip-tls-verify") not in (None, False):
        raise UnsafeKubeconfigError(f"{where}.insecure-skip-tls-verify",
                                    "must not switch TLS verification off")
    server = cluster.get("server")
    parts = urlsplit(server) if isinstance(server, str) else None
    if parts is None or parts.scheme != "https" or not parts.hostname:
        raise UnsafeKubeconfigError(f"{where}.server", "must be an https:// URL")
    if parts.username is not None or parts.password is not None:
        raise UnsafeKubeconfigError(f"{where}.server", "must not carry a user or password")
    if "certificate-authority-data" in cluster:
        _base64(f"{where}.certificate-authority-data", cluster["certificate-authority-data"])


def _check_user(where: str, user: Mapping[str, Any]) -> None:
    token = user.get("token")
    if token is not None and (not isinstance(token, str) or not token):
        raise UnsafeKubeconfigError(f"{where}.token", "must be a non-empty string")
    for key in ("client-certificate-data", "client-key-data"):
        if key in user:
            _base64(f"{where}.{key}", user[key])
    has_cert, has_key = "client-certificate-data" in user, "client-key-data" in user
    if has_cert != has_key:
        missing = "client-key-data" if has_cert else "client-certificate-data"
        raise UnsafeKubeconfigError(f"{where}.{missing}", "is required with its pair")
    if token is None and not has_cert:
        raise UnsafeKubeconfigError(where, "needs token or client-certificate-data and "
                                    "client-key-data")


def _base64(field: str, value: Any) -> None:
    try:
        if not isinstance(value, str) or not base64.b64decode(value, validate=True):
            raise ValueError
    except (ValueError, binascii.Error):
        raise UnsafeKubeconfigError(field, "must be base64 data") from None

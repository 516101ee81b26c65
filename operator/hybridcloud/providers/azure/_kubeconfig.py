"""The kubeconfig AKS hands out, checked, and when its credential lapses."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta
from pathlib import PurePath
from typing import Any, Protocol

import yaml
from azure.core.credentials import AccessToken
from cryptography import x509

from hybridcloud.providers.base import Kubeconfig, PermanentError


class TokenSource(Protocol):
    def get_token(self, *scopes: str) -> AccessToken: ...


def user_kubeconfig(result: Any, cluster_name: str, credential: TokenSource) -> Kubeconfig:
    """The first kubeconfig of a ``list_cluster_user_credentials`` result, with any kubelogin
    exec plugin (Azure AD-enabled clusters) replaced by a token obtained here."""
    configs = result.kubeconfigs or []
    try:
        value = configs[0].value if configs else None
        text = value.decode() if isinstance(value, bytes) else ""
        document = yaml.safe_load(text)
    except (UnicodeDecodeError, yaml.YAMLError):
        document = None  # the parser's message would quote the credential: say nothing
    if not isinstance(document, dict) or not document.get("users"):
        raise PermanentError(f"AKS returned no usable kubeconfig for {cluster_name}")
    expires = _credential_expiry(document)
    token_expiry = _embed_kubelogin_tokens(document, credential)
    if token_expiry is not None:
        text = yaml.safe_dump(document, sort_keys=False)
        expires = min(expires, token_expiry)
    return Kubeconfig(text=text, expires_at=expires)


def _embed_kubelogin_tokens(document: dict[str, Any], credential: TokenSource) -> datetime | None:
    """Replace ``kubelogin get-token --server-id <app>`` plugins by the token kubelogin would
    fetch, got with the adapter's own service principal: the platform never runs a kubeconfig's
    plugins (see ``kube.kubeconfig_policy``). Returns when the earliest such token expires, or
    None if there was no plugin. Other plugins are left for the policy to refuse."""
    expiries: list[datetime] = []
    users = document.get("users")
    for entry in users if isinstance(users, list) else []:
        user = entry.get("user") if isinstance(entry, dict) else None
        plugin = user.get("exec") if isinstance(user, dict) else None
        if not isinstance(plugin, dict) or PurePath(str(plugin.get("command"))).name != \
                "kubelogin":
            continue
        args = [str(a) for a in plugin.get("args") or []]
        if "get-token" not in args or "--server-id" not in args[:-1]:
            continue
        server_id = args[args.index("--server-id") + 1]
        token = credential.get_token(f"{server_id}/.default")
        entry["user"] = {"token": token.token}
        expiries.append(datetime.fromtimestamp(token.expires_on, UTC))
    return min(expiries) if expiries else None


def _credential_expiry(document: dict[str, Any]) -> datetime:
    """When the earliest client certificate in the kubeconfig lapses; for static tokens and
    exec plugins (AAD-enabled clusters) an hour from now, so the operator refreshes it."""
    expiries: list[datetime] = []
    users = document.get("users")
    for entry in users if isinstance(users, list) else []:
        user = entry.get("user") if isinstance(entry, dict) else None
        if isinstance(user, dict) and user.get("client-certificate-data"):
            try:
                pem = base64.b64decode(str(user["client-certificate-data"]))
                expiries.append(x509.load_pem_x509_certificate(pem).not_valid_after_utc)
            except (ValueError, binascii.Error):
                continue  # not a certificate: nothing to learn from it
    return min(expiries) if expiries else datetime.now(UTC) + timedelta(hours=1)

"""The kubeconfig AKS hands out, checked, and when its credential lapses."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml
from cryptography import x509

from hybridcloud.providers.base import Kubeconfig, PermanentError


def user_kubeconfig(result: Any, cluster_name: str) -> Kubeconfig:
    """The first kubeconfig of a ``list_cluster_user_credentials`` result."""
    configs = result.kubeconfigs or []
    try:
        value = configs[0].value if configs else None
        text = value.decode() if isinstance(value, bytes) else ""
        document = yaml.safe_load(text)
    except (UnicodeDecodeError, yaml.YAMLError):
        document = None  # the parser's message would quote the credential: say nothing
    if not isinstance(document, dict) or not document.get("users"):
        raise PermanentError(f"AKS returned no usable kubeconfig for {cluster_name}")
    return Kubeconfig(text=text, expires_at=_credential_expiry(document))


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

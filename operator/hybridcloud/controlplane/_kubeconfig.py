"""Writing self-contained kubeconfig files."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

from ._pki import CertKey, write_secret


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def write_kubeconfig(
    path: Path, *, cluster: str, server: str, ca_pem: bytes, user: str, credentials: CertKey
) -> Path:
    """Write a kubeconfig with the CA and client certificate embedded.

    Embedding (rather than referencing files) keeps the kubeconfig usable after it is copied
    elsewhere, e.g. into a Secret for the operator under test. It holds a private key, hence
    owner-only permissions.
    """
    context = f"{user}@{cluster}"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster,
                "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(credentials.cert_pem()),
                    "client-key-data": _b64(credentials.key_pem()),
                },
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": user}}],
        "current-context": context,
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    write_secret(path, yaml.safe_dump(config, sort_keys=False).encode("utf-8"))
    return path

"""Git credentials from the Secret named by ``spec.source.secretRef``.

Errors name the Secret and its keys, never a value: they end up in conditions and events.
"""

from __future__ import annotations

import base64
import binascii

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Secret

from .git import GitCredentials, SourceError

FIELD = "spec.source.secretRef"


async def load_git_credentials(client: AsyncClient, namespace: str,
                               name: str) -> GitCredentials:
    try:
        secret = await client.get(Secret, name=name, namespace=namespace)
    except ApiError as exc:
        found = "not found" if exc.status.code == 404 else "unreadable"
        raise SourceError(f"{FIELD}: Secret {name} {found}", reason="CredentialsNotFound") from exc
    data: dict[str, str] = {}
    for key, encoded in (secret.data or {}).items():
        try:
            data[key] = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise SourceError(f"{FIELD}: key {key!r} of Secret {name} is not UTF-8 text",
                              reason="InvalidCredentials") from None
    credentials = GitCredentials.from_secret(data)
    if not credentials.secrets():
        keys = ", ".join(sorted(data)) or "none"
        raise SourceError(f"{FIELD}: Secret {name} has neither key `token` (HTTPS) nor "
                          f"`sshPrivateKey` (SSH); keys present: {keys}",
                          reason="InvalidCredentials")
    return credentials

"""Git credentials from the Secret named by ``spec.source.secretRef``.

Errors name the Secret and its keys, never a value: they end up in conditions and events.
"""

from __future__ import annotations

import base64
import binascii
import re

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Secret

from .git import GitCredentials, SourceError

FIELD = "spec.source.secretRef"


_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:(?!//)")


def uses_ssh(repository: str) -> bool:
    """``ssh://…`` and scp-like ``user@host:path`` URLs authenticate with a key."""
    return repository.startswith("ssh://") or bool(_SCP_LIKE.match(repository))


def select_key(data: dict[str, str], name: str, key: str, repository: str) -> dict[str, str]:
    """``secretRef.key`` names the entry holding the credential: the SSH private key for SSH
    URLs, the token otherwise. Other entries (``username``, ``knownHosts``) keep their names."""
    if key not in data:
        keys = ", ".join(sorted(data)) or "none"
        raise SourceError(f"{FIELD}.key: Secret {name} has no key {key!r}; keys present: {keys}",
                          reason="InvalidCredentials")
    chosen = {k: v for k, v in data.items() if k not in ("token", "password", "sshPrivateKey")}
    chosen["sshPrivateKey" if uses_ssh(repository) else "token"] = data[key]
    return chosen


async def load_git_credentials(client: AsyncClient, namespace: str, name: str,
                               entry: str | None = None, repository: str = "") -> GitCredentials:
    """The Secret's credentials; ``entry`` is ``secretRef.key`` (see :func:`select_key`)."""
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
    if entry is not None:
        data = select_key(data, name, entry, repository)
    credentials = GitCredentials.from_secret(data)
    if not credentials.secrets():
        keys = ", ".join(sorted(data)) or "none"
        raise SourceError(f"{FIELD}: Secret {name} has neither key `token` (HTTPS) nor "
                          f"`sshPrivateKey` (SSH); keys present: {keys}",
                          reason="InvalidCredentials")
    return credentials

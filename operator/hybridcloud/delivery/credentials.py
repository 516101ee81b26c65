"""Git credentials from the Secret named by ``spec.source.secretRef``.

The Secret must be in the application's namespace and labelled
``platform.example.com/credential-type: git`` (see :mod:`hybridcloud.kube.references`). Errors
name the Secret and the key that was expected, never the keys present or a value: they end up in
conditions and events.
"""

from __future__ import annotations

import base64
import binascii
import re

import httpx2
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Secret

from ..kube.references import GIT_CREDENTIALS, InvalidReferenceError, read_credential_secret
from .git import GitCredentials, InvalidSourceError, SourceUnavailableError

FIELD = "spec.source.secretRef"
# The entries GitCredentials.from_secret reads; nothing else of the Secret is decoded.
_ENTRIES = ("token", "password", "username", "sshPrivateKey", "knownHosts")


_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:(?!//)")


def uses_ssh(repository: str) -> bool:
    """``ssh://…`` and scp-like ``user@host:path`` URLs authenticate with a key."""
    return repository.startswith("ssh://") or bool(_SCP_LIKE.match(repository))


def select_key(data: dict[str, str], name: str, key: str, repository: str) -> dict[str, str]:
    """``secretRef.key`` names the entry holding the credential: the SSH private key for SSH
    URLs, the token otherwise. Other entries (``username``, ``knownHosts``) keep their names."""
    if key not in data:
        raise InvalidSourceError(f"{FIELD}.key: Secret {name} has no key {key!r}",
                                 reason="InvalidCredentials")
    chosen = {k: v for k, v in data.items() if k not in ("token", "password", "sshPrivateKey")}
    chosen["sshPrivateKey" if uses_ssh(repository) else "token"] = data[key]
    return chosen


def _decoded(secret: Secret, name: str, wanted: set[str]) -> dict[str, str]:
    """The ``wanted`` entries of the Secret, decoded; other entries are never looked at."""
    data: dict[str, str] = {}
    for key, encoded in (secret.data or {}).items():
        if key not in wanted:
            continue
        try:
            data[key] = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidSourceError(f"{FIELD}: key {key!r} of Secret {name} is not UTF-8 text",
                                     reason="InvalidCredentials") from None
    return data


async def load_git_credentials(client: AsyncClient, namespace: str, name: str,
                               entry: str | None = None, repository: str = "") -> GitCredentials:
    """The credentials of the Secret ``name`` of ``namespace`` (the application's own), which
    must be labelled ``platform.example.com/credential-type: git``; ``entry`` is
    ``secretRef.key`` (see :func:`select_key`)."""
    try:
        secret = await read_credential_secret(client, namespace, name, field=f"{FIELD}.name",
                                              credential_type=GIT_CREDENTIALS)
    except InvalidReferenceError as exc:
        raise InvalidSourceError(exc.message, reason=exc.reason) from None
    except ApiError as exc:
        if exc.status.code == 404:
            raise InvalidSourceError(f"{FIELD}: Secret {name} not found",
                                     reason="CredentialsNotFound") from exc
        if exc.status.code == 403:  # the operator may not read it: only RBAC changes help
            raise InvalidSourceError(f"{FIELD}: Secret {name} unreadable",
                                     reason="CredentialsNotFound") from exc
        # 5xx, 429 (throttling), 409: the API server's trouble, not the user's.
        raise SourceUnavailableError(
            f"{FIELD}: cannot read Secret {name} now (HTTP {exc.status.code}); retrying",
            reason="CredentialsUnavailable") from exc
    except httpx2.HTTPError as exc:  # timeout or connection trouble talking to the API server
        raise SourceUnavailableError(
            f"{FIELD}: cannot read Secret {name} now ({type(exc).__name__}); retrying",
            reason="CredentialsUnavailable") from exc
    data = _decoded(secret, name, {*_ENTRIES, *([entry] if entry else [])})
    if entry is not None:
        data = select_key(data, name, entry, repository)
    credentials = GitCredentials.from_secret(data)
    if not credentials.secrets():
        raise InvalidSourceError(f"{FIELD}: Secret {name} has neither key `token` (HTTPS) nor "
                                 "`sshPrivateKey` (SSH)", reason="InvalidCredentials")
    return credentials

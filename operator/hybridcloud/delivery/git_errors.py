"""What git sources fail with, and the credentials they are fetched with.

``SourceError`` messages are safe to show users (no secrets); the two subclasses say whether
retrying can help. ``explain_refusal`` restates git's, curl's and ssh's refusals as what the
user must fix. Split from :mod:`hybridcloud.delivery.git`, which re-exports these names.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from ..redaction import redact
from .errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError

# What git, curl and ssh print when the server wants credentials or refused them.
AUTH_FAILURES = ("could not read Username", "could not read Password", "Authentication failed",
                  "HTTP Basic: Access denied", "The requested URL returned error: 401",
                  "The requested URL returned error: 403", "Permission denied (publickey",
                  "Invalid username or password")
HOST_KEY_FAILURES = ("Host key verification failed", "REMOTE HOST IDENTIFICATION HAS CHANGED")

class SourceError(DeliveryError):
    """The source cannot be fetched or the revision/path does not exist. ``str()`` is safe to
    show users (no secrets). Raised as one of the two classes below, which say whether
    retrying can help."""

    default_reason = "SourceUnavailable"


class InvalidSourceError(SourceError, PermanentDeliveryError):
    """Only the user can fix it: a revision or path that does not exist, a refused URL or
    credential, a repository over the limits."""

    default_reason = "InvalidSource"


class SourceUnavailableError(SourceError, TransientDeliveryError):
    """The git server or the API did not answer as expected this time: retried."""

    default_reason = "SourceUnavailable"


@dataclass(frozen=True)
class GitCredentials:
    """From the Secret named by ``source.secretRef``."""

    token: str | None = field(default=None, repr=False)
    username: str | None = None
    ssh_private_key: str | None = field(default=None, repr=False)
    known_hosts: str | None = None

    @classmethod
    def from_secret(cls, data: dict[str, str]) -> GitCredentials:
        return cls(token=data.get("token") or data.get("password"),
                   username=data.get("username"),
                   ssh_private_key=data.get("sshPrivateKey"),
                   known_hosts=data.get("knownHosts"))

    def secrets(self) -> list[str]:
        return [s for s in (self.token, self.ssh_private_key) if s]

    def identity(self) -> str:
        """A digest telling credentials apart without keeping or showing them."""
        parts = (self.token, self.username, self.ssh_private_key, self.known_hosts)
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def check_argument(value: str, field: str) -> None:
    if not value or value.startswith("-") or "\n" in value or "\x00" in value:
        raise InvalidSourceError(f"{field} {value!r} is not a valid git {field.split('.')[-1]}",
                                 reason="InvalidSource")


def explain_refusal(error: SourceError, repository: str,
                     credentials: GitCredentials) -> SourceError:
    """``error`` restated as an authentication problem when it is one."""
    detail = str(error)
    where = redact(repository)
    if not any(m in detail for m in (*AUTH_FAILURES, *HOST_KEY_FAILURES)):
        return error
    if not credentials.secrets():
        return InvalidSourceError(f"{where} requires authentication: set "
                                  "spec.source.secretRef to a Secret with key `token` (HTTPS) "
                                  "or `sshPrivateKey` (SSH)",
                                  reason="AuthenticationFailed")
    if any(m in detail for m in HOST_KEY_FAILURES):
        return InvalidSourceError(f"the SSH host key of {where} does not match `knownHosts` in "
                                  "the Secret of spec.source.secretRef",
                                  reason="AuthenticationFailed")
    refusal = detail.removeprefix("git fetch failed: ").removeprefix("git ls-remote failed: ")
    return InvalidSourceError(f"{where} refused the credentials in the Secret of "
                              f"spec.source.secretRef ({refusal})", reason="AuthenticationFailed")

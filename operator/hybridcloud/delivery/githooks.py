"""Git push webhooks (GitHub, GitLab, Gitea): who sent it, whether it is signed, what it names.

Pure functions over headers and bytes, used by ``POST /v1/hooks/git``:

* :func:`provider_of` tells the sender by its event header (Gitea also sends GitHub's headers,
  so it is recognised first);
* :func:`signature_valid` checks GitHub's ``X-Hub-Signature-256`` and Gitea's
  ``X-Gitea-Signature`` (HMAC-SHA256 of the raw body) and GitLab's ``X-Gitlab-Token`` (the
  secret itself), always with a constant-time comparison;
* :func:`parse_push` reads the pushed ref and every URL the payload gives for the repository;
* :func:`repository_key` normalises a repository URL (https, ssh, scp-like, ``.git``, host
  case, ports, user names) so the URL an application names matches the one a host sends;
* :func:`tracks` (and :func:`tracked_by`, for an application's body) says whether an
  application (repository + revision) follows the push: same repository and the pushed branch
  (``HEAD`` follows the default branch) or tag; a commit SHA never does.

Nothing in a payload is trusted beyond "repository R changed": the operator resolves the new
revision from the server itself (``git ls-remote`` with the application's own credentials), so a
forged, replayed or stale payload can at most cause a re-check, never deploy a chosen commit.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from .. import GROUP

REFRESH_ANNOTATION = f"{GROUP}/refresh"  # a new value forces the operator to re-resolve


class Provider(StrEnum):
    GITHUB = "github"
    GITLAB = "gitlab"
    GITEA = "gitea"


# Header naming the event, and header carrying the signature (or token), per provider.
EVENT_HEADER = {Provider.GITEA: "x-gitea-event", Provider.GITLAB: "x-gitlab-event",
                Provider.GITHUB: "x-github-event"}
SIGNATURE_HEADER = {Provider.GITHUB: "X-Hub-Signature-256", Provider.GITLAB: "X-Gitlab-Token",
                    Provider.GITEA: "X-Gitea-Signature"}
_PUSH_EVENTS = {Provider.GITHUB: {"push"}, Provider.GITEA: {"push"},
                Provider.GITLAB: {"Push Hook", "Tag Push Hook"}}
_URL_FIELDS = {"repository": ("clone_url", "ssh_url", "git_url", "html_url", "url",
                              "git_http_url", "git_ssh_url", "homepage"),
               "project": ("git_http_url", "git_ssh_url", "web_url", "http_url", "ssh_url",
                           "url")}
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SCP_LIKE = re.compile(r"^(?:[^@/\s]+@)?(?P<host>[A-Za-z0-9][\w.-]*):(?!//)(?P<path>.+)$")
_HEX = re.compile(r"^[0-9a-fA-F]{64}$")


class InvalidPayloadError(ValueError):
    """The body is not a push payload; ``field`` names what is missing or malformed."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Push:
    repositories: frozenset[str]  # repository_key of every URL the payload gave
    ref: str  # refs/heads/<branch> or refs/tags/<tag>
    default_branch: str | None


def provider_of(headers: Mapping[str, str]) -> Provider | None:
    """The sender, by its event header (``headers`` keys lower-case, as Starlette's are)."""
    for provider, header in EVENT_HEADER.items():  # Gitea first: it sends X-GitHub-Event too
        if headers.get(header):
            return provider
    return None


def is_push(provider: Provider, headers: Mapping[str, str]) -> bool:
    return headers.get(EVENT_HEADER[provider], "") in _PUSH_EVENTS[provider]


def signature_valid(provider: Provider, headers: Mapping[str, str], body: bytes,
                    secret: bytes | None) -> bool:
    """Whether the request carries the signature (or token) ``secret`` gives; False when the
    platform has no secret for ``provider``. Comparisons take the same time however much of
    the given value is right."""
    if not secret:
        return False
    given = headers.get(SIGNATURE_HEADER[provider].lower(), "").strip()
    if provider == Provider.GITLAB:
        return hmac.compare_digest(given.encode(), secret)
    digest = hmac.new(secret, body, hashlib.sha256).hexdigest()
    if provider == Provider.GITHUB:
        if not given.startswith("sha256="):
            return False
        given = given.removeprefix("sha256=")
    if not _HEX.match(given):
        return False
    return hmac.compare_digest(given.lower().encode(), digest.encode())


def repository_key(url: str) -> str | None:
    """``host/path`` of a repository URL, lower-case, without scheme, user, port, trailing
    slashes or ``.git``: ``https://GitHub.com/Org/App.git``, ``ssh://git@github.com:22/org/app``
    and ``git@github.com:org/app`` are all ``github.com/org/app``. Case and port are dropped on
    purpose: an extra match only costs one ``ls-remote``, a missed one a stale deployment.
    None for something that is not a repository URL."""
    text = url.strip()
    scheme = _SCHEME.match(text)
    if scheme is not None:
        try:
            parts = urlsplit(text)
            host = "" if scheme.group(1).lower() == "file" else (parts.hostname or "")
        except ValueError:
            return None
        path = parts.path
    elif (scp := _SCP_LIKE.match(text)) is not None:
        host, path = scp.group("host"), scp.group("path")
    else:
        host, path = "", text  # a local path (development setups only)
    path = path.strip("/")
    path = path.removesuffix(".git").rstrip("/")
    if not path:
        return None
    return f"{host.lower()}/{path.lower()}"


def _urls(payload: Mapping[str, Any]) -> Iterable[str]:
    for section, fields in _URL_FIELDS.items():
        block = payload.get(section)
        if isinstance(block, Mapping):
            for name in fields:
                value = block.get(name)
                if isinstance(value, str) and value:
                    yield value


def parse_push(provider: Provider, payload: Any) -> Push:
    """The repository and ref of a push payload (any of the three providers)."""
    if not isinstance(payload, Mapping):
        raise InvalidPayloadError("body", "must be a JSON object")
    ref = payload.get("ref")
    if not isinstance(ref, str) or not ref.startswith(("refs/heads/", "refs/tags/")):
        raise InvalidPayloadError("ref", "must be refs/heads/<branch> or refs/tags/<tag>")
    keys = frozenset(k for k in (repository_key(u) for u in _urls(payload)) if k)
    if not keys:
        raise InvalidPayloadError("repository", "the payload names no repository URL")
    block = payload.get("project" if provider == Provider.GITLAB else "repository")
    default = block.get("default_branch") if isinstance(block, Mapping) else None
    return Push(keys, ref, default if isinstance(default, str) and default else None)


def tracked_by(push: Push, application: Mapping[str, Any]) -> bool:
    """Whether the MultiClusterApplication ``application`` (a body) follows ``push``."""
    source = (application.get("spec") or {}).get("source")
    if not isinstance(source, Mapping):
        return False
    return tracks(push, str(source.get("repository", "")), str(source.get("revision", "HEAD")))


def tracks(push: Push, repository: str, revision: str) -> bool:
    """Whether an application with ``source.repository``/``source.revision`` follows ``push``."""
    if repository_key(repository) not in push.repositories:
        return False
    kind, _, name = push.ref.removeprefix("refs/").partition("/")
    if revision in (name, push.ref):
        return True
    # HEAD follows the default branch; when the payload does not say which that is, refresh
    # anyway (one ls-remote) rather than miss it.
    return kind == "heads" and revision == "HEAD" and push.default_branch in (None, name)

"""Which repository URLs a tenant may name, decided before git (or anything else) runs.

A repository URL is hostile input: git understands far more than the platform wants to offer.
Allowed are ``https://``, ``ssh://``, scp-like ``user@host:path``, and ``http://`` and
``git://`` without credentials (both send them in clear text). Local repositories (``file://``
and bare paths) would let one tenant read another tenant's private mirror from the operator's
cache, so they are refused unless the platform operator turns them on for development and tests.
Remote helpers (``ext::``, ``fd::``, any ``<transport>::``) run commands and are always refused,
as are URLs starting with ``-`` (read as options), embedded credentials (``user:pw@``), control
characters and any other scheme.

Pure functions, shared by the operator (a Stalled condition) and the REST API (a 400); each error
names the field it was given.
"""

from __future__ import annotations

import re
from enum import StrEnum
from urllib.parse import urlsplit


class Transport(StrEnum):
    HTTPS = "https"
    HTTP = "http"
    GIT = "git"
    SSH = "ssh"
    LOCAL = "local"


class RepositoryRefusedError(ValueError):
    """``str()`` names the field and says what to change; it never repeats a password."""


_Refused = RepositoryRefusedError


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_HELPER = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")
# scp-like: user@host:path, the host a DNS name or bracketed address; "//" after ":" is a URL.
_SCP_LIKE = re.compile(r"^(?P<user>[A-Za-z0-9_][\w.-]*)@"
                       r"(?P<host>[A-Za-z0-9][\w.-]*|\[[0-9A-Fa-f:.]+\]):(?!//)(?P<path>.+)$")
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$|^\[[0-9A-Fa-f:.]+\]$")
_NETWORK = {"https": Transport.HTTPS, "http": Transport.HTTP, "git": Transport.GIT,
            "ssh": Transport.SSH}
CLEAR_TEXT = (Transport.HTTP, Transport.GIT)


def check_repository(url: str, *, field: str, allow_local: bool,
                     with_credentials: bool = False) -> Transport:
    """The transport ``url`` uses, or :class:`RepositoryRefusedError` saying why not."""
    if url.startswith("-"):
        raise _Refused(f"{field}: must not start with '-'")
    if _HELPER.match(url) and not _SCHEME.match(url):
        raise _Refused(f"{field}: git remote helpers ({url.split('::')[0]}::) are not "
                                "allowed; use https://, ssh:// or user@host:path")
    if not url or any(ord(c) < 0x20 or c in " \x7f" for c in url):
        raise _Refused(f"{field}: must be a URL without spaces or control characters")
    transport = _transport(url, field)
    if transport == Transport.LOCAL and not allow_local:
        raise _Refused(f"{field}: local repositories (file:// URLs and paths) are not "
                                "allowed; use https://, ssh:// or user@host:path")
    if with_credentials and transport in CLEAR_TEXT:
        raise _Refused(f"{field}: credentials are never sent over {transport}:// "
                                "(clear text); use https:// or ssh://")
    return transport


def _transport(url: str, field: str) -> Transport:
    scheme = _SCHEME.match(url)
    if scheme is None:
        scp = _SCP_LIKE.match(url)
        if scp is not None:
            if scp.group("path").startswith("-"):
                raise _Refused(f"{field}: the path after ':' must not start with '-'")
            return Transport.SSH
        if "@" in url.partition("/")[0] or (":" in url.partition("/")[0]):
            raise _Refused(f"{field}: not a supported repository URL; use https://, "
                                    "ssh:// or user@host:path")
        return Transport.LOCAL  # a path, absolute or relative
    name = scheme.group(1).lower()
    if name == "file":
        return Transport.LOCAL
    if name not in _NETWORK:
        raise _Refused(f"{field}: scheme {name}:// is not allowed; use https://, "
                                "ssh:// or user@host:path")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError:
        raise _Refused(f"{field}: malformed URL") from None
    if parts.password is not None or (parts.username is not None and name != "ssh"):
        raise _Refused(f"{field}: must not embed credentials (user:password@); put "
                                "them in the Secret named by secretRef")
    netloc_host = parts.netloc.rpartition("@")[2].rsplit(":", 1)[0] if parts.port else \
        parts.netloc.rpartition("@")[2]
    if not host or not _HOST.match(netloc_host):
        raise _Refused(f"{field}: {name}:// URL has no valid host")
    return _NETWORK[name]

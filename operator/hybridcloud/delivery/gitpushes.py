"""The push record: how the Git webhook receiver (the API) tells the operator about a push.

One ConfigMap, :data:`RECORD_NAME` in the platform's own namespace (the member-credentials
namespace, which tenants cannot write or read), keeps the last :data:`PUSHES_KEPT` verified
pushes: a token per push, the pushed ref and the repository keys the payload named. The API
writes it once per push; the operator watches it and refreshes, from its own cache, exactly the
applications that track each push it has not seen yet (:func:`githooks.tracks`).

Why not set the refresh annotation on every application, as Argo CD's and Flux's receivers do:
a push to a repository 100 applications track was 100 patches, 100 watch events in every
watcher of applications, and the last annotation reached the operator 0.6-1.5 s after the push
on a quiet machine, more than half of issue 19's 2 s budget. One record is one write and one
event; the operator starts all 100 passes at once. The annotation still forces a refresh of one
application when set by hand.

The record holds only what the payload said about the repository and ref, never a commit: the
operator resolves the new revision from the Git server with each application's own credentials.
Every field is checked on the way in, so a malformed record refreshes nothing and breaks
nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import GROUP
from .githooks import Push

RECORD_NAME = "hybridcloud-git-pushes"
RECORD_KEY = "pushes"
RECORD_LABEL = f"{GROUP}/git-pushes"  # what the operator's watch selects on
PUSHES_KEPT = 50  # enough for every push of a burst between two watch events
_MAX_FIELD = 2048


@dataclass(frozen=True)
class RecordedPush:
    token: str  # unique per received push (the hook request's id)
    push: Push


def recorded(data: Mapping[str, Any] | None) -> list[RecordedPush]:
    """The pushes in a record's ``data``, oldest first; malformed entries are left out."""
    try:
        entries = json.loads((data or {}).get(RECORD_KEY) or "[]")
    except (TypeError, ValueError):
        return []
    if not isinstance(entries, list):
        return []
    return [push for push in map(_decode, entries) if push is not None]


def with_push(data: Mapping[str, Any] | None, token: str, push: Push) -> dict[str, str]:
    """The record's ``data`` after ``push``: the kept pushes plus this one, at most
    :data:`PUSHES_KEPT`."""
    kept = [*recorded(data), RecordedPush(token, push)][-PUSHES_KEPT:]
    return {RECORD_KEY: json.dumps([_encode(entry) for entry in kept], separators=(",", ":"))}


def _encode(entry: RecordedPush) -> dict[str, Any]:
    return {"token": entry.token, "ref": entry.push.ref,
            "repositories": sorted(entry.push.repositories),
            "defaultBranch": entry.push.default_branch}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= _MAX_FIELD else None


def _decode(entry: Any) -> RecordedPush | None:
    if not isinstance(entry, dict):
        return None
    token, ref = _text(entry.get("token")), _text(entry.get("ref"))
    repositories = entry.get("repositories")
    if token is None or ref is None or not ref.startswith(("refs/heads/", "refs/tags/")) \
            or not isinstance(repositories, list) or not repositories:
        return None
    keys = [_text(key) for key in repositories]
    if any(key is None for key in keys):
        return None
    default = entry.get("defaultBranch")
    if default is not None and _text(default) is None:
        return None
    return RecordedPush(token, Push(frozenset(k for k in keys if k), ref, default))

"""Publishing a reconcile's domain transition (cluster.ready, application.failed, …) to the feed,
the same way for both kinds: the Ready condition's message says what happened."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import API_VERSION
from ..conditions import READY
from ..conditions import get as get_condition
from ..feed import DomainEvent, Feed, ObjectRef

# Transitions published as Warning Events: something the user must look at.
WARNING_SUFFIXES = (".failed", ".degraded")


def announce(feed: Feed, kind: str, meta: Mapping[str, Any], transition: str,
             status: Mapping[str, Any], data: dict[str, Any]) -> None:
    """Publish ``transition`` of the ``kind`` object with metadata ``meta``; failures are
    warnings. ``data`` carries the kind's webhook payload; ``status`` is lowercased phase."""
    ready = get_condition(status.get("conditions"), READY) or {}
    feed.publish(DomainEvent(
        type=transition,
        subject=ObjectRef(API_VERSION, kind, meta["namespace"], meta["name"], meta["uid"]),
        message=ready.get("message") or transition,
        warning=transition.endswith(WARNING_SUFFIXES),
        data={**data, "status": str(status.get("phase", "")).lower()}))

"""Transitions recorded in status, and the events (wire shape, deterministic ids) made of them.

Pure: the controllers call :func:`recorded` on the status they are about to write, so the
transition and its durable record are one write; the webhook dispatcher and the API's event
stream call :func:`events_of` / :func:`deleted_event` on the objects they watch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..models.webhook import EventType

KEEP = 8
"""Transitions kept per object: enough to bridge a restart of the operator (each transition is
delivered within seconds normally); older ones fall off and are counted as missed."""

CONTRACT = frozenset(EventType)
CLUSTER_KIND = "HybridCluster"
APPLICATION_KIND = "MultiClusterApplication"


def recorded(previous: Mapping[str, Any] | None, status: Mapping[str, Any],
             transition: str | None, *, now: str) -> dict[str, Any]:
    """``status`` with the object's transition history carried over from ``previous`` and, when
    ``transition`` is one of the contract's events, that transition appended (seq + 1)."""
    history = list((previous or {}).get("transitions") or [])
    out = dict(status)
    if transition in CONTRACT and not transition.endswith(".deleted"):
        if not history and transition.startswith("cluster.") and transition != "cluster.created":
            # A cluster's story starts with its creation, even when the status that announced
            # it was never written (a quick provider call, or a crash right after it).
            history = [{"seq": 1, "type": "cluster.created", "time": now, "phase": "Creating"}]
        seq = (history[-1]["seq"] if history else 0) + 1
        entry: dict[str, Any] = {"seq": seq, "type": transition, "time": now}
        if status.get("phase"):
            entry["phase"] = str(status["phase"])
        if status.get("sourceRevision"):
            entry["revision"] = str(status["sourceRevision"])[:100]
        history = [*history, entry][-KEEP:]
    if history:
        out["transitions"] = history
    return out


@dataclass(frozen=True)
class Event:
    """One event as receivers see it, plus what routing needs (namespace, object, order)."""

    id: str
    type: str
    timestamp: str
    data: dict[str, Any]
    namespace: str
    uid: str
    kind: str
    name: str
    seq: int  # per-object order; deleted events come after every recorded transition

    def body(self) -> dict[str, Any]:
        return {"id": self.id, "event": self.type, "timestamp": self.timestamp,
                "data": self.data}

    def encoded(self) -> bytes:
        return json.dumps(self.body(), separators=(",", ":"), sort_keys=True).encode()


# An application event's ``status`` in the contract's words (its example: application.deployed
# with "healthy"), the same buckets as ``GET /v1/multi-cluster/status`` counts applications in.
_APPLICATION_STATUS = {"deployed": "healthy", "degraded": "degraded", "failed": "failed",
                       "pending": "pending", "deleting": "deleting"}

DELETED_SEQ = 2**31
"""Sequence of an object's deleted event: after anything it may have recorded."""


def event_id(uid: str, seq: int | str, event_type: str) -> str:
    """Deterministic: the operator before and after a restart, and the API, agree on it, so a
    duplicate delivery carries the id a receiver has already seen."""
    return hashlib.sha256(f"{uid}/{seq}/{event_type}".encode()).hexdigest()[:32]


def _data(kind: str, body: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    name = body["metadata"]["name"]
    phase = str(entry.get("phase") or "").lower()
    if kind == CLUSTER_KIND:
        provider = (body.get("spec") or {}).get("provider")
        return {"cluster_id": name, "name": name, "provider": provider, "status": phase}
    clusters = list((body.get("status") or {}).get("placedClusters") or [])
    return {"application_id": name, "name": name, "cluster_id": clusters[0] if clusters else None,
            "clusters": clusters, "version": entry.get("revision"),
            "status": _APPLICATION_STATUS.get(phase, "progressing")}


def events_of(kind: str, body: Mapping[str, Any]) -> list[Event]:
    """The events recorded in ``body``'s status, oldest first."""
    meta = body["metadata"]
    out = []
    for entry in (body.get("status") or {}).get("transitions") or []:
        if entry.get("type") not in CONTRACT:
            continue
        out.append(Event(
            id=event_id(meta["uid"], entry["seq"], entry["type"]), type=entry["type"],
            timestamp=entry["time"], data=_data(kind, body, entry), namespace=meta["namespace"],
            uid=meta["uid"], kind=kind, name=meta["name"], seq=int(entry["seq"])))
    return out


_SOURCE_METADATA = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")


def event_source(body: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a watched object that :func:`events_of`, its deleted event and a watch
    cache read (metadata names, uid, version and age; the provider; the transitions and placed
    clusters): what a cache that only feeds events keeps, instead of the whole object, once per
    cluster at fleet scale. Plain JSON values: the caller interns or copies them."""
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    kept: dict[str, Any] = {"metadata": {k: meta[k] for k in _SOURCE_METADATA if k in meta}}
    if "provider" in spec:
        kept["spec"] = {"provider": spec["provider"]}
    kept_status = {k: status[k] for k in ("transitions", "placedClusters") if k in status}
    if kept_status:
        kept["status"] = kept_status
    return kept


def deleted_event(kind: str, namespace: str, uid: str, name: str, *, now: str,
                  detail: str | None = None) -> Event:
    """The ``*.deleted`` event of an object that is gone (its id depends only on the uid)."""
    if kind == CLUSTER_KIND:
        event_type = EventType.CLUSTER_DELETED.value
        data: dict[str, Any] = {"cluster_id": name, "name": name, "provider": detail,
                                "status": "deleted"}
    else:
        event_type = EventType.APPLICATION_DELETED.value
        data = {"application_id": name, "name": name, "status": "deleted"}
    return Event(id=event_id(uid, "deleted", event_type), type=event_type, timestamp=now,
                 data=data, namespace=namespace, uid=uid, kind=kind, name=name, seq=DELETED_SEQ)

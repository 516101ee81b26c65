"""Operations without an operations store: an operation ID names an object and a generation.

``op-<uid>-<generation>`` is returned by every create and update: the object's UID and the
``metadata.generation`` the write produced. ``op-<uid>-delete`` is returned by deletes. Progress
is read back from the object itself — ``status.observedGeneration`` and the kstatus conditions
(Ready, Reconciling, Stalled) the operator writes — so nothing extra is stored and any API replica
can answer.

* pending    — the operator has not looked at that generation yet;
* running    — it is reconciling it (Reconciling=True, or Ready not yet True);
* succeeded  — Ready=True for that generation (or, for a delete, the object is gone);
* failed     — Stalled=True or phase Failed for that generation;
* superseded — a later write changed the spec before this generation finished.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

from ..conditions import READY, STALLED
from ..conditions import get as get_condition
from ..models import ApplicationPhase, ClusterPhase

# Both kinds spell their failed phase the same way.
FAILED = {str(ClusterPhase.FAILED), str(ApplicationPhase.FAILED)}

_ID = re.compile(r"^op-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})-"
                 r"([1-9][0-9]{0,18}|delete)$")


class ConditionOut(BaseModel):
    type: str
    status: str
    reason: str | None = None
    message: str | None = None
    last_transition_time: str | None = None


class ResourceRef(BaseModel):
    kind: str = Field(description="cluster or application.")
    id: str
    namespace: str


class Operation(BaseModel):
    id: str
    type: str = Field(description="create, update or delete.")
    status: str = Field(description="pending, running, succeeded, failed or superseded.")
    resource: ResourceRef | None = Field(description="The object; null once a delete finished.")
    generation: int | None = None
    observed_generation: int | None = None
    phase: str | None = None
    message: str | None = None
    conditions: list[ConditionOut] = Field(default_factory=list)
    updated_at: str | None = None


def operation_id(obj: dict[str, Any], *, delete: bool = False) -> str:
    meta = obj["metadata"]
    return f"op-{meta['uid']}-{'delete' if delete else meta.get('generation', 1)}"


def parse(op_id: str) -> tuple[str, int | None] | None:
    """(uid, generation) — generation None for a delete — or None when not an operation ID."""
    match = _ID.match(op_id)
    if match is None:
        return None
    uid, part = match.groups()
    return uid, None if part == "delete" else int(part)


def describe(op_id: str, obj: dict[str, Any] | None, kind: str,
             generation: int | None) -> Operation:
    """The operation's progress from the object's current state (None = object gone)."""
    op_type = "delete" if generation is None else "create" if generation == 1 else "update"
    if obj is None:  # only reachable for deletes: an unknown object is a 404 for the others
        return Operation(id=op_id, type=op_type, status="succeeded", resource=None,
                         message="deleted")
    meta, status = obj["metadata"], obj.get("status") or {}
    conditions = list(status.get("conditions") or [])
    observed = status.get("observedGeneration")
    current = int(meta.get("generation") or 1)
    ready, stalled = get_condition(conditions, READY), get_condition(conditions, STALLED)
    phase = status.get("phase")
    message = (ready or {}).get("message") or None
    if generation is None:
        state = "running"
        message = "deletion in progress"
    elif generation < current and not meta.get("deletionTimestamp"):
        state = "superseded"
    elif observed is None or observed < generation:
        state = "pending"
    elif (stalled and stalled.get("status") == "True") or phase in FAILED:
        state = "failed"
        message = (stalled or {}).get("message") or message
    elif ready and ready.get("status") == "True":
        state = "succeeded"
    else:
        state = "running"
    stamps = [c.get("lastTransitionTime") for c in conditions if c.get("lastTransitionTime")]
    return Operation(
        id=op_id, type=op_type, status=state,
        resource=ResourceRef(kind=kind, id=meta["name"], namespace=meta.get("namespace", "")),
        generation=current, observed_generation=observed, phase=phase, message=message,
        conditions=[ConditionOut(type=c.get("type", ""), status=c.get("status", ""),
                                 reason=c.get("reason"), message=c.get("message"),
                                 last_transition_time=c.get("lastTransitionTime"))
                    for c in conditions],
        updated_at=max(stamps) if stamps else meta.get("creationTimestamp"))

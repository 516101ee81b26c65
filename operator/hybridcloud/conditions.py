"""Status conditions with kstatus semantics, as pure functions over plain dicts.

``Ready`` is the summary; ``Reconciling`` and ``Stalled`` are "abnormal-true" conditions: present
and True only while the object is converging or stuck. Together with ``observedGeneration`` this
is what ``kubectl wait --for=condition=Ready``, kstatus (Flux) and the Argo CD health checks read.
A condition's ``lastTransitionTime`` changes only when its status changes, so re-asserting the
same condition is a no-op and produces no write.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"
PAUSED = "Paused"

Conditions = list[dict[str, Any]]


@dataclass(frozen=True)
class Desired:
    """A condition the reconciler wants to assert."""

    type: str
    status: bool | None  # None means Unknown
    reason: str
    message: str = ""

    @property
    def status_text(self) -> str:
        return "Unknown" if self.status is None else str(self.status)


def now_rfc3339() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def get(conditions: Iterable[Mapping[str, Any]] | None, type_: str) -> Mapping[str, Any] | None:
    return next((c for c in conditions or () if c.get("type") == type_), None)


def is_true(conditions: Iterable[Mapping[str, Any]] | None, type_: str) -> bool:
    found = get(conditions, type_)
    return found is not None and found.get("status") == "True"


def apply(
    conditions: Iterable[Mapping[str, Any]] | None,
    desired: Iterable[Desired],
    *,
    generation: int | None,
    remove: Iterable[str] = (),
    now: str | None = None,
) -> Conditions:
    """Return ``conditions`` with ``desired`` asserted and ``remove`` dropped.

    Order is stable (existing first, new appended) so that unchanged input gives byte-identical
    output and the caller can skip the status write entirely.
    """
    timestamp = now or now_rfc3339()
    wanted = {d.type: d for d in desired}
    dropped = set(remove) - set(wanted)
    result: Conditions = []
    for current in conditions or ():
        type_ = current.get("type")
        if type_ in dropped:
            continue
        if type_ in wanted:
            result.append(_merge(current, wanted.pop(str(type_)), generation, timestamp))
        else:
            result.append(dict(current))
    result.extend(_merge(None, d, generation, timestamp) for d in wanted.values())
    return result


def _merge(current: Mapping[str, Any] | None, want: Desired, generation: int | None,
           timestamp: str) -> dict[str, Any]:
    changed = current is None or current.get("status") != want.status_text
    merged: dict[str, Any] = {
        "type": want.type,
        "status": want.status_text,
        "reason": want.reason,
        "message": want.message,
        "lastTransitionTime": timestamp if changed or current is None
        else current.get("lastTransitionTime", timestamp),
    }
    if generation is not None:
        merged["observedGeneration"] = generation
    return merged

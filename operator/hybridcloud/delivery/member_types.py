"""What a sync with one member works with and reports: the application's identity, each object
as it will be applied (``Desired``), what one rendered list became on a member (``Plan``, kept
across passes by ``MemberCluster``) and the outcome of a sync."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import member_writes
from ..models.application import Health
from . import objects as o
from .render import Manifest


class MemberUnreachableError(Exception):
    """The member's API cannot be reached (or refused our credentials)."""


@dataclass(frozen=True)
class AppIdentity:
    namespace: str
    name: str
    uid: str

    @property
    def display(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass
class SyncOutcome:
    applied: int = 0
    pruned: int = 0
    out_of_sync: list[str] = field(default_factory=list)  # differences left alone
    healed: list[str] = field(default_factory=list)  # drift reverted
    errors: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # tenant rules refused these: nothing written
    health: Health = Health.UNKNOWN
    resources: dict[str, int] = field(default_factory=dict)
    digest: str | None = None  # of the rendering now applied here in full


@dataclass
class Plan:
    manifests: Sequence[Manifest]  # kept: the cache is keyed by its id
    desired: list[Desired]  # read-only, like the manifests
    digest: str
    # The last rules checked and what they refused: every pass checks, the rules rarely move.
    checked: tuple[member_writes.Governing, list[str]] | None = None

    def refusals(self, rules: member_writes.Governing) -> list[str]:
        """What ``rules`` refuse of these objects (one refused object refuses them all)."""
        if self.checked is None or self.checked[0] != rules:
            self.checked = (rules, member_writes.delivery_refusals(
                rules, (d.planned() for d in self.desired)))
        return list(self.checked[1])


@dataclass(frozen=True)
class Desired:
    key: o.ObjectKey
    obj: dict[str, Any]
    origin: str
    resource: Any

    def planned(self) -> member_writes.PlannedObject:
        spec = self.obj.get("spec")
        group = spec.get("group") if isinstance(spec, dict) else None
        return member_writes.PlannedObject(self.key.api_version, self.key.kind, self.key.namespace,
                                     self.key.name, self.origin,
                                     str(group) if group is not None else None)

"""What one delivery pass may write to a member cluster: the pass's write mode and the tenant's
delivery rules applied to each planned object.

Neutral ground: the member sync (``delivery/``) applies these checks and the application
controller's decisions (``reconcile/``) choose the mode and the governing policy, so both layers
import this module and neither imports the other (import-linter states it). Pure: no I/O, only
models.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from .models import TenantRules

# The platform's own namespace on members: the inventories of every application live there, so
# no application may ever write into it (whatever a policy says).
PLATFORM_NAMESPACE = "hybridcloud-system"
DEFAULTS_SOURCE = "the operator's default tenant rules"


class Writes(StrEnum):
    """What one pass may write to a member cluster."""

    NONE = "none"  # observe only: drift and pending changes are reported
    CHANGES = "changes"  # apply what changed in git; revert drift only with selfHeal
    ALL = "all"  # a requested sync: apply changes and revert every drift


@dataclass(frozen=True)
class Governing:
    """The rules for one namespace and where they came from (for messages)."""

    rules: TenantRules
    source: str  # "TenantPolicy <name>" or DEFAULTS_SOURCE


def allowed_by(value: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)


# -- delivery ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PlannedObject:
    """One object an application would write to a member, as the member would store it."""

    api_version: str
    kind: str
    namespace: str | None  # None: cluster-scoped
    name: str
    origin: str  # file:line in the source
    crd_group: str | None = None  # spec.group of a CustomResourceDefinition

    @property
    def group_kind(self) -> str:
        group = self.api_version.rpartition("/")[0]
        return f"{group}/{self.kind}" if group else self.kind

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


def namespace_refusal(governing: Governing, namespace: str) -> str | None:
    """Why an application may not write into member namespace ``namespace`` (None: it may)."""
    allowed = governing.rules.delivery.allowed_namespaces
    if namespace == PLATFORM_NAMESPACE:
        return (f"namespace {namespace} is reserved for the platform (application inventories) "
                "and never writable by applications")
    if namespace.startswith("kube-") and namespace not in (allowed or []):
        return (f"namespace {namespace} is a system namespace; only "
                f"spec.delivery.allowedNamespaces naming it exactly allows it "
                f"({governing.source})")
    if allowed is not None and not allowed_by(namespace, allowed):
        return (f"namespace {namespace} is not in spec.delivery.allowedNamespaces "
                f"({governing.source})")
    return None


def object_refusal(governing: Governing, item: PlannedObject) -> str | None:
    """Why ``item`` may not be written (None: it may)."""
    delivery = governing.rules.delivery
    if item.namespace is not None:
        return namespace_refusal(governing, item.namespace)
    if item.kind == "Namespace" and "/" not in item.api_version:
        return namespace_refusal(governing, item.name)
    if item.kind == "CustomResourceDefinition" and \
            item.api_version.startswith("apiextensions.k8s.io/"):
        group = item.crd_group or ""
        if allowed_by(group, delivery.allowed_crd_groups):
            return None
        return (f"CustomResourceDefinitions of group {group or '(none)'} are not in "
                f"spec.delivery.allowedCRDGroups ({governing.source})")
    if item.kind in delivery.allowed_cluster_kinds or \
            item.group_kind in delivery.allowed_cluster_kinds:
        return None
    return (f"cluster-scoped kind {item.group_kind} is not in "
            f"spec.delivery.allowedClusterKinds ({governing.source})")


def delivery_refusals(governing: Governing, items: Iterable[PlannedObject]) -> list[str]:
    """Every refused object, as ``origin: object: why``."""
    refusals = []
    for item in items:
        why = object_refusal(governing, item)
        if why is not None:
            refusals.append(f"{item.origin}: {item}: {why}")
    return refusals

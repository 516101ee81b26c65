"""MultiClusterApplication condition types, reasons and domain transitions, in one file (as
Cluster API keeps ``*_conditions.go`` per kind). Phases are
:class:`hybridcloud.models.ApplicationPhase`; source errors carry their own reasons
(``delivery.errors``), placement its own (``reconcile.placement``)."""

from __future__ import annotations

from .tenancy import POLICY_VIOLATION as POLICY_VIOLATION

# Sub-conditions beside Ready / Reconciling / Stalled / Paused (``hybridcloud.conditions``).
SYNCED = "Synced"
PLACEMENT_READY = "PlacementReady"

# Reasons.
INVALID_SPEC = "InvalidSpec"
RENDER_FAILED = "RenderFailed"
PLACEMENT_NOT_READY = "PlacementNotReady"
APPLY_FAILED = "ApplyFailed"
OUT_OF_SYNC = "OutOfSync"
REMOVING = "Removing"
SYNCED_REASON = "Synced"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"
NOT_PLACED = "NotPlaced"
READY = "Ready"
DELETING = "Deleting"
PAUSED = "Paused"

# Domain transitions published on the feed (Kubernetes Events, webhooks, SSE).
FAILED_EVENT = "application.failed"
DEGRADED_EVENT = "application.degraded"
DEPLOYED_EVENT = "application.deployed"
UPDATED_EVENT = "application.updated"

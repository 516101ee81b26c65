"""HybridCluster condition types, reasons and domain transitions, in one file (as Cluster API
keeps ``*_conditions.go`` per kind). Phases are :class:`hybridcloud.models.ClusterPhase`."""

from __future__ import annotations

# Sub-conditions beside Ready / Reconciling / Stalled / Paused (``hybridcloud.conditions``).
INFRASTRUCTURE_READY = "InfrastructureReady"
CONTROL_PLANE_READY = "ControlPlaneReady"
NODE_POOLS_READY = "NodePoolsReady"

# Reasons of Ready / Reconciling / Stalled.
CREATING = "Creating"
RECREATING = "Recreating"
UPDATING = "Updating"
ACTIVE = "Active"
DELETING = "Deleting"
DELETED = "Deleted"
DELETE_FAILED = "DeleteFailed"
PROVIDER_FAILED = "ProviderFailed"
DOWNGRADE_NOT_SUPPORTED = "DowngradeNotSupported"
NODE_COUNT_UNKNOWN = "NodeCountUnknown"
PAUSED = "Paused"

# Reasons of the sub-conditions.
PROVISIONING = "Provisioning"
PROVISIONED = "Provisioned"
ENDPOINT_AVAILABLE = "Available"
NO_ENDPOINT = "NoEndpoint"
NODES_READY = "Ready"
SCALING = "Scaling"

# Domain transitions published on the feed (Kubernetes Events, webhooks, SSE).
CREATED_EVENT = "cluster.created"
READY_EVENT = "cluster.ready"
UPDATING_EVENT = "cluster.updating"
UPDATED_EVENT = "cluster.updated"
SCALED_EVENT = "cluster.scaled"
FAILED_EVENT = "cluster.failed"
DELETING_EVENT = "cluster.deleting"
DELETED_EVENT = "cluster.deleted"

"""Typed models of the platform's custom resources (the source of every schema)."""

from .application import (
    ApplicationPhase,
    ClusterDeployment,
    DeploymentState,
    GitSource,
    Health,
    HybridApplicationSpec,
    HybridApplicationStatus,
    MultiClusterApplication,
    PlacementConstraint,
    PlacementEntry,
    PlacementPolicy,
    PlacementStrategy,
    SyncPolicy,
)
from .cluster import (
    AutoScaling,
    ClusterPhase,
    DeletionPolicy,
    HybridCluster,
    HybridClusterSpec,
    HybridClusterStatus,
    Networking,
    NodeCounts,
    NodeGroup,
    NodeGroupStatus,
    NodeRole,
    Provider,
    Taint,
)
from .common import Condition, ConditionStatus, KubeModel, LabelSelector, SecretKeyRef

__all__ = [
    "ApplicationPhase", "AutoScaling", "ClusterDeployment", "ClusterPhase", "Condition",
    "ConditionStatus", "DeletionPolicy", "DeploymentState", "GitSource", "Health",
    "HybridApplicationSpec", "HybridApplicationStatus", "HybridCluster", "HybridClusterSpec",
    "HybridClusterStatus", "KubeModel", "LabelSelector", "MultiClusterApplication", "Networking",
    "NodeCounts", "NodeGroup", "NodeGroupStatus", "NodeRole", "PlacementConstraint",
    "PlacementEntry", "PlacementPolicy", "PlacementStrategy", "Provider", "SecretKeyRef",
    "SyncPolicy", "Taint",
]

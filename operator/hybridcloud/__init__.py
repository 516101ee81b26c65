"""hybridcloud: Kubernetes-native hybrid-cloud orchestration.

Clusters on OpenStack Magnum, AWS EKS, Google GKE, Azure AKS and local control planes are declared
as ``HybridCluster`` objects; Git-sourced applications placed across them as
``MultiClusterApplication`` objects. The Kubernetes API is the only database.
"""

GROUP = "platform.example.com"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
FINALIZER = f"{GROUP}/finalizer"
PAUSED_ANNOTATION = f"{GROUP}/paused"

__all__ = ["API_VERSION", "FINALIZER", "GROUP", "PAUSED_ANNOTATION", "VERSION"]

"""Google Kubernetes Engine (GKE) adapter on ``google-cloud-container`` with the REST transport.

Credential keys (data of the Kubernetes Secret):

* ``service_account.json`` — a service-account key file (JSON), used with the ``cloud-platform``
  scope; its ``project_id`` is the default project. Kubeconfigs get a freshly minted token.
* ``access_token`` — instead of a key, a static OAuth 2 access token. It cannot be refreshed, so
  kubeconfigs built from it are reported to expire 55 minutes after they are made.
* ``project`` — optional project id; ``options["project"]`` (``spec.gcp.project``) wins.

Options (``spec.gcp``): ``project``; ``zone`` (a zonal cluster instead of a regional one in
``spec.region``); ``network``/``subnetwork``; ``releaseChannel`` (RAPID, REGULAR, STABLE,
EXTENDED). Without a channel the cluster is outside release channels with node auto-upgrade off,
so versions change only through :meth:`GCPProvider.upgrade`.

GKE semantics worth knowing:

* Names must be lowercase, start with a letter and fit in 40 characters; names that do not are
  sanitized and shortened with a hash suffix (deterministically).
* Node counts are per zone: in a regional cluster a node pool of size 2 runs 2 nodes in each of
  the region's zones. GKE's API does not report a node pool's current size, so it is read from
  the pool's Compute Engine managed instance groups (largest target size, smallest number of
  ready instances over its zones); without Compute read access the initial count is reported.
* GKE runs one operation at a time per cluster; colliding calls raise :class:`TransientError`.
  ``update_node_group`` and ``upgrade`` do the next needed step per call, so repeating converges.
* ``ObservedCluster.version`` is the oldest of the control plane and the node pools: GKE
  upgrades them in separate operations and an upgrade is done only when the nodes follow.
* ``ClusterSpec.tags`` become GCP labels (lowercase ``[a-z0-9_-]``, at most 63 characters) on
  the cluster and node VMs. ``ClusterSpec.addons`` are not mapped (GKE's defaults apply).
"""

from ._naming import gcp_labels, gke_name
from ._provider import GCPProvider

__all__ = ["GCPProvider", "gcp_labels", "gke_name"]

"""Azure Kubernetes Service (AKS) adapter: managed clusters and their agent pools via ARM.

Credential keys (data of the Kubernetes Secret):

``tenant_id``, ``client_id``, ``client_secret``
    A service principal; tokens come from Azure AD's OAuth2 client-credentials grant.
``subscription_id``
    Subscription of the clusters; ``ClusterSpec.options["subscriptionId"]`` overrides it.
``authority_host`` (optional)
    Azure AD authority, default ``https://login.microsoftonline.com`` (sovereign clouds, tests).

Cluster options (``spec.azure``): ``subscriptionId``; ``resourceGroup`` (default
``hybridcloud-<region>``, created when missing and never deleted: other clusters may share it);
``dnsPrefix`` (default: the cluster name).

Worker node groups become agent pools, the first one the System pool; control-plane groups are
ignored because AKS manages the control plane. AKS pool names must match ``^[a-z][a-z0-9]{0,11}$``,
so other group names are shortened with a hash suffix and the group name is kept in the pool's
``hybridcloud-node-group`` tag, which :meth:`AzureProvider.describe` reads back.

Long-running ARM operations are followed with the SDK's pollers (``Azure-AsyncOperation`` /
``Location``, see ``_operations.py``) in the background: a call returns once ARM has accepted
the request, progress shows in ``provisioningState``, and the error of an operation that failed
is reported by :meth:`AzureProvider.describe`. ``polling_interval`` (registry: environment
``HYBRIDCLOUD_OPERATOR_AZURE_POLLING_INTERVAL``) sets the seconds between polls when ARM sends
no ``Retry-After``.
"""

from ._provider import AzureProvider

__all__ = ["AzureProvider"]

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

Long-running ARM operations are started with ``polling=False``: the call returns once ARM has
accepted the request, no poller thread is left behind, and progress shows in ``provisioningState``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import yaml
from azure.core.credentials import AccessToken
from azure.core.exceptions import AzureError, HttpResponseError
from azure.core.rest import HttpRequest, HttpResponse
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.containerservice import models as aks
from cryptography import x509

from hybridcloud.providers.base import (
    AuthenticationError,
    ClusterSpec,
    ClusterState,
    InvalidConfigurationError,
    Kubeconfig,
    NodeGroupSpec,
    ObservedCluster,
    ObservedNodeGroup,
    PermanentError,
    ProviderError,
    QuotaExceededError,
    TransientError,
)

T = TypeVar("T")

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
DEFAULT_VM_SIZE = "Standard_D4s_v5"
NODE_GROUP_TAG = "hybridcloud-node-group"
RESOURCE_GROUP_API = "2022-09-01"
POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# ARM codes for "another operation is still running on this resource": retry later.
BUSY_CODES = {"OperationNotAllowed", "AnotherOperationInProgress", "Conflict"}
STATES = {"Creating": ClusterState.CREATING, "Succeeded": ClusterState.ACTIVE,
          "Canceled": ClusterState.ACTIVE, "Deleting": ClusterState.DELETING,
          "Failed": ClusterState.FAILED}  # Updating/Upgrading/Scaling/… → UPDATING
# cni → (networkPlugin, networkPluginMode, networkDataplane, networkPolicy)
CNI = {None: ("azure", "overlay", None, None), "azure": ("azure", "overlay", None, None),
       "kubenet": ("kubenet", None, None, None), "none": ("none", None, None, None),
       "cilium": ("azure", "overlay", "cilium", "cilium"),
       "calico": ("azure", "overlay", None, "calico")}


class _NotFoundError(PermanentError):
    """ARM 404: callers for which absence is fine catch it; for the others it stays permanent."""

    reason = "NotFound"


def _is_loopback_http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "http" and parts.hostname in LOOPBACK


def _check_endpoint(url: str, what: str) -> None:
    # Bearer tokens and client secrets must not cross the network in clear text.
    if not url.startswith("https://") and not _is_loopback_http(url):
        raise InvalidConfigurationError(f"{what} {url} must use https (plain http only on "
                                        "loopback)")


class _ClientSecretCredential:
    """Azure AD client-credentials grant (azure-identity is not a dependency of hybridcloud)."""

    def __init__(self, authority: str, tenant_id: str, client_id: str, secret: str) -> None:
        self._url = f"{authority.rstrip('/')}/{tenant_id}/oauth2/v2.0/token"
        self._client_id, self._secret = client_id, secret

    def get_token(self, *scopes: str, claims: str | None = None, tenant_id: str | None = None,
                  enable_cae: bool = False, **kwargs: Any) -> AccessToken:
        form = {"grant_type": "client_credentials", "client_id": self._client_id,
                "client_secret": self._secret, "scope": " ".join(scopes)}
        try:
            response = httpx.post(self._url, data=form, timeout=30)
        except httpx.HTTPError as exc:
            raise TransientError(f"Azure AD token request failed: {type(exc).__name__}: "
                                 f"{exc}") from None
        if response.status_code == 200:
            body = response.json()
            return AccessToken(body["access_token"], int(time.time()) + int(body["expires_in"]))
        try:
            detail = str(response.json().get("error_description", "")).splitlines()[0]
        except (ValueError, AttributeError, IndexError):
            detail = response.reason_phrase
        detail = detail.replace(self._secret, "***")  # should AD ever echo the request
        message = f"Azure AD rejected the service principal: {detail}"
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(message, retry_after=_seconds(response.headers.get("Retry-After")))
        raise AuthenticationError(message)


def _seconds(retry_after: str | None) -> float | None:
    try:  # ARM and Azure AD send delta-seconds; an HTTP date leaves the backoff to the operator
        return max(0.0, float(retry_after)) if retry_after else None
    except ValueError:
        return None


def _pool_name(group: str) -> str:
    """A valid, stable AKS pool name for a node group name."""
    if POOL_NAME.match(group):
        return group
    base = re.sub(r"[^a-z0-9]", "", group.lower())
    if not base[:1].isalpha():
        base = "np" + base
    return base[:7] + hashlib.sha256(group.encode()).hexdigest()[:5]


def _version(version: str) -> str:
    return version.removeprefix("v")


def _taint(key: str, value: str | None, effect: str) -> str:
    return f"{key}={value}:{effect}" if value is not None else f"{key}:{effect}"


def _tags(tags: Mapping[str, str]) -> dict[str, str]:
    # Azure tag names may not contain <>%&\?/ ; map them to "-" deterministically.
    return {re.sub(r"[<>%&\\?/]", "-", key): value for key, value in tags.items()}


def _state(provisioning_state: str | None) -> ClusterState:
    return STATES.get(provisioning_state or "Succeeded", ClusterState.UPDATING)


class AzureProvider:
    name = "azure"

    def __init__(self, credentials: Mapping[str, str], *, base_url: str | None = None) -> None:
        missing = [key for key in ("tenant_id", "client_id", "client_secret") if
                   not credentials.get(key)]
        if missing:
            raise AuthenticationError(f"Azure credentials lack {', '.join(missing)}")
        authority = credentials.get("authority_host") or DEFAULT_AUTHORITY
        _check_endpoint(authority, "authority_host")
        if base_url:
            _check_endpoint(base_url, "Azure Resource Manager endpoint")
        self._secret = credentials["client_secret"]
        self._base_url = base_url
        self._subscription = credentials.get("subscription_id")
        self._credential = _ClientSecretCredential(authority, credentials["tenant_id"],
                                                   credentials["client_id"], self._secret)
        # The SDK's bearer-token policy refuses http; only a loopback test endpoint gets http.
        self._call_options: dict[str, Any] = (
            {"enforce_https": False} if base_url and _is_loopback_http(base_url) else {})
        self._clients: dict[str, ContainerServiceClient] = {}
        self._lock = threading.Lock()
        if self._subscription:
            self._client_for(self._subscription)

    # -- plumbing --------------------------------------------------------------------------
    def _client_for(self, subscription: str) -> ContainerServiceClient:
        with self._lock:
            if subscription not in self._clients:
                extra: dict[str, Any] = {}
                if self._base_url:
                    extra = {"base_url": self._base_url,
                             "credential_scopes": [f"{self._base_url.rstrip('/')}/.default"]}
                # Throttling and 5xx go back to the operator at once (it backs off with
                # retry_after) instead of sleeping in a worker thread; only connection
                # failures get a quick retry here.
                self._clients[subscription] = ContainerServiceClient(
                    self._credential, subscription, retry_total=2, retry_connect=2,
                    retry_read=1, retry_status=0, retry_backoff_factor=0.5,
                    retry_backoff_max=4, connection_timeout=10, read_timeout=60, **extra)
            return self._clients[subscription]

    def _subscription_of(self, cluster: ClusterSpec) -> str:
        subscription = str(cluster.options.get("subscriptionId") or self._subscription or "")
        if not subscription:
            raise InvalidConfigurationError("no Azure subscription: set subscription_id in the "
                                            "credentials or spec.azure.subscriptionId")
        return subscription

    def _where(self, cluster: ClusterSpec) -> tuple[ContainerServiceClient, str, str]:
        """The client, resource group and resource name the cluster lives at."""
        group = str(cluster.options.get("resourceGroup") or f"hybridcloud-{cluster.region}")
        return self._client_for(self._subscription_of(cluster)), group, cluster.name

    def _scrub(self, message: str) -> str:
        return message.replace(self._secret, "***") if len(self._secret) >= 4 else message

    def _call(self, action: str, operation: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        for attempt in (1, 2):
            try:
                return operation(*args, **self._call_options, **kwargs)
            except HttpResponseError as exc:
                # ARM refused the token (expired/revoked): the policy has dropped it, so one
                # retry runs with a fresh one.
                if attempt == 1 and exc.status_code == 401 and exc.error is not None \
                        and exc.error.code == "InvalidAuthenticationToken":
                    continue
                raise self._translate(exc, action) from exc
            except AzureError as exc:  # no response: connection trouble, timeouts
                raise TransientError(self._scrub(f"AKS {action} failed: {exc.message}")) from exc
        raise AssertionError("unreachable")

    def _call_or_none(self, action: str, operation: Callable[..., T], *args: Any,
                      **kwargs: Any) -> T | None:
        """Like :meth:`_call`, but a 404 (nothing there) is None instead of an error."""
        try:
            return self._call(action, operation, *args, **kwargs)
        except _NotFoundError:
            return None

    def _translate(self, exc: HttpResponseError, action: str) -> ProviderError:
        status = exc.status_code or 0
        code = exc.error.code if exc.error is not None and exc.error.code else ""
        detail = exc.error.message if exc.error is not None and exc.error.message else exc.reason
        message = self._scrub(f"AKS {action} failed: ({code or status}) {detail}")
        retry_after = _seconds(getattr(exc.response, "headers", {}).get("Retry-After"))
        if status in (408, 429) or status >= 500:
            return TransientError(message, retry_after=retry_after)
        if "quota" in f"{code} {detail}".lower():  # before 409: Compute says it with a 409 too
            return QuotaExceededError(message)
        if status == 409 and (code in BUSY_CODES or "in progress" in message.lower()):
            return TransientError(message, retry_after=retry_after, reason="OperationInProgress")
        if status in (401, 403) and code != "RequestDisallowedByPolicy":
            return AuthenticationError(message)
        if status == 404:
            return _NotFoundError(message)
        return InvalidConfigurationError(message) if status == 400 else PermanentError(message)

    def _get_cluster(self, cluster: ClusterSpec) -> aks.ManagedCluster | None:
        client, group, name = self._where(cluster)
        return self._call_or_none("describe", client.managed_clusters.get, group, name)

    # -- spec → AKS ------------------------------------------------------------------------
    @staticmethod
    def _workers(cluster: ClusterSpec) -> list[NodeGroupSpec]:
        workers = [group for group in cluster.node_groups if group.role != "control-plane"]
        if not workers:
            raise InvalidConfigurationError("AKS needs at least one worker node group")
        return workers

    @staticmethod
    def _pool_fields(cluster: ClusterSpec, group: NodeGroupSpec, mode: str) -> dict[str, Any]:
        return {"count": group.size, "vm_size": group.instance_type or DEFAULT_VM_SIZE,
                "os_disk_size_gb": group.disk_size, "os_type": "Linux", "mode": mode,
                "orchestrator_version": _version(cluster.version),
                "enable_auto_scaling": group.autoscaling, "min_count": group.min_size,
                "max_count": group.max_size, "node_labels": dict(group.labels),
                "node_taints": [_taint(t.key, t.value, t.effect) for t in group.taints],
                "tags": {**_tags(cluster.tags), NODE_GROUP_TAG: group.name}}

    @staticmethod
    def _network(cluster: ClusterSpec) -> aks.ContainerServiceNetworkProfile:
        cni = cluster.cni.lower() if cluster.cni else None
        if cni not in CNI:
            raise InvalidConfigurationError(f"AKS does not offer the CNI {cluster.cni!r}; use "
                                            "azure, kubenet, cilium, calico or none")
        plugin, mode, dataplane, policy = CNI[cni]
        dns_ip = None
        if cluster.service_cidr:  # kube-dns needs an address inside the service range
            dns_ip = str(ipaddress.ip_network(cluster.service_cidr, strict=False)[10])
        return aks.ContainerServiceNetworkProfile(
            network_plugin=plugin, network_plugin_mode=mode, network_dataplane=dataplane,
            network_policy=policy, pod_cidr=cluster.cluster_cidr,
            service_cidr=cluster.service_cidr, dns_service_ip=dns_ip)

    def _ensure_resource_group(self, cluster: ClusterSpec) -> None:
        client, group, _ = self._where(cluster)
        path = f"/subscriptions/{self._subscription_of(cluster)}/resourcegroups/{group}" \
               f"?api-version={RESOURCE_GROUP_API}"

        def send(method: str, body: dict[str, Any] | None = None, **options: Any) -> HttpResponse:
            response = client.send_request(HttpRequest(method, path, json=body), **options)
            if response.status_code != 404:
                response.raise_for_status()
            return response

        if self._call("look up resource group", send, "GET").status_code == 404:
            self._call("create resource group", send, "PUT",
                       {"location": cluster.region, "tags": {"managed-by": "hybridcloud"}})

    # -- CloudProvider -----------------------------------------------------------------------
    def describe(self, cluster: ClusterSpec) -> ObservedCluster | None:
        found = self._get_cluster(cluster)
        if found is None or found.properties is None:
            return None
        props = found.properties
        groups = tuple(self._observe_pool(found.id or "", pool)
                       for pool in props.agent_pool_profiles or [])
        state, message = _state(props.provisioning_state), None
        if state is ClusterState.FAILED and props.status and props.status.provisioning_error:
            message = props.status.provisioning_error.message
        elif state is ClusterState.ACTIVE and props.power_state is not None \
                and props.power_state.code == "Stopped":
            state, message = ClusterState.FAILED, "the AKS cluster is stopped (az aks start)"
        elif state is ClusterState.ACTIVE and any(g.state is not state for g in groups):
            state = ClusterState.UPDATING  # an agent pool operation is still running
        fqdn = props.fqdn or props.private_fqdn
        return ObservedCluster(
            provider_id=found.id or cluster.name, name=found.name or cluster.name, state=state,
            version=props.current_kubernetes_version or props.kubernetes_version,
            endpoint=f"https://{fqdn}:443" if fqdn else None, node_groups=groups,
            message=message, master_count=0)

    @staticmethod
    def _observe_pool(cluster_id: str, pool: aks.ManagedClusterAgentPoolProfile) \
            -> ObservedNodeGroup:
        state = _state(pool.provisioning_state)
        size = pool.count or 0
        scaling = bool(pool.enable_auto_scaling)
        # AKS reports no per-node readiness: a settled pool counts as ready, one in flux as not.
        return ObservedNodeGroup(
            name=(pool.tags or {}).get(NODE_GROUP_TAG, pool.name), size=size,
            ready=size if state is ClusterState.ACTIVE else 0, state=state,
            min_size=pool.min_count if scaling else None,
            max_size=pool.max_count if scaling else None,
            provider_id=f"{cluster_id}/agentPools/{pool.name}")

    def create(self, cluster: ClusterSpec) -> None:
        workers, network = self._workers(cluster), self._network(cluster)
        if self._get_cluster(cluster) is not None:
            return  # adopted: an earlier create got through
        self._ensure_resource_group(cluster)
        client, group, name = self._where(cluster)
        pools = [aks.ManagedClusterAgentPoolProfile(
            name=_pool_name(g.name), **self._pool_fields(cluster, g, "User" if i else "System"))
            for i, g in enumerate(workers)]
        model = aks.ManagedCluster(
            location=cluster.region, tags=_tags(cluster.tags),
            identity=aks.ManagedClusterIdentity(type="SystemAssigned"),
            properties=aks.ManagedClusterProperties(
                kubernetes_version=_version(cluster.version), enable_rbac=True,
                dns_prefix=self._dns_prefix(cluster), agent_pool_profiles=pools,
                network_profile=network))
        self._call("create", client.managed_clusters.begin_create_or_update, group, name, model,
                   polling=False)

    @staticmethod
    def _dns_prefix(cluster: ClusterSpec) -> str:
        prefix = str(cluster.options.get("dnsPrefix") or cluster.name)
        return re.sub(r"[^A-Za-z0-9-]", "-", prefix)[:54].strip("-")

    def delete(self, cluster: ClusterSpec) -> None:
        found = self._get_cluster(cluster)
        if found is None or (found.properties and found.properties.provisioning_state
                             == "Deleting"):
            return
        client, group, name = self._where(cluster)
        self._call_or_none("delete", client.managed_clusters.begin_delete, group, name,
                           polling=False)

    def _get_pool(self, cluster: ClusterSpec, pool: str) -> aks.AgentPool | None:
        client, group, name = self._where(cluster)
        return self._call_or_none("describe node group", client.agent_pools.get, group, name,
                                  pool)

    def _put_pool(self, cluster: ClusterSpec, pool: str, model: aks.AgentPool) -> None:
        client, group, name = self._where(cluster)
        self._call(f"write node group {pool}", client.agent_pools.begin_create_or_update, group,
                   name, pool, model, polling=False)

    def create_node_group(self, cluster: ClusterSpec, group: NodeGroupSpec) -> None:
        if group.role == "control-plane" or self._get_pool(cluster, _pool_name(group.name)):
            return
        properties = aks.AgentPoolManagedClusterAgentPoolProfileProperties(
            **self._pool_fields(cluster, group, "User"))
        self._put_pool(cluster, _pool_name(group.name), aks.AgentPool(properties=properties))

    def update_node_group(self, cluster: ClusterSpec, group: NodeGroupSpec) -> None:
        if group.role == "control-plane":
            return
        pool = self._get_pool(cluster, _pool_name(group.name))
        if pool is None or pool.properties is None:
            self.create_node_group(cluster, group)  # gone meanwhile: converge by recreating
            return
        props = pool.properties
        count = group.size
        if group.min_size is not None and group.max_size is not None:
            # The autoscaler owns the node count; only keep it inside the new bounds.
            count = min(max(props.count or group.size, group.min_size), group.max_size)
        wanted = {"count": count, "enable_auto_scaling": group.autoscaling,
                  "min_count": group.min_size, "max_count": group.max_size,
                  "node_labels": dict(group.labels),  # {} and [] clear them, None would not
                  "node_taints": [_taint(t.key, t.value, t.effect) for t in group.taints]}
        current = {"count": props.count, "enable_auto_scaling": bool(props.enable_auto_scaling),
                   "min_count": props.min_count, "max_count": props.max_count,
                   "node_labels": props.node_labels or {}, "node_taints": props.node_taints or []}
        if current != wanted:
            for key, value in wanted.items():
                setattr(props, key, value)
            self._put_pool(cluster, _pool_name(group.name), pool)

    def delete_node_group(self, cluster: ClusterSpec, name: str) -> None:
        pool = self._get_pool(cluster, _pool_name(name))
        if pool is None or (pool.properties and pool.properties.provisioning_state
                            == "Deleting"):
            return
        client, group, cluster_name = self._where(cluster)
        self._call_or_none(f"delete node group {name}", client.agent_pools.begin_delete, group,
                           cluster_name, _pool_name(name), polling=False)

    def upgrade(self, cluster: ClusterSpec, version: str) -> None:
        found, target = self._get_cluster(cluster), _version(version)
        if found is None or found.properties is None:
            raise PermanentError(f"cannot upgrade {cluster.name}: the AKS cluster does not exist")
        props = found.properties
        running = props.current_kubernetes_version or ""
        if target in (props.kubernetes_version, running) or running.startswith(f"{target}."):
            return  # requested already (repeated call) or running that version
        props.kubernetes_version = target
        for pool in props.agent_pool_profiles or []:
            pool.orchestrator_version = target  # AKS upgrades the pools along when asked to
        client, group, name = self._where(cluster)
        self._call("upgrade", client.managed_clusters.begin_create_or_update, group, name, found,
                   polling=False)

    def kubeconfig(self, cluster: ClusterSpec, observed: ObservedCluster) -> Kubeconfig:
        client, group, name = self._where(cluster)
        result = self._call("get kubeconfig", client.managed_clusters.list_cluster_user_credentials,
                            group, name)
        configs = result.kubeconfigs or []
        try:
            value = configs[0].value if configs else None
            text = value.decode() if isinstance(value, bytes) else ""
            document = yaml.safe_load(text)
        except (UnicodeDecodeError, yaml.YAMLError):
            document = None  # the parser's message would quote the credential: say nothing
        if not isinstance(document, dict) or not document.get("users"):
            raise PermanentError(f"AKS returned no usable kubeconfig for {cluster.name}")
        return Kubeconfig(text=text, expires_at=_credential_expiry(document))


def _credential_expiry(document: dict[str, Any]) -> datetime:
    """When the earliest client certificate in the kubeconfig lapses; for static tokens and
    exec plugins (AAD-enabled clusters) an hour from now, so the operator refreshes it."""
    expiries: list[datetime] = []
    users = document.get("users")
    for entry in users if isinstance(users, list) else []:
        user = entry.get("user") if isinstance(entry, dict) else None
        if isinstance(user, dict) and user.get("client-certificate-data"):
            try:
                pem = base64.b64decode(str(user["client-certificate-data"]))
                expiries.append(x509.load_pem_x509_certificate(pem).not_valid_after_utc)
            except (ValueError, binascii.Error):
                continue  # not a certificate: nothing to learn from it
    return min(expiries) if expiries else datetime.now(UTC) + timedelta(hours=1)

"""The AKS adapter; the package docstring describes credentials, options and the mapping."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from azure.core.exceptions import AzureError, HttpResponseError
from azure.core.polling import LROPoller
from azure.core.rest import HttpRequest, HttpResponse
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.containerservice import models as aks

from hybridcloud.providers.base import (
    AuthenticationError,
    ClusterSpec,
    ClusterState,
    InvalidConfigurationError,
    Kubeconfig,
    NodeGroupSpec,
    ObservedCluster,
    PermanentError,
    TransientError,
    redact,
)

from . import _specs as specs
from ._auth import DEFAULT_AUTHORITY, ClientSecretCredential, check_endpoint, is_loopback_http
from ._errors import NotFoundError, translate
from ._kubeconfig import user_kubeconfig
from ._operations import ClusterKey, OperationBook

T = TypeVar("T")

RESOURCE_GROUP_API = "2022-09-01"


class AzureProvider:
    name = "azure"

    def __init__(self, credentials: Mapping[str, str], *, base_url: str | None = None,
                 polling_interval: float | None = None) -> None:
        missing = [key for key in ("tenant_id", "client_id", "client_secret") if
                   not credentials.get(key)]
        if missing:
            raise AuthenticationError(f"Azure credentials lack {', '.join(missing)}")
        authority = credentials.get("authority_host") or DEFAULT_AUTHORITY
        check_endpoint(authority, "authority_host")
        if base_url:
            check_endpoint(base_url, "Azure Resource Manager endpoint")
        self._secrets = (credentials["client_secret"],)
        self._base_url = base_url
        self._subscription = credentials.get("subscription_id")
        self._credential = ClientSecretCredential(authority, credentials["tenant_id"],
                                                  credentials["client_id"],
                                                  credentials["client_secret"])
        # The SDK's bearer-token policy refuses http; only a loopback test endpoint gets http.
        self._call_options: dict[str, Any] = (
            {"enforce_https": False} if base_url and is_loopback_http(base_url) else {})
        self._clients: dict[str, ContainerServiceClient] = {}
        self._lock = threading.Lock()
        # Seconds between polls of a long-running operation when ARM sends no Retry-After
        # (None: the SDK's default); tests make it short.
        self._polling: dict[str, Any] = (
            {} if polling_interval is None else {"polling_interval": polling_interval})
        self._operations = OperationBook(self._secrets)
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
                raise translate(exc, action, self._secrets) from exc
            except AzureError as exc:  # no response: connection trouble, timeouts
                raise TransientError(redact(f"AKS {action} failed: {exc.message}",
                                            self._secrets)) from exc
        raise AssertionError("unreachable")

    def _begin(self, cluster: ClusterSpec, action: str, operation: Callable[..., LROPoller[Any]],
               *args: Any) -> None:
        """Start a long-running operation; its poller follows it in the background and
        :meth:`describe` reports how it ended."""
        poller = self._call(action, operation, *args, **self._polling)
        self._operations.track(self._key(cluster), action, poller)

    def _key(self, cluster: ClusterSpec) -> ClusterKey:
        _, group, name = self._where(cluster)
        return self._subscription_of(cluster).lower(), group.lower(), name.lower()

    def _call_or_none(self, action: str, operation: Callable[..., T], *args: Any,
                      **kwargs: Any) -> T | None:
        """Like :meth:`_call`, but a 404 (nothing there) is None instead of an error."""
        try:
            return self._call(action, operation, *args, **kwargs)
        except NotFoundError:
            return None

    def _get_cluster(self, cluster: ClusterSpec) -> aks.ManagedCluster | None:
        client, group, name = self._where(cluster)
        return self._call_or_none("describe", client.managed_clusters.get, group, name)

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
        groups = tuple(specs.observed_pool(found.id or "", pool)
                       for pool in props.agent_pool_profiles or [])
        state, message = specs.state_of(props.provisioning_state), None
        operation = self._operations.latest(self._key(cluster))
        failure = operation.error if operation is not None else None
        if state is ClusterState.FAILED and props.status and props.status.provisioning_error:
            message = props.status.provisioning_error.message
        elif state is ClusterState.FAILED and failure:
            message = failure  # ARM said why in the operation status only
        elif state is ClusterState.FAILED and operation is not None and not operation.done:
            # Failed at ARM, and our poller reads the reason at its next look: until then it
            # is the operation still in progress rather than a failure nobody explains.
            state = ClusterState.CREATING if operation.action == "create" \
                else ClusterState.UPDATING
        elif state is not ClusterState.FAILED and failure and any(
                g.state is ClusterState.FAILED for g in groups):
            # An agent-pool operation failed: the pool says Failed, the operation says why.
            state, message = ClusterState.FAILED, failure
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

    def create(self, cluster: ClusterSpec) -> None:
        workers, network = specs.workers(cluster), specs.network(cluster)
        if self._get_cluster(cluster) is not None:
            return  # adopted: an earlier create got through
        self._ensure_resource_group(cluster)
        client, group, name = self._where(cluster)
        model = specs.managed_cluster(cluster, workers, network)
        self._begin(cluster, "create", client.managed_clusters.begin_create_or_update, group,
                    name, model)

    def delete(self, cluster: ClusterSpec) -> None:
        found = self._get_cluster(cluster)
        if found is None or (found.properties and found.properties.provisioning_state
                             == "Deleting"):
            return
        client, group, name = self._where(cluster)
        try:
            self._begin(cluster, "delete", client.managed_clusters.begin_delete, group, name)
        except NotFoundError:
            self._operations.forget(self._key(cluster))  # gone meanwhile: deleted

    def _get_pool(self, cluster: ClusterSpec, pool: str) -> aks.AgentPool | None:
        client, group, name = self._where(cluster)
        return self._call_or_none("describe node group", client.agent_pools.get, group, name,
                                  pool)

    def _put_pool(self, cluster: ClusterSpec, pool: str, model: aks.AgentPool) -> None:
        client, group, name = self._where(cluster)
        self._begin(cluster, f"write node group {pool}", client.agent_pools.begin_create_or_update,
                    group, name, pool, model)

    def create_node_group(self, cluster: ClusterSpec, group: NodeGroupSpec) -> None:
        pool = specs.pool_name(group.name)
        if group.role == "control-plane" or self._get_pool(cluster, pool):
            return
        properties = aks.AgentPoolManagedClusterAgentPoolProfileProperties(
            **specs.pool_fields(cluster, group, "User"))
        self._put_pool(cluster, pool, aks.AgentPool(properties=properties))

    def update_node_group(self, cluster: ClusterSpec, group: NodeGroupSpec) -> None:
        if group.role == "control-plane":
            return
        pool = self._get_pool(cluster, specs.pool_name(group.name))
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
                  "node_taints": [specs.aks_taint(t.key, t.value, t.effect)
                                  for t in group.taints]}
        current = {"count": props.count, "enable_auto_scaling": bool(props.enable_auto_scaling),
                   "min_count": props.min_count, "max_count": props.max_count,
                   "node_labels": props.node_labels or {}, "node_taints": props.node_taints or []}
        if current != wanted:
            for key, value in wanted.items():
                setattr(props, key, value)
            self._put_pool(cluster, specs.pool_name(group.name), pool)

    def delete_node_group(self, cluster: ClusterSpec, name: str) -> None:
        pool = self._get_pool(cluster, specs.pool_name(name))
        if pool is None or (pool.properties and pool.properties.provisioning_state
                            == "Deleting"):
            return
        client, group, cluster_name = self._where(cluster)
        with contextlib.suppress(NotFoundError):  # gone meanwhile
            self._begin(cluster, f"delete node group {name}", client.agent_pools.begin_delete,
                        group, cluster_name, specs.pool_name(name))

    def default_version(self, cluster: ClusterSpec) -> str:
        """The minor AKS marks ``isDefault`` for the region (``az aks get-versions``), which
        new clusters get when they name none."""
        client, _, _ = self._where(cluster)
        listed = self._call("list Kubernetes versions",
                            client.managed_clusters.list_kubernetes_versions, cluster.region)
        default = next((v.version for v in listed.values_property or []
                        if v.is_default and v.version),
                       None)
        if default is None:
            raise InvalidConfigurationError(f"AKS names no default Kubernetes version in "
                                            f"{cluster.region}: set spec.version")
        return str(default)

    def upgrade(self, cluster: ClusterSpec, version: str) -> None:
        found, target = self._get_cluster(cluster), specs.aks_version(version)
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
        self._begin(cluster, "upgrade", client.managed_clusters.begin_create_or_update, group,
                    name, found)

    def kubeconfig(self, cluster: ClusterSpec, observed: ObservedCluster) -> Kubeconfig:
        client, group, name = self._where(cluster)
        result = self._call("get kubeconfig", client.managed_clusters.list_cluster_user_credentials,
                            group, name)
        return user_kubeconfig(result, cluster.name, self._credential)

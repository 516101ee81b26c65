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

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import requests
import yaml
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions
from google.auth.transport.requests import AuthorizedSession
from google.auth.transport.requests import Request as AuthRequest
from google.cloud import container_v1
from google.oauth2 import credentials as oauth2_credentials
from google.oauth2 import service_account

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

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
CALL_TIMEOUT = 30.0
STATIC_TOKEN_LIFETIME = timedelta(minutes=55)
CLUSTER_STATES = {"PROVISIONING": ClusterState.CREATING, "RUNNING": ClusterState.ACTIVE,
                  "RECONCILING": ClusterState.UPDATING, "STOPPING": ClusterState.DELETING,
                  "ERROR": ClusterState.FAILED, "DEGRADED": ClusterState.FAILED}
POOL_STATES = {"PROVISIONING": ClusterState.CREATING, "RUNNING": ClusterState.ACTIVE,
               "RUNNING_WITH_ERROR": ClusterState.ACTIVE, "RECONCILING": ClusterState.UPDATING,
               "STOPPING": ClusterState.DELETING, "ERROR": ClusterState.FAILED}
TRANSITIONS = {ClusterState.CREATING, ClusterState.UPDATING, ClusterState.DELETING}
TAINT_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE",
                 "NoExecute": "NO_EXECUTE"}
RELEASE_CHANNELS = ("RAPID", "REGULAR", "STABLE", "EXTENDED")


def gke_name(name: str) -> str:
    """A valid GKE resource name for ``name``: itself when valid, else sanitized + hash."""
    if re.fullmatch(r"[a-z]([-a-z0-9]{0,38}[a-z0-9])?", name):
        return name
    stem = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not stem[:1].isalpha():
        stem = f"hc-{stem}"
    return f"{stem[:31].rstrip('-')}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def _label_text(text: str) -> str:
    cleaned = re.sub(r"[^a-z0-9_-]", "_", text.lower())
    if len(cleaned) <= 63:
        return cleaned
    return f"{cleaned[:54]}_{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def gcp_labels(tags: Mapping[str, str]) -> dict[str, str]:
    """GCP label rules: keys start with a lowercase letter; keys/values ``[a-z0-9_-]{0,63}``."""
    labels = {}
    for key, value in tags.items():
        label_key = _label_text(key)
        labels[label_key if label_key[:1].isalpha() else _label_text(f"k-{key}")] = \
            _label_text(value)
    return labels


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(number) for number in re.findall(r"\d+", version))


def version_matches(actual: str, wanted: str) -> bool:
    """GKE resolves "1.29" or "1.29.4" to a full version such as "1.29.4-gke.1043002"."""
    wanted = wanted.removeprefix("v")
    return actual == wanted or actual.startswith((f"{wanted}.", f"{wanted}-"))


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from a Retry-After header given as seconds or as an HTTP date."""
    value = (headers or {}).get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_class(code: int, status: str, message: str) -> type[ProviderError]:
    """The operator's error class for an HTTP code, google.rpc status and message."""
    lowered = message.lower()
    if code in (408, 429) or code >= 500 \
            or status in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "ABORTED") \
            or (status == "FAILED_PRECONDITION" and "operation" in lowered):
        return TransientError  # throttled, down, or another operation holds the cluster
    if code == 401 or status in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        return AuthenticationError
    if status == "RESOURCE_EXHAUSTED" or "quota" in lowered:
        return QuotaExceededError
    if code == 400 and status != "FAILED_PRECONDITION":
        return InvalidConfigurationError
    return PermanentError


def _enum_name(value: Any) -> str:
    return str(getattr(value, "name", value))


class GCPProvider:
    """GKE clusters of one Google Cloud account."""

    name = "gcp"

    def __init__(self, credentials: Mapping[str, str], *, endpoint: str | None = None) -> None:
        self._secrets = [value for key, value in credentials.items() if key != "project" and value]
        project: str | None = None
        self._static_token = bool(credentials.get("access_token")) \
            and not credentials.get("service_account.json")
        if credentials.get("service_account.json"):
            try:
                info = json.loads(credentials["service_account.json"])
                self._secrets += [str(info.get("private_key") or ""),
                                  str(info.get("private_key_id") or "")]
                from_info = service_account.Credentials.from_service_account_info
                google_credentials = from_info(info, scopes=SCOPES)  # type: ignore[no-untyped-call]
            except (ValueError, KeyError, TypeError, AttributeError):
                raise AuthenticationError("GKE credential 'service_account.json' is not a valid "
                                          "service-account key") from None
            project = info.get("project_id")
        elif self._static_token:
            google_credentials = oauth2_credentials.Credentials(  # type: ignore[no-untyped-call]
                token=credentials["access_token"])
        else:
            raise AuthenticationError("GKE credentials need 'service_account.json' or "
                                      "'access_token'")
        self._credentials = google_credentials
        self._project = credentials.get("project") or project
        self._client = container_v1.ClusterManagerClient(
            credentials=google_credentials, transport="rest",
            client_options={"api_endpoint": endpoint} if endpoint else None)
        # For Compute Engine reads (node pool sizes), which the GKE client does not cover.
        self._session = AuthorizedSession(google_credentials)  # type: ignore[no-untyped-call]

    # -- CloudProvider --------------------------------------------------------------------
    def describe(self, cluster: ClusterSpec) -> ObservedCluster | None:
        found = self._get_cluster(cluster)
        if found is None:
            return None
        names = {gke_name(group.name): group.name for group in cluster.node_groups}
        path = self._cluster_path(cluster)
        groups = tuple(self._observe_pool(pool, names.get(pool.name, pool.name), path)
                       for pool in found.node_pools)
        state = CLUSTER_STATES.get(_enum_name(found.status), ClusterState.UPDATING)
        if state is ClusterState.ACTIVE and any(g.state in TRANSITIONS for g in groups):
            state = ClusterState.UPDATING
        versions = [v for v in (found.current_master_version, *(p.version for p in
                                                                 found.node_pools)) if v]
        message = found.status_message or "; ".join(c.message for c in found.conditions)
        return ObservedCluster(
            provider_id=path, name=found.name, state=state,
            version=min(versions, key=version_key) if versions else None,
            endpoint=f"https://{found.endpoint}" if found.endpoint else None,
            ca_data=found.master_auth.cluster_ca_certificate or None,
            node_groups=groups, message=message or None, master_count=0)

    def create(self, cluster: ClusterSpec) -> None:
        existing = self._get_cluster(cluster)
        if existing is not None:
            if _enum_name(existing.status) == "STOPPING":
                raise TransientError(f"GKE cluster {existing.name} is still being deleted; "
                                     "it can be created again once it is gone")
            return
        body = container_v1.Cluster(
            name=gke_name(cluster.name), initial_cluster_version=cluster.version,
            node_pools=[self._node_pool(cluster, group) for group in cluster.node_groups
                        if group.role != "control-plane"],
            resource_labels=gcp_labels(cluster.tags),
            ip_allocation_policy=container_v1.IPAllocationPolicy(
                use_ip_aliases=True, cluster_ipv4_cidr_block=cluster.cluster_cidr or "",
                services_ipv4_cidr_block=cluster.service_cidr or ""),
            release_channel=container_v1.ReleaseChannel(channel=getattr(
                container_v1.ReleaseChannel.Channel, self._channel(cluster) or "UNSPECIFIED")),
            network=str(cluster.options.get("network") or ""),
            subnetwork=str(cluster.options.get("subnetwork") or ""),
            **self._cni(cluster.cni))
        # A 409 means an earlier, interrupted call (or a concurrent one) already created it.
        self._call("create cluster", "create_cluster", tolerated=(api_exceptions.Conflict,),
                   parent=self._location_path(cluster), cluster=body)

    def delete(self, cluster: ClusterSpec) -> None:
        existing = self._get_cluster(cluster)
        if existing is not None and _enum_name(existing.status) != "STOPPING":
            self._call("delete cluster", "delete_cluster", tolerated=(api_exceptions.NotFound,),
                       name=self._cluster_path(cluster))

    def create_node_group(self, cluster: ClusterSpec, group: NodeGroupSpec) -> None:
        if group.role != "control-plane" and self._get_pool(cluster, group.name) is None:
            self._call("create node pool", "create_node_pool",
                       tolerated=(api_exceptions.Conflict,), parent=self._cluster_path(cluster),
                       node_pool=self._node_pool(cluster, group))

    def update_node_group(self, cluster: ClusterSpec, group: NodeGroupSpec) -> None:
        """One step per call (GKE runs one operation at a time): autoscaling, then size."""
        if group.role == "control-plane":
            return
        pool = self._get_pool(cluster, group.name)
        if pool is None:
            raise PermanentError(f"GKE node pool {gke_name(group.name)} does not exist in "
                                 f"cluster {gke_name(cluster.name)}")
        name = f"{self._cluster_path(cluster)}/nodePools/{pool.name}"
        current = pool.autoscaling
        wanted = (True, group.min_size, group.max_size) if group.autoscaling else (False,)
        have = (True, current.min_node_count, current.max_node_count) if current.enabled \
            else (False,)
        if wanted != have:  # when autoscaling is on, the autoscaler owns the size
            autoscaling = container_v1.NodePoolAutoscaling(
                enabled=group.autoscaling, min_node_count=group.min_size or 0,
                max_node_count=group.max_size or 0)
            self._call("set node pool autoscaling", "set_node_pool_autoscaling",
                       request={"name": name, "autoscaling": autoscaling})
        elif not group.autoscaling and self._pool_sizes(pool)[0] != group.size:
            self._call("resize node pool", "set_node_pool_size",
                       request={"name": name, "node_count": group.size})

    def delete_node_group(self, cluster: ClusterSpec, name: str) -> None:
        pool = self._get_pool(cluster, name)
        if pool is not None and _enum_name(pool.status) != "STOPPING":
            self._call("delete node pool", "delete_node_pool",
                       tolerated=(api_exceptions.NotFound,),
                       name=f"{self._cluster_path(cluster)}/nodePools/{pool.name}")

    def upgrade(self, cluster: ClusterSpec, version: str) -> None:
        """The control plane first, then node pools up to it, one operation per call."""
        found = self._get_cluster(cluster)
        if found is None:
            raise PermanentError(f"GKE cluster {gke_name(cluster.name)} does not exist")
        path, master = self._cluster_path(cluster), found.current_master_version
        if not version_matches(master, version):
            self._call("upgrade control plane", "update_master", name=path,
                       master_version=version)
            return
        lagging = [pool for pool in found.node_pools
                   if version_key(pool.version) < version_key(master)]
        if lagging:
            self._call("upgrade node pool", "update_node_pool",
                       request=container_v1.UpdateNodePoolRequest(
                           name=f"{path}/nodePools/{lagging[0].name}", node_version=master,
                           image_type=lagging[0].config.image_type))

    def kubeconfig(self, cluster: ClusterSpec, observed: ObservedCluster) -> Kubeconfig:
        if not observed.endpoint or not observed.ca_data:
            raise TransientError(f"GKE cluster {observed.name} has no API endpoint yet")
        if self._static_token:
            token = str(self._credentials.token)
            expires_at: datetime | None = datetime.now(UTC) + STATIC_TOKEN_LIFETIME
        else:
            with self._translated("mint access token"):
                self._credentials.refresh(AuthRequest())
            token = str(self._credentials.token)
            expiry = self._credentials.expiry  # google-auth keeps naive UTC datetimes
            expires_at = expiry.replace(tzinfo=UTC) if expiry else None
        user = f"{observed.name}-gcp"
        document = {
            "apiVersion": "v1", "kind": "Config", "current-context": observed.name,
            "clusters": [{"name": observed.name, "cluster": {
                "server": observed.endpoint, "certificate-authority-data": observed.ca_data}}],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": observed.name,
                          "context": {"cluster": observed.name, "user": user}}],
        }
        return Kubeconfig(yaml.safe_dump(document, sort_keys=False), expires_at)

    # -- reading --------------------------------------------------------------------------
    def _call(self, action: str, method: str, *,
              tolerated: tuple[type[Exception], ...] = (), **arguments: Any) -> Any:
        """One API call with errors mapped; ``tolerated`` errors (a 404 when reading or
        deleting, a 409 when creating) mean the goal is already reached and give None.
        The SDK's own retries are off: the operator retries, with backoff, off the worker."""
        with self._translated(action):
            try:
                return getattr(self._client, method)(**arguments, retry=None,
                                                      timeout=CALL_TIMEOUT)
            except tolerated:
                return None

    def _get_cluster(self, cluster: ClusterSpec) -> Any:
        return self._call("read cluster", "get_cluster", tolerated=(api_exceptions.NotFound,),
                          name=self._cluster_path(cluster))

    def _get_pool(self, cluster: ClusterSpec, group_name: str) -> Any:
        return self._call("read node pool", "get_node_pool",
                          tolerated=(api_exceptions.NotFound,),
                          name=f"{self._cluster_path(cluster)}/nodePools/{gke_name(group_name)}")

    def _observe_pool(self, pool: Any, name: str, cluster_path: str) -> ObservedNodeGroup:
        size, ready = self._pool_sizes(pool)
        autoscaling = pool.autoscaling
        return ObservedNodeGroup(
            name=name, size=size, ready=ready,
            state=POOL_STATES.get(_enum_name(pool.status), ClusterState.UPDATING),
            min_size=autoscaling.min_node_count if autoscaling.enabled else None,
            max_size=autoscaling.max_node_count if autoscaling.enabled else None,
            provider_id=f"{cluster_path}/nodePools/{pool.name}")

    def _pool_sizes(self, pool: Any) -> tuple[int, int]:
        """(size, ready) per zone, from the pool's managed instance groups."""
        groups = self._instance_groups(list(pool.instance_group_urls))
        if groups is None:  # no Compute Engine access: GKE itself knows only the initial size
            size = int(pool.initial_node_count)
            return size, size if _enum_name(pool.status) == "RUNNING" else 0
        if not groups:
            return int(pool.initial_node_count), 0
        return (max(int(g.get("targetSize", 0)) for g in groups),
                min(int(g.get("currentActions", {}).get("none", 0)) for g in groups))

    def _instance_groups(self, urls: Sequence[str]) -> list[dict[str, Any]] | None:
        groups = []
        for url in urls:
            with self._translated("read instance group"):
                response = self._session.get(
                    url.replace("/instanceGroups/", "/instanceGroupManagers/"),
                    timeout=CALL_TIMEOUT)
            if response.status_code == 404:
                continue  # already removed with its node pool
            if response.status_code == 403:
                return None
            if response.status_code >= 400:
                raise self._from_http("read instance group", response)
            groups.append(response.json())
        return groups

    # -- writing --------------------------------------------------------------------------
    def _node_pool(self, cluster: ClusterSpec, group: NodeGroupSpec) -> Any:
        try:
            taints = [container_v1.NodeTaint(key=t.key, value=t.value or "",
                                             effect=TAINT_EFFECTS[t.effect]) for t in group.taints]
        except KeyError as missing:
            raise InvalidConfigurationError(f"GKE does not know the taint effect {missing}; use "
                                            f"one of {', '.join(TAINT_EFFECTS)}") from None
        pool = container_v1.NodePool(
            name=gke_name(group.name), initial_node_count=group.size,
            config=container_v1.NodeConfig(
                machine_type=group.instance_type or "", disk_size_gb=group.disk_size or 0,
                labels=dict(group.labels), taints=taints,
                resource_labels=gcp_labels(cluster.tags)),
            management=container_v1.NodeManagement(
                auto_repair=True, auto_upgrade=self._channel(cluster) is not None))
        if group.autoscaling:
            low, high = group.min_size or 0, group.max_size or 0
            pool.autoscaling = container_v1.NodePoolAutoscaling(
                enabled=True, min_node_count=low, max_node_count=high)
            pool.initial_node_count = min(max(group.size, low), high)
        return pool

    @staticmethod
    def _channel(cluster: ClusterSpec) -> str | None:
        channel = str(cluster.options.get("releaseChannel") or "").upper()
        if channel and channel not in RELEASE_CHANNELS:
            raise InvalidConfigurationError(f"GKE release channel {channel!r} is not one of "
                                            f"{', '.join(RELEASE_CHANNELS)}")
        return channel or None

    @staticmethod
    def _cni(cni: str | None) -> dict[str, Any]:
        choice = (cni or "").lower()
        if choice in ("", "gke", "default"):
            return {}
        if choice == "calico":  # GKE's network policy enforcement is Calico
            return {"network_policy": container_v1.NetworkPolicy(
                        enabled=True, provider=container_v1.NetworkPolicy.Provider.CALICO),
                    "addons_config": container_v1.AddonsConfig(
                        network_policy_config=container_v1.NetworkPolicyConfig(disabled=False))}
        if choice in ("cilium", "dataplane-v2"):  # GKE Dataplane V2 is Cilium-based
            return {"network_config": container_v1.NetworkConfig(
                datapath_provider=container_v1.DatapathProvider.ADVANCED_DATAPATH)}
        raise InvalidConfigurationError(f"GKE supports the CNI choices calico and cilium "
                                        f"(Dataplane V2), not {cni!r}")

    # -- names and errors -----------------------------------------------------------------
    def _location_path(self, cluster: ClusterSpec) -> str:
        project = str(cluster.options.get("project") or self._project or "")
        if not project:
            raise InvalidConfigurationError("GKE needs a project: set spec.gcp.project or the "
                                            "credential key 'project'")
        return f"projects/{project}/locations/{cluster.options.get('zone') or cluster.region}"

    def _cluster_path(self, cluster: ClusterSpec) -> str:
        return f"{self._location_path(cluster)}/clusters/{gke_name(cluster.name)}"

    def _clean(self, message: str) -> str:
        for secret in self._secrets:
            if len(secret) >= 4:
                message = message.replace(secret, "***")
        return message

    def _from_http(self, action: str, response: requests.Response) -> ProviderError:
        try:
            error = response.json().get("error") or {}
        except (ValueError, AttributeError):
            error = {}
        if not isinstance(error, dict):  # OAuth-style bodies carry a string here
            error = {"message": str(error)}
        message = str(error.get("message") or response.reason or "unknown error")
        status = str(error.get("status") or "")
        text = self._clean(f"GKE {action} failed: {message} "
                           f"({f'{response.status_code} {status}'.strip()})")
        kind = error_class(response.status_code, status, message)
        if issubclass(kind, TransientError):
            return kind(text, retry_after=retry_after(response.headers))
        return kind(text)

    @contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        """Turn SDK, auth and connection failures into the operator's error classes."""
        try:
            yield
        except ProviderError:
            raise
        except api_exceptions.GoogleAPICallError as error:
            if error.response is not None:
                raise self._from_http(action, error.response) from None
            raise TransientError(self._clean(f"GKE {action} failed: {error}")) from None
        except auth_exceptions.RefreshError as error:
            detail = "the access token was rejected and cannot be refreshed" \
                if self._static_token else f"credentials rejected: {error}"
            raise AuthenticationError(self._clean(f"GKE {action} failed: {detail}")) from None
        except (auth_exceptions.TransportError, requests.RequestException) as error:
            raise TransientError(self._clean(f"GKE {action} failed: {error}")) from None

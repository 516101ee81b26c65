"""The GKE adapter; the package docstring describes credentials, options and GKE's semantics."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml
from google.api_core import exceptions as api_exceptions
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
    TransientError,
)

from . import _specs as specs
from ._errors import from_http, translated
from ._naming import gke_name, version_key, version_matches

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
CALL_TIMEOUT = 30.0
STATIC_TOKEN_LIFETIME = timedelta(minutes=55)


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
        groups = tuple(self._observe_pool(found, pool, names.get(pool.name, pool.name), path)
                       for pool in found.node_pools)
        state = specs.CLUSTER_STATES.get(specs.enum_name(found.status), ClusterState.UPDATING)
        if state is ClusterState.ACTIVE and any(g.state in specs.TRANSITIONS for g in groups):
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
            if specs.enum_name(existing.status) == "STOPPING":
                raise TransientError(f"GKE cluster {existing.name} is still being deleted; "
                                     "it can be created again once it is gone")
            return
        body = specs.cluster_body(cluster)
        # A 409 means an earlier, interrupted call (or a concurrent one) already created it.
        self._call("create cluster", "create_cluster", tolerated=(api_exceptions.Conflict,),
                   parent=self._location_path(cluster), cluster=body)

    def delete(self, cluster: ClusterSpec) -> None:
        existing = self._get_cluster(cluster)
        if existing is not None and specs.enum_name(existing.status) != "STOPPING":
            self._call("delete cluster", "delete_cluster", tolerated=(api_exceptions.NotFound,),
                       name=self._cluster_path(cluster))

    def create_node_group(self, cluster: ClusterSpec, group: NodeGroupSpec) -> None:
        if group.role != "control-plane" and self._get_pool(cluster, group.name) is None:
            self._call("create node pool", "create_node_pool",
                       tolerated=(api_exceptions.Conflict,), parent=self._cluster_path(cluster),
                       node_pool=specs.node_pool(cluster, group))

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
        elif not group.autoscaling:
            sizes = self._pool_sizes(pool)
            if sizes is None:
                sizes = self._sizes_from_cluster(self._get_cluster(cluster), pool)
            if sizes is not None and sizes[0] == group.size:
                return
            # (An unknown size resizes: the operator only asks when it knows it differs.)
            self._call("resize node pool", "set_node_pool_size",
                       request={"name": name, "node_count": group.size})

    def delete_node_group(self, cluster: ClusterSpec, name: str) -> None:
        pool = self._get_pool(cluster, name)
        if pool is not None and specs.enum_name(pool.status) != "STOPPING":
            self._call("delete node pool", "delete_node_pool",
                       tolerated=(api_exceptions.NotFound,),
                       name=f"{self._cluster_path(cluster)}/nodePools/{pool.name}")

    def default_version(self, cluster: ClusterSpec) -> str | None:
        """GKE's default for new clusters in the location (``serverConfig``), which is
        what the console and ``gcloud container clusters create`` use."""
        config = self._call("read server config", "get_server_config",
                            name=self._location_path(cluster))
        return str(config.default_cluster_version) or None

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

    def _observe_pool(self, found: Any, pool: Any, name: str,
                      cluster_path: str) -> ObservedNodeGroup:
        state = specs.POOL_STATES.get(specs.enum_name(pool.status), ClusterState.UPDATING)
        unknown: str | None = None
        sizes = self._pool_sizes(pool)
        if sizes is None:
            sizes = self._sizes_from_cluster(found, pool)
        if sizes is None:
            sizes = int(pool.initial_node_count), 0
            unknown = ("its size cannot be read: GKE reports node pool sizes only through "
                       "Compute Engine; grant compute.instanceGroupManagers.get (e.g. "
                       "roles/compute.viewer) to the GKE credentials")
        autoscaling = pool.autoscaling
        return ObservedNodeGroup(
            name=name, size=sizes[0], ready=sizes[1], state=state,
            min_size=autoscaling.min_node_count if autoscaling.enabled else None,
            max_size=autoscaling.max_node_count if autoscaling.enabled else None,
            provider_id=f"{cluster_path}/nodePools/{pool.name}", size_unknown=unknown)

    @staticmethod
    def _sizes_from_cluster(found: Any, pool: Any) -> tuple[int, int] | None:
        """Without Compute Engine access: the cluster's node count is its only pool's, across
        the pool's zones (``initial_node_count`` never follows a resize, so it is no answer);
        with several pools the split is unknown (None)."""
        if found is None or len(found.node_pools) != 1:
            return None
        per_zone = int(found.current_node_count) // max(1, len(pool.locations))
        return per_zone, per_zone if specs.enum_name(pool.status) == "RUNNING" else 0

    def _pool_sizes(self, pool: Any) -> tuple[int, int] | None:
        """(size, ready) per zone, from the pool's managed instance groups; None without
        Compute Engine read access."""
        groups = self._instance_groups(list(pool.instance_group_urls))
        if groups is None:
            return None
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
                raise from_http("read instance group", response, self._secrets)
            groups.append(response.json())
        return groups

    # -- names and errors -----------------------------------------------------------------
    def _location_path(self, cluster: ClusterSpec) -> str:
        project = str(cluster.options.get("project") or self._project or "")
        if not project:
            raise InvalidConfigurationError("GKE needs a project: set spec.gcp.project or the "
                                            "credential key 'project'")
        return f"projects/{project}/locations/{cluster.options.get('zone') or cluster.region}"

    def _cluster_path(self, cluster: ClusterSpec) -> str:
        return f"{self._location_path(cluster)}/clusters/{gke_name(cluster.name)}"

    def _translated(self, action: str) -> AbstractContextManager[None]:
        return translated(action, self._secrets, static_token=self._static_token)

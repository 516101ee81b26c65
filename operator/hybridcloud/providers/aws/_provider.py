"""The EKS adapter; the package docstring describes credentials, options and the lifecycle."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

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
)

from . import _specs as specs
from ._errors import classify, translate, translated
from ._kubeconfig import bearer_token, token_kubeconfig

DELETION_TAG = "hybridcloud.io/deletion-requested"
# The operator retries with backoff and honours Retry-After; SDK retries would block a worker
# thread and swallow the Retry-After hint, so every call is tried once.
T = TypeVar("T")
_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 1},
                 connect_timeout=10, read_timeout=60, user_agent_extra="hybridcloud")


class AWSProvider:
    """EKS for one AWS account; see the package docstring for credentials and options."""

    name = "aws"

    def __init__(self, credentials: Mapping[str, str], *,
                 endpoint_url: str | None = None) -> None:
        key = credentials.get("aws_access_key_id", "").strip()
        secret = credentials.get("aws_secret_access_key", "").strip()
        token = credentials.get("aws_session_token", "").strip() or None
        if not key or not secret:
            raise AuthenticationError(
                "AWS credentials need aws_access_key_id and aws_secret_access_key")
        self._secrets = tuple(value for value in (secret, token, key) if value)
        self._session = boto3.session.Session(aws_access_key_id=key,
                                              aws_secret_access_key=secret,
                                              aws_session_token=token)
        self._default_region = credentials.get("region", "").strip() or None
        self._endpoint_url = endpoint_url
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()  # boto3 sessions are not thread-safe; clients are
        self._account: str | None = None

    # -- plumbing ----------------------------------------------------------------------------
    def _region(self, cluster: ClusterSpec) -> str:
        region = cluster.region or self._default_region
        if not region:
            raise InvalidConfigurationError("no AWS region in the cluster spec or credentials")
        return region

    def _client(self, service: str, region: str) -> Any:
        with self._lock:
            client = self._clients.get((service, region))
            if client is None:
                client = self._session.client(service, region_name=region, config=_CONFIG,
                                              endpoint_url=self._endpoint_url)
                self._clients[(service, region)] = client
            return client

    def _translated(self) -> AbstractContextManager[None]:
        return translated(self._secrets)

    def _call(self, region: str, operation: str, *, absent_ok: bool = False,
              exists_ok: bool = False, **params: Any) -> dict[str, Any] | None:
        """One EKS call. None instead of ResourceNotFound (``absent_ok``) or, for creates,
        ResourceInUse (``exists_ok``): that is what makes the mutating calls idempotent."""
        method: Callable[..., dict[str, Any]] = getattr(self._client("eks", region), operation)
        return self._guarded(lambda: method(**params), absent_ok=absent_ok, exists_ok=exists_ok)

    def _guarded(self, call: Callable[[], T], *, absent_ok: bool = False,
                 exists_ok: bool = False) -> T | None:
        """``call()`` with SDK errors as provider errors (secrets redacted); None for the
        absences and conflicts the caller accepts."""
        try:
            return call()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if (absent_ok and code == "ResourceNotFoundException") \
                    or (exists_ok and code == "ResourceInUseException"):
                return None
            raise classify(exc, self._secrets) from None
        except BotoCoreError as exc:
            raise translate(exc, self._secrets) from None

    def _describe(self, region: str, name: str) -> dict[str, Any] | None:
        found = self._call(region, "describe_cluster", absent_ok=True, name=name)
        return found["cluster"] if found else None

    def _existing_cluster(self, region: str, name: str) -> dict[str, Any]:
        info = self._describe(region, name)
        if info is None:
            raise PermanentError(f"EKS cluster {name} does not exist in {region}",
                                 reason="ClusterNotFound")
        return info

    def _node_groups(self, region: str, name: str) -> list[dict[str, Any]]:
        """The cluster's node groups; none when the cluster has gone meanwhile (a race)."""
        paginator = self._client("eks", region).get_paginator("list_nodegroups")
        names = self._guarded(lambda: [group for page in paginator.paginate(clusterName=name)
                                       for group in page.get("nodegroups", [])], absent_ok=True)
        if names is None:
            return []
        found = (self._call(region, "describe_nodegroup", absent_ok=True, clusterName=name,
                            nodegroupName=group) for group in names)
        return [item["nodegroup"] for item in found if item]

    def _default_role(self, region: str, role: str) -> str:
        if self._account is None:
            with self._translated():
                self._account = self._client("sts", region).get_caller_identity()["Account"]
        partition = self._session.get_partition_for_region(region)
        return f"arn:{partition}:iam::{self._account}:role/{role}"

    def _default_subnets(self, region: str) -> list[str]:
        with self._translated():
            subnets = self._client("ec2", region).describe_subnets(
                Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
        if not subnets:
            raise InvalidConfigurationError(
                f"no subnetIds given and region {region} has no default VPC subnets")
        return sorted(subnet["SubnetId"] for subnet in subnets)

    # -- reading -----------------------------------------------------------------------------
    def describe(self, cluster: ClusterSpec) -> ObservedCluster | None:
        region = self._region(cluster)
        info = self._describe(region, cluster.name)
        if info is None:
            return None
        groups = tuple(specs.observed_group(group)
                       for group in self._node_groups(region, cluster.name))
        state = specs.CLUSTER_STATES.get(info.get("status", ""), ClusterState.UPDATING)
        issues = (info.get("health") or {}).get("issues") or []
        message = "; ".join(f"{i.get('code')}: {i.get('message')}" for i in issues) or None
        if DELETION_TAG in (info.get("tags") or {}):
            state = ClusterState.DELETING
        elif state is ClusterState.ACTIVE and any(g.role == "worker" for g in cluster.node_groups) \
                and all(group.state is ClusterState.CREATING for group in groups):
            state = ClusterState.CREATING
            message = message or "control plane is ACTIVE; node groups are being created"
        return ObservedCluster(
            provider_id=info.get("arn", cluster.name), name=info.get("name", cluster.name),
            state=state, version=info.get("version"), endpoint=info.get("endpoint") or None,
            ca_data=(info.get("certificateAuthority") or {}).get("data") or None,
            node_groups=groups, message=message, master_count=0)

    # -- clusters ----------------------------------------------------------------------------
    def create(self, cluster: ClusterSpec) -> None:
        region = self._region(cluster)
        info = self._describe(region, cluster.name)
        if info is None:
            self._create_control_plane(region, cluster)
            return
        if info.get("status") == "DELETING" or DELETION_TAG in (info.get("tags") or {}):
            raise TransientError(f"EKS cluster {cluster.name} is still being deleted",
                                 reason="ClusterDeleting")
        if info.get("status") != "ACTIVE":
            return  # node groups follow once the control plane is ACTIVE
        existing = {group["nodegroupName"] for group in self._node_groups(region, cluster.name)}
        for group in cluster.node_groups:
            if group.role == "worker" and group.name not in existing:
                self._create_group(region, cluster, group, info)

    def _create_control_plane(self, region: str, cluster: ClusterSpec) -> None:
        options = cluster.options
        network: dict[str, Any] = {
            "subnetIds": specs.options_list(options, "subnetIds")
            or self._default_subnets(region),
            "securityGroupIds": specs.options_list(options, "securityGroupIds")}
        params: dict[str, Any] = {
            "name": cluster.name, "version": specs.minor(cluster.version),
            "roleArn": specs.option(options, "roleArn")
            or self._default_role(region, "eksClusterRole"),
            "resourcesVpcConfig": network, "tags": dict(cluster.tags)}
        if cluster.service_cidr:
            params["kubernetesNetworkConfig"] = {"serviceIpv4Cidr": cluster.service_cidr}
        self._call(region, "create_cluster", exists_ok=True, **params)

    def delete(self, cluster: ClusterSpec) -> None:
        region = self._region(cluster)
        info = self._describe(region, cluster.name)
        if info is None or info.get("status") == "DELETING":
            return
        if DELETION_TAG not in (info.get("tags") or {}):
            with self._translated():
                self._client("eks", region).tag_resource(resourceArn=info["arn"],
                                                         tags={DELETION_TAG: "true"})
        groups = self._node_groups(region, cluster.name)
        for group in groups:
            if group.get("status") not in ("CREATING", "UPDATING", "DELETING"):
                self._call(region, "delete_nodegroup", absent_ok=True, clusterName=cluster.name,
                           nodegroupName=group["nodegroupName"])
        # EKS refuses to delete a cluster with node groups (and one in transition): next call.
        if not groups and info.get("status") in ("ACTIVE", "FAILED"):
            self._call(region, "delete_cluster", absent_ok=True, name=cluster.name)

    def default_version(self, cluster: ClusterSpec) -> str:
        """EKS's default for new clusters (DescribeClusterVersions, ``defaultOnly``), the one
        ``eksctl`` and the console pick."""
        found = self._call(self._region(cluster), "describe_cluster_versions",
                           defaultOnly=True) or {}
        versions = [v.get("clusterVersion") for v in found.get("clusterVersions", [])
                    if v.get("defaultVersion")]
        if not versions or not versions[0]:
            raise InvalidConfigurationError("EKS names no default Kubernetes version in region "
                                            f"{self._region(cluster)}: set spec.version")
        return str(versions[0])

    def upgrade(self, cluster: ClusterSpec, version: str) -> None:
        region, target = self._region(cluster), specs.minor(version)
        info = self._existing_cluster(region, cluster.name)
        if info.get("version") == target or self._upgrading_to(region, cluster.name, target):
            return
        if info.get("status") != "ACTIVE":
            raise TransientError(f"EKS cluster {cluster.name} is {info.get('status')}; "
                                 "it can be upgraded once ACTIVE", reason="OperationInProgress")
        self._call(region, "update_cluster_version", name=cluster.name, version=target)

    def _upgrading_to(self, region: str, name: str, target: str) -> bool:
        listed = self._call(region, "list_updates", name=name) or {}
        for update_id in listed.get("updateIds", []):
            found = self._call(region, "describe_update", absent_ok=True, name=name,
                               updateId=update_id)
            update = (found or {}).get("update", {})
            params = {p.get("type"): p.get("value") for p in update.get("params", [])}
            if update.get("type") == "VersionUpdate" and update.get("status") == "InProgress" \
                    and params.get("Version") == target:
                return True
        return False

    # -- node groups ---------------------------------------------------------------------------
    def create_node_group(self, cluster: ClusterSpec, group: NodeGroupSpec) -> None:
        if group.role != "worker":
            return
        region = self._region(cluster)
        self._create_group(region, cluster, group, self._existing_cluster(region, cluster.name))

    def _create_group(self, region: str, cluster: ClusterSpec, group: NodeGroupSpec,
                      info: Mapping[str, Any]) -> None:
        options = cluster.options
        params: dict[str, Any] = {
            "clusterName": cluster.name, "nodegroupName": group.name,
            "scalingConfig": specs.scaling(group),
            "subnets": specs.options_list(options, "subnetIds")
            or list((info.get("resourcesVpcConfig") or {}).get("subnetIds") or []),
            "nodeRole": specs.option(options, "nodeRoleArn")
            or self._default_role(region, "AmazonEKSNodeRole"),
            "tags": dict(cluster.tags)}
        if group.instance_type:
            params["instanceTypes"] = [group.instance_type]
        if group.disk_size:
            params["diskSize"] = group.disk_size
        if group.labels:
            params["labels"] = dict(group.labels)
        if group.taints:
            params["taints"] = specs.taints(group)
        if self._call(region, "create_nodegroup", exists_ok=True, **params) is None:
            current = self._call(region, "describe_nodegroup", absent_ok=True,
                                 clusterName=cluster.name, nodegroupName=group.name)
            if current and current["nodegroup"].get("status") == "DELETING":
                raise TransientError(f"EKS node group {group.name} is still being deleted",
                                     reason="NodeGroupDeleting")

    def update_node_group(self, cluster: ClusterSpec, group: NodeGroupSpec) -> None:
        if group.role != "worker":
            return
        region = self._region(cluster)
        found = self._call(region, "describe_nodegroup", absent_ok=True,
                           clusterName=cluster.name, nodegroupName=group.name)
        if found is None:  # converge: the group the spec wants is missing
            self.create_node_group(cluster, group)
            return
        current = found["nodegroup"]
        have = current.get("scalingConfig") or {}
        want = specs.scaling(group, have)
        changes = specs.label_and_taint_changes(group, current)
        if any(have.get(key) != value for key, value in want.items()):
            changes["scalingConfig"] = want
        if not changes:
            return
        if current.get("status") not in ("ACTIVE", "DEGRADED"):
            raise TransientError(f"EKS node group {group.name} is {current.get('status')}; "
                                 "it can be changed once ACTIVE", reason="OperationInProgress")
        self._call(region, "update_nodegroup_config", clusterName=cluster.name,
                   nodegroupName=group.name, **changes)

    def delete_node_group(self, cluster: ClusterSpec, name: str) -> None:
        region = self._region(cluster)
        found = self._call(region, "describe_nodegroup", absent_ok=True,
                           clusterName=cluster.name, nodegroupName=name)
        if found is None or found["nodegroup"].get("status") == "DELETING":
            return
        self._call(region, "delete_nodegroup", absent_ok=True, clusterName=cluster.name,
                   nodegroupName=name)

    # -- access --------------------------------------------------------------------------------
    def kubeconfig(self, cluster: ClusterSpec, observed: ObservedCluster) -> Kubeconfig:
        region = self._region(cluster)
        endpoint, ca_data = observed.endpoint, observed.ca_data
        if not endpoint or not ca_data:
            info = self._existing_cluster(region, cluster.name)
            endpoint = info.get("endpoint")
            ca_data = (info.get("certificateAuthority") or {}).get("data")
        if not endpoint or not ca_data:
            raise TransientError(f"EKS has not published the endpoint of {cluster.name} yet",
                                 reason="EndpointPending")
        issued = datetime.now(UTC)
        with self._lock:
            # Not the cached client: the token needs a signing hook only this one may carry.
            # The real regional endpoint (no endpoint_url): that is what the cluster verifies.
            sts = self._session.client("sts", region_name=region, config=_CONFIG)
        with self._translated():
            token = bearer_token(sts, cluster.name)
        return token_kubeconfig(cluster.name, endpoint, ca_data, token, issued)

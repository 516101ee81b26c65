"""Amazon EKS adapter (boto3): an EKS cluster plus one managed node group per worker group.

Credentials (keys of the Kubernetes Secret): ``aws_access_key_id`` and
``aws_secret_access_key`` (required), ``aws_session_token`` (optional, for temporary STS
credentials) and ``region`` (optional, used when ``ClusterSpec.region`` is empty).
``endpoint_url`` overrides the AWS endpoint of every API call (tests, private endpoints); the
kubeconfig token always names the real regional STS endpoint, which the cluster verifies.

Options (``ClusterSpec.options``): ``roleArn`` (cluster IAM role, default
``arn:<partition>:iam::<account>:role/eksClusterRole``), ``nodeRoleArn`` (node IAM role, default
``…:role/AmazonEKSNodeRole``, the names AWS's guides use), ``subnetIds`` (default: the
region's default-VPC subnets; node groups use the cluster's subnets) and ``securityGroupIds``
(default none; EKS creates a cluster security group itself). Control-plane node groups are
ignored: EKS manages the control plane. ``cni``, ``addons`` and ``cluster_cidr`` are ignored.

Lifecycle. EKS refuses node groups until the control plane is ACTIVE, so :meth:`create` starts
the control plane and, on every later call that finds it ACTIVE, creates the spec's missing
node groups. :meth:`describe` reports CREATING until at least one node group has got past
creation, so the operator keeps calling :meth:`create` while the state is Creating. EKS
refuses to delete a cluster that has node groups, so :meth:`delete` tags the cluster
(``hybridcloud.io/deletion-requested``; from then on it is reported DELETING), deletes the
node groups and, on a later call once they are gone, the cluster. Node-group sizes: fixed
groups get min = max = desired; for autoscaled groups the cluster-autoscaler owns desiredSize,
so only the bounds are kept in line (desiredSize is moved only when it falls outside them).
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import boto3
import yaml
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
)

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

DELETION_TAG = "hybridcloud.io/deletion-requested"
TOKEN_LIFETIME = timedelta(minutes=14)  # aws-iam-authenticator accepts a token for 15 minutes
# The operator retries with backoff and honours Retry-After; SDK retries would block a worker
# thread and swallow the Retry-After hint, so every call is tried once.
_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 1},
                 connect_timeout=10, read_timeout=60, user_agent_extra="hybridcloud")

_CLUSTER_STATES = {"CREATING": ClusterState.CREATING, "PENDING": ClusterState.CREATING,
                   "ACTIVE": ClusterState.ACTIVE, "UPDATING": ClusterState.UPDATING,
                   "DELETING": ClusterState.DELETING, "FAILED": ClusterState.FAILED}
_GROUP_STATES = {"CREATING": ClusterState.CREATING, "ACTIVE": ClusterState.ACTIVE,
                 "DEGRADED": ClusterState.ACTIVE, "UPDATING": ClusterState.UPDATING,
                 "DELETING": ClusterState.DELETING, "CREATE_FAILED": ClusterState.FAILED,
                 "DELETE_FAILED": ClusterState.FAILED}
_TAINT_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE",
                  "NoExecute": "NO_EXECUTE"}

_THROTTLING = {"ThrottlingException", "Throttling", "TooManyRequestsException",
               "RequestLimitExceeded", "SlowDown"}
_AUTH = {"UnrecognizedClientException", "InvalidSignatureException", "SignatureDoesNotMatch",
         "InvalidClientTokenId", "ExpiredTokenException", "ExpiredToken", "AuthFailure",
         "MissingAuthenticationTokenException", "AccessDeniedException", "AccessDenied",
         "UnauthorizedOperation"}
_QUOTA = {"ResourceLimitExceededException", "LimitExceededException",
          "ServiceQuotaExceededException"}
_INVALID = {"InvalidParameterException", "InvalidParameterValue", "ValidationException",
            "UnsupportedAvailabilityZoneException"}
# The resource is busy with another operation (or not ready for this one): wait, then retry.
_CONFLICT = {"ResourceInUseException", "InvalidRequestException", "InvalidStateException"}


def _minor(version: str) -> str:
    """EKS versions are "major.minor": "v1.28.3" → "1.28"."""
    return ".".join(version.removeprefix("v").split(".")[:2])


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
        except (TypeError, ValueError):
            return None


def _scaling(group: NodeGroupSpec, current: Mapping[str, int] | None = None) -> dict[str, int]:
    if group.min_size is not None and group.max_size is not None:
        desired = group.size if current is None else current.get("desiredSize", group.size)
        desired = min(max(desired, group.min_size), group.max_size)
        return {"minSize": group.min_size, "maxSize": max(group.max_size, 1),
                "desiredSize": desired}
    return {"minSize": group.size, "maxSize": max(group.size, 1), "desiredSize": group.size}


def _taints(group: NodeGroupSpec) -> list[dict[str, str]]:
    return [{"key": t.key, "effect": _TAINT_EFFECTS.get(t.effect, t.effect),
             **({"value": t.value} if t.value is not None else {})} for t in group.taints]


def _label_and_taint_changes(group: NodeGroupSpec, current: Mapping[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    have: Mapping[str, str] = current.get("labels") or {}
    add = {k: v for k, v in group.labels.items() if have.get(k) != v}
    remove = [k for k in have if k not in group.labels]
    if add or remove:
        changes["labels"] = {"addOrUpdateLabels": add, "removeLabels": remove}
    want, had = _taints(group), list(current.get("taints") or [])
    gone = [t for t in had if not any(t["key"] == w["key"] and t["effect"] == w["effect"]
                                      for w in want)]
    if [t for t in want if t not in had] or gone:
        changes["taints"] = {"addOrUpdateTaints": [t for t in want if t not in had],
                             "removeTaints": gone}
    return changes


def _option(options: Mapping[str, object], key: str) -> str | None:
    value = options.get(key)
    return value if isinstance(value, str) and value else None


def _options_list(options: Mapping[str, object], key: str) -> list[str]:
    value = options.get(key)
    return [str(item) for item in value] if isinstance(value, list | tuple) else []


class AWSProvider:
    """EKS for one AWS account; see the module docstring for credentials and options."""

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

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """Turn SDK exceptions raised inside the block into provider errors."""
        try:
            yield
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc) from None

    def _translate(self, exc: ClientError | BotoCoreError) -> ProviderError:
        if isinstance(exc, ClientError):
            return self._classify(exc)
        text = self._scrub(str(exc))
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return AuthenticationError(text)
        if isinstance(exc, ParamValidationError):
            return InvalidConfigurationError(text)
        if isinstance(exc, ConnectionError | HTTPClientError):  # timeouts, refused connections
            return TransientError(f"AWS unreachable: {text}")
        return PermanentError(text)

    def _classify(self, exc: ClientError) -> ProviderError:
        error = exc.response.get("Error", {})
        meta = exc.response.get("ResponseMetadata", {})
        code, status = str(error.get("Code", "")), int(meta.get("HTTPStatusCode") or 0)
        text = self._scrub(f"{exc.operation_name}: {code}: {error.get('Message') or exc}")
        if code in _THROTTLING or status == 429:
            return TransientError(text, retry_after=_retry_after(meta.get("HTTPHeaders", {})),
                                  reason="Throttled")
        if status >= 500:
            return TransientError(text, retry_after=_retry_after(meta.get("HTTPHeaders", {})))
        if code in _AUTH or status in (401, 403):
            return AuthenticationError(text)
        if code in _QUOTA:
            return QuotaExceededError(text)
        if code in _INVALID:
            return InvalidConfigurationError(text)
        if code in _CONFLICT:
            return TransientError(text, reason="OperationInProgress")
        return PermanentError(text)

    def _call(self, region: str, operation: str, *, absent_ok: bool = False,
              exists_ok: bool = False, **params: Any) -> dict[str, Any] | None:
        """One EKS call. None instead of ResourceNotFound (``absent_ok``) or, for creates,
        ResourceInUse (``exists_ok``): that is what makes the mutating calls idempotent."""
        method: Callable[..., dict[str, Any]] = getattr(self._client("eks", region), operation)
        try:
            return method(**params)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if (absent_ok and code == "ResourceNotFoundException") \
                    or (exists_ok and code == "ResourceInUseException"):
                return None
            raise self._classify(exc) from None
        except BotoCoreError as exc:
            raise self._translate(exc) from None

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
        names: list[str] = []
        token: str | None = None
        while True:
            paging: dict[str, Any] = {"nextToken": token} if token else {}
            page = self._call(region, "list_nodegroups", absent_ok=True, clusterName=name,
                              **paging)
            if page is None:
                return []
            names.extend(page.get("nodegroups", []))
            token = page.get("nextToken")
            if not token:
                break
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
        groups = tuple(self._observe_group(group)
                       for group in self._node_groups(region, cluster.name))
        state = _CLUSTER_STATES.get(info.get("status", ""), ClusterState.UPDATING)
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

    @staticmethod
    def _observe_group(group: Mapping[str, Any]) -> ObservedNodeGroup:
        scaling = group.get("scalingConfig") or {}
        size = int(scaling.get("desiredSize", 0))
        low, high = scaling.get("minSize"), scaling.get("maxSize")
        healthy = group.get("status") == "ACTIVE" and not (group.get("health") or {}).get("issues")
        autoscaled = low is not None and high is not None and not low == high == size
        return ObservedNodeGroup(
            name=group["nodegroupName"], size=size,
            ready=size if healthy else 0,  # EKS reports no per-node readiness
            state=_GROUP_STATES.get(group.get("status", ""), ClusterState.UPDATING),
            min_size=low if autoscaled else None, max_size=high if autoscaled else None,
            provider_id=group.get("nodegroupArn"))

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
            "subnetIds": _options_list(options, "subnetIds") or self._default_subnets(region),
            "securityGroupIds": _options_list(options, "securityGroupIds")}
        params: dict[str, Any] = {
            "name": cluster.name, "version": _minor(cluster.version),
            "roleArn": _option(options, "roleArn") or self._default_role(region, "eksClusterRole"),
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

    def upgrade(self, cluster: ClusterSpec, version: str) -> None:
        region, target = self._region(cluster), _minor(version)
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
            "scalingConfig": _scaling(group),
            "subnets": _options_list(options, "subnetIds")
            or list((info.get("resourcesVpcConfig") or {}).get("subnetIds") or []),
            "nodeRole": _option(options, "nodeRoleArn")
            or self._default_role(region, "AmazonEKSNodeRole"),
            "tags": dict(cluster.tags)}
        if group.instance_type:
            params["instanceTypes"] = [group.instance_type]
        if group.disk_size:
            params["diskSize"] = group.disk_size
        if group.labels:
            params["labels"] = dict(group.labels)
        if group.taints:
            params["taints"] = _taints(group)
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
        want = _scaling(group, have)
        changes = _label_and_taint_changes(group, current)
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
        token = self._token(region, cluster.name)
        user = f"{cluster.name}-aws"
        document = {
            "apiVersion": "v1", "kind": "Config", "current-context": cluster.name,
            "clusters": [{"name": cluster.name, "cluster": {
                "server": endpoint, "certificate-authority-data": ca_data}}],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": cluster.name,
                          "context": {"cluster": cluster.name, "user": user}}],
        }
        return Kubeconfig(text=yaml.safe_dump(document, sort_keys=False),
                          expires_at=issued + TOKEN_LIFETIME)

    def _token(self, region: str, cluster_name: str) -> str:
        """An aws-iam-authenticator bearer token: a presigned STS GetCallerIdentity URL bound
        to the cluster by the signed ``x-k8s-aws-id`` header. Signed offline."""
        with self._lock:
            sts = self._session.client("sts", region_name=region, config=_CONFIG)

        def bind_to_cluster(request: Any, **_: Any) -> None:
            request.headers["x-k8s-aws-id"] = cluster_name

        sts.meta.events.register("before-sign.sts.GetCallerIdentity", bind_to_cluster)
        # 60 s like `aws eks get-token`: STS ignores it for this call, and the authenticator
        # accepts the token for 15 minutes after X-Amz-Date.
        with self._translated():
            url: str = sts.generate_presigned_url("get_caller_identity", Params={},
                                                  ExpiresIn=60, HttpMethod="GET")
        return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")

"""REST request bodies (snake_case, as the contract writes them) and their mapping onto the
camelCase CRD models.

Validation happens twice, both before anything is written: FastAPI checks the REST shape (unknown
keys, types, bounds), then the CRD model (``models/``) checks the rules the apiserver's schema and
CEL enforce too (unique node pool names, autoscaling bounds, CIDRs…). Either failure is a 400
INVALID_REQUEST whose ``details.field`` names the REST field, e.g.
``configuration.node_pools[1].auto_scaling``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..delivery.urls import RepositoryRefusedError, check_repository
from ..models import HybridApplicationSpec, HybridClusterSpec, Provider
from ..models.application import ComponentName, PlacementStrategy
from ..models.cluster import NodeRole, TaintEffect
from ..models.common import DNS_LABEL, DNS_SUBDOMAIN
from .errors import APIError, rest_field

CLUSTER_RENAMES = {"nodeGroups": "configuration.node_pools",
                   "node_groups": "configuration.node_pools",
                   "networking": "configuration.networking", "addons": "configuration.addons"}
APPLICATION_RENAMES = {"placement": "clusters", "placementPolicy": "placement_policy",
                       "placement_policy": "placement_policy", "syncPolicy": "sync_policy",
                       "targetNamespace": "namespace", "target_namespace": "namespace"}


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AutoScalingIn(Body):
    enabled: bool = True
    min_size: int | None = Field(default=None, ge=0, le=1000)
    max_size: int | None = Field(default=None, ge=1, le=1000)
    target_cpu: int | None = Field(default=None, ge=1, le=100)


class TaintIn(Body):
    key: str = Field(min_length=1, max_length=316)
    value: str | None = Field(default=None, max_length=63)
    effect: TaintEffect


class NodePoolIn(Body):
    name: str = Field(min_length=1, max_length=63, pattern=DNS_LABEL)
    size: int = Field(ge=1, le=1000)
    role: NodeRole | None = None
    instance_type: str | None = Field(default=None, max_length=128)
    disk_size: int | None = Field(default=None, ge=1, le=65536)
    auto_scaling: bool | AutoScalingIn | None = Field(
        default=None, description="false, or {enabled, min_size, max_size, target_cpu}.")
    labels: dict[str, str] | None = None
    taints: list[TaintIn] | None = None


class NetworkingIn(Body):
    cluster_cidr: str | None = Field(default=None, max_length=43)
    service_cidr: str | None = Field(default=None, max_length=43)
    cni: str | None = Field(default=None, max_length=63)


class ClusterConfigurationIn(Body):
    node_pools: list[NodePoolIn] = Field(min_length=1, max_length=100)
    networking: NetworkingIn | None = None
    addons: list[str] | None = Field(default=None, max_length=100)


class ClusterCreate(Body):
    name: str = Field(min_length=1, max_length=52, pattern=DNS_LABEL,
                      description="Cluster name; also its ID.")
    provider: Provider
    region: str | None = Field(default=None, min_length=1, max_length=64)
    version: str | None = Field(default=None, max_length=32, description="Kubernetes version; "
                               "the provider's default for new clusters when omitted.")
    configuration: ClusterConfigurationIn
    labels: dict[str, str] | None = Field(
        default=None, description="Labels for placement policies' cluster selectors.")


class ClusterConfigurationPatch(Body):
    node_pools: list[NodePoolIn] | None = Field(default=None, min_length=1, max_length=100)
    networking: NetworkingIn | None = None
    addons: list[str] | None = Field(default=None, max_length=100)


class ClusterPatch(Body):
    """Fields to change; omitted ones keep their value. ``node_pools`` replaces the list."""

    name: str | None = Field(default=None, max_length=253, pattern=DNS_SUBDOMAIN,
                             description="Immutable; only the current value.")
    provider: Provider | None = Field(default=None, description="Immutable.")
    region: str | None = Field(default=None, description="Immutable.")
    version: str | None = Field(default=None, max_length=32)
    configuration: ClusterConfigurationPatch | None = None
    labels: dict[str, str] | None = None


class SourceIn(Body):
    type: Literal["git"] = "git"
    repository: str = Field(min_length=1, max_length=2048)
    path: str = Field(default=".", max_length=1024)
    revision: str = Field(default="HEAD", min_length=1, max_length=255)
    secret_name: str | None = Field(
        default=None, min_length=1, max_length=253, pattern=DNS_SUBDOMAIN,
        description="Secret of the tenant namespace with repository credentials; the caller "
        "must be allowed to `get` it, and it must carry the label "
        "platform.example.com/credential-type=git.")


class SyncPolicyIn(Body):
    automated: bool = True
    prune: bool = False
    self_heal: bool = False


class ApplicationDeploy(Body):
    name: str = Field(min_length=1, max_length=63, pattern=DNS_LABEL,
                      description="Application name; also its ID.")
    namespace: str | None = Field(default=None, max_length=63, pattern=DNS_LABEL,
                                  description="Target namespace on the member cluster.")
    source: SourceIn
    sync_policy: SyncPolicyIn | None = None
    values: dict[str, Any] | None = None


class ClusterPlacementIn(Body):
    cluster_id: str = Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)
    components: list[ComponentName] | None = Field(default=None, max_length=100)
    values: dict[str, Any] | None = None


class ConstraintIn(Body):
    type: Literal["region_diversity", "provider_diversity"]
    min_regions: int | None = Field(default=None, ge=1, le=100)
    min_providers: int | None = Field(default=None, ge=1, le=5)


class ClusterSelectorIn(Body):
    match_labels: dict[str, str] | None = None


class PlacementPolicyIn(Body):
    strategy: PlacementStrategy = PlacementStrategy.AVAILABILITY
    cluster_selector: ClusterSelectorIn | None = None
    cluster_count: int | None = Field(default=None, ge=1, le=1000)
    constraints: list[ConstraintIn] | None = Field(default=None, max_length=10)


class MultiClusterDeploy(ApplicationDeploy):
    clusters: list[ClusterPlacementIn] = Field(default_factory=list, max_length=1000)
    placement_policy: PlacementPolicyIn | None = None


class ScaleRequest(Body):
    replicas: int = Field(ge=0, le=100_000)


# -- REST → CRD ------------------------------------------------------------------------------


def _spec(model: Any, data: dict[str, Any], renames: dict[str, str]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        loc = tuple(first["loc"])
        if not loc:  # a whole-model rule: its message starts with the field it is about
            word = message.split(" ", 1)[0]
            fields = {info.alias or name for name, info in model.model_fields.items()}
            loc = (word,) if word in fields else ()
        field = rest_field(loc, renames)
        raise APIError("INVALID_REQUEST", f"{field}: {message}" if field else message,
                       {"field": field}) from exc


def node_group(pool: NodePoolIn) -> dict[str, Any]:
    scaling = pool.auto_scaling
    if isinstance(scaling, bool):
        scaling = AutoScalingIn(enabled=False) if not scaling else AutoScalingIn(enabled=True)
    group: dict[str, Any] = {
        "name": pool.name, "size": pool.size, "instance_type": pool.instance_type,
        "disk_size": pool.disk_size, "labels": pool.labels,
        "taints": [t.model_dump(exclude_none=True) for t in pool.taints or []] or None,
        "auto_scaling": scaling.model_dump(exclude_none=True) if scaling else None}
    if pool.role is not None:
        group["role"] = pool.role
    return group


def cluster_spec(body: ClusterCreate) -> dict[str, Any]:
    config = body.configuration
    data: dict[str, Any] = {
        "provider": body.provider, "region": body.region, "version": body.version,
        "node_groups": [node_group(p) for p in config.node_pools],
        "networking": config.networking.model_dump(exclude_none=True)
        if config.networking else None,
        "addons": config.addons}
    spec: HybridClusterSpec = _spec(HybridClusterSpec, data, CLUSTER_RENAMES)
    return spec.to_kube()


def patched_cluster_spec(current: dict[str, Any], body: ClusterPatch) -> dict[str, Any]:
    """The full new spec: the current one with the PATCH's fields replaced, validated."""
    spec = HybridClusterSpec.model_validate(current)
    data = spec.model_dump(exclude_none=True)
    for field in ("provider", "region"):
        asked = getattr(body, field)
        if asked is not None and asked != data.get(field):
            raise APIError("INVALID_REQUEST", f"{field}: {field} is immutable",
                           {"field": field})
    if body.version is not None:
        data["version"] = body.version
    config = body.configuration
    if config is not None:
        if config.node_pools is not None:
            data["node_groups"] = [node_group(p) for p in config.node_pools]
        if config.networking is not None:
            data["networking"] = config.networking.model_dump(exclude_none=True)
        if config.addons is not None:
            data["addons"] = config.addons
    result: HybridClusterSpec = _spec(HybridClusterSpec, data, CLUSTER_RENAMES)
    return result.to_kube()


def application_spec(body: ApplicationDeploy, placement: list[dict[str, Any]],
                     policy: PlacementPolicyIn | None = None, *,
                     allow_local_sources: bool = False) -> dict[str, Any]:
    """The CRD spec for ``body``; the repository URL is held to what the operator fetches
    (:mod:`hybridcloud.delivery.urls`), so a refused one is a 400 here, not a Stalled app."""
    try:
        check_repository(body.source.repository, field="source.repository",
                         allow_local=allow_local_sources,
                         with_credentials=bool(body.source.secret_name))
    except RepositoryRefusedError as exc:
        raise APIError("INVALID_REQUEST", str(exc), {"field": "source.repository"}) from None
    source = body.source.model_dump(exclude_none=True, exclude={"secret_name"})
    if body.source.secret_name:
        source["secret_ref"] = {"name": body.source.secret_name}
    data: dict[str, Any] = {
        "source": source, "target_namespace": body.namespace,
        "sync_policy": (body.sync_policy or SyncPolicyIn()).model_dump(),
        "values": body.values, "placement": placement or None,
        "placement_policy": policy.model_dump(exclude_none=True) if policy else None}
    spec: HybridApplicationSpec = _spec(HybridApplicationSpec, data, APPLICATION_RENAMES)
    return spec.to_kube()

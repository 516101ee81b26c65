"""The one interface every cloud adapter implements, its value types and its errors.

Adapters are synchronous (the cloud SDKs are) and stateless between calls: everything they need
comes from a :class:`ClusterSpec`, whose ``name`` is the deterministic provider-side name the
operator records in status *before* the first create, so that a restarted operator finds (adopts)
what an earlier run created instead of creating it twice. Every mutating call is therefore
idempotent: creating what exists, or deleting what is gone, succeeds quietly.

Calls start provider-side work and return; progress is observed with :meth:`CloudProvider.describe`
on later reconciles (the operator never blocks a worker on a long-running operation).

Errors are classified so the operator can decide without knowing the cloud: a
:class:`TransientError` is retried with backoff (honouring ``retry_after``), a
:class:`PermanentError` stalls the object with the provider's message until the spec changes.
Messages must never contain credentials.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from ..redaction import redact as redact  # the one rule; adapters import it from here


class ClusterState(StrEnum):
    CREATING = "Creating"
    ACTIVE = "Active"
    UPDATING = "Updating"
    DELETING = "Deleting"
    FAILED = "Failed"


@dataclass(frozen=True)
class Taint:
    key: str
    effect: str
    value: str | None = None


@dataclass(frozen=True)
class NodeGroupSpec:
    """Desired node group. ``min_size``/``max_size`` are set only when autoscaling is enabled."""

    name: str
    size: int
    role: str = "worker"  # "worker" or "control-plane"
    instance_type: str | None = None
    disk_size: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    min_size: int | None = None
    max_size: int | None = None

    @property
    def autoscaling(self) -> bool:
        return self.min_size is not None and self.max_size is not None


@dataclass(frozen=True)
class ClusterSpec:
    """Provider-neutral desired state of one cluster."""

    name: str  # deterministic provider-side name, e.g. "hc-<namespace>-<name>-<uid8>"
    region: str
    version: str  # "1.28.0" or "1.28": no leading "v"
    node_groups: tuple[NodeGroupSpec, ...]
    cluster_cidr: str | None = None
    service_cidr: str | None = None
    cni: str | None = None
    addons: tuple[str, ...] = ()
    # Provider options from spec.<provider> (camelCase keys as in the CRD), e.g. {"roleArn": …}.
    options: Mapping[str, object] = field(default_factory=dict)
    # Tags/labels identifying the owner; adapters attach them to everything they create.
    tags: Mapping[str, str] = field(default_factory=dict)

    def node_group(self, name: str) -> NodeGroupSpec | None:
        return next((group for group in self.node_groups if group.name == name), None)


@dataclass(frozen=True)
class ObservedNodeGroup:
    name: str
    size: int  # nodes the provider currently reports (desired size while scaling)
    ready: int  # nodes ready
    state: ClusterState
    min_size: int | None = None
    max_size: int | None = None
    provider_id: str | None = None
    role: str = "worker"
    # Set when the provider cannot tell the current size (``size`` is then only a guess):
    # why, in words the user can act on. The operator never resizes such a group.
    size_unknown: str | None = None


@dataclass(frozen=True)
class ObservedCluster:
    provider_id: str
    name: str
    state: ClusterState
    version: str | None = None  # control-plane version as the provider reports it, no "v"
    endpoint: str | None = None  # https URL of the Kubernetes API
    ca_data: str | None = None  # base64 PEM of the cluster CA
    node_groups: tuple[ObservedNodeGroup, ...] = ()
    message: str | None = None  # provider's explanation, e.g. of a FAILED state
    master_count: int = 0  # control-plane nodes visible to the user (0 for managed planes)
    # FAILED because the provider failed a deletion it had accepted (Magnum DELETE_FAILED), as
    # opposed to a cluster that was failed before anyone deleted it.
    delete_failed: bool = False

    def node_group(self, name: str) -> ObservedNodeGroup | None:
        return next((group for group in self.node_groups if group.name == name), None)


@dataclass(frozen=True)
class Kubeconfig:
    """A kubeconfig document and when its credential stops working (None: does not expire)."""

    text: str
    expires_at: datetime | None = None


class ProviderError(Exception):
    """Base of every error an adapter raises. ``reason`` is a CamelCase condition reason."""

    reason = "ProviderError"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason:
            self.reason = reason


class TransientError(ProviderError):
    """Throttling, 5xx, timeouts, conflicts with an operation in progress: retry later."""

    reason = "ProviderUnavailable"

    def __init__(self, message: str, *, retry_after: float | None = None,
                 reason: str | None = None) -> None:
        super().__init__(message, reason=reason)
        self.retry_after = retry_after


class PermanentError(ProviderError):
    """Will not succeed until the spec or the credentials change."""

    reason = "ProviderRejected"


class AuthenticationError(PermanentError):
    reason = "InvalidCredentials"


class QuotaExceededError(PermanentError):
    reason = "QuotaExceeded"


class InvalidConfigurationError(PermanentError):
    """Unknown flavor/instance type, unsupported version, bad network, …"""

    reason = "InvalidConfiguration"


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP date."""
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


def retry_after_header(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from a response's ``Retry-After`` header, whatever case the SDK gives
    header names in (botocore lower-cases them)."""
    value = next((v for k, v in (headers or {}).items() if k.lower() == "retry-after"), None)
    return retry_after_seconds(value)


@runtime_checkable
class CloudProvider(Protocol):
    """Cloud access for one provider account (credentials are bound at construction)."""

    name: str  # "openstack", "aws", "gcp", "azure", "local"

    def describe(self, cluster: ClusterSpec) -> ObservedCluster | None:
        """Current state found by the deterministic name, or None when nothing exists."""

    def create(self, cluster: ClusterSpec) -> None:
        """Start creating the cluster and all its node groups. Idempotent."""

    def delete(self, cluster: ClusterSpec) -> None:
        """Start deleting the cluster and everything created for it. Idempotent; a missing
        cluster is success. Call again until :meth:`describe` returns None."""

    def create_node_group(self, cluster: ClusterSpec, group: NodeGroupSpec) -> None:
        """Add a node group to an existing cluster. Idempotent."""

    def update_node_group(self, cluster: ClusterSpec, group: NodeGroupSpec) -> None:
        """Bring size and autoscaling bounds of an existing node group to ``group``."""

    def delete_node_group(self, cluster: ClusterSpec, name: str) -> None:
        """Remove a node group. Idempotent."""

    def upgrade(self, cluster: ClusterSpec, version: str) -> None:
        """Start upgrading the control plane (and node groups where the cloud couples them).
        ``version`` is at most one minor version above the running one."""

    def default_version(self, cluster: ClusterSpec) -> str | None:
        """The version a new cluster gets when the user names none, as the cloud's console
        or CLI would pick it; None when the cloud picks it itself at creation."""

    def kubeconfig(self, cluster: ClusterSpec, observed: ObservedCluster) -> Kubeconfig:
        """A kubeconfig for the running cluster, with a fresh credential."""


def answers_without_blocking(provider: object) -> bool:
    """Whether ``provider`` declares ``nonblocking = True``: its calls only touch memory (an
    in-process fake, a plug-in answering from a cache) and return at once. The operator calls
    those on its event loop: a thread hop per call costs more than such a call itself (the
    converge profile, issue 19). Every SDK-backed adapter blocks on the network and leaves the
    attribute unset, so it keeps its provider thread."""
    return getattr(provider, "nonblocking", False) is True

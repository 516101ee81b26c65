"""Where the platform keeps its own copy of each member credential, and clients built from it.

The operator obtains a member's kubeconfig from the cloud provider and stores it twice:

* the **platform copy**, Secret ``member-<HybridCluster uid>`` (key ``value``) in the platform
  namespace (``hybridcloud-system`` by default) — tenants cannot write there, and the uid in the
  name means a cluster deleted and re-created under the same name never inherits the old
  credential. Labels and annotations name the cluster's namespace and name, and are checked on
  every read. Only the operator writes it; the operator and the API read nothing else when they
  talk to a member.
* the **tenant copy** ``<cluster>-kubeconfig`` in the cluster's namespace (Cluster API's
  convention, for users and their tools). The operator rewrites it when it drifts from the
  platform copy; the platform itself never reads it.

Both copies pass ``kubeconfig_policy.checked_kubeconfig`` before they are written, and every
client is built with ``kubeconfig_policy.safe_kube_config``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from math import inf
from typing import Any, Generic, TypeVar, cast

from lightkube import AsyncClient, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Secret

from .. import GROUP
from .kubeconfig_policy import UnsafeKubeconfigError, safe_kube_config

SECRET_KEY = "value"  # noqa: S105  (the data key, not a secret)
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "hybridcloud"
CLUSTER_LABEL = f"{GROUP}/cluster"
CLUSTER_NAMESPACE_LABEL = f"{GROUP}/cluster-namespace"
CLUSTER_UID_ANNOTATION = f"{GROUP}/cluster-uid"
EXPIRES_ANNOTATION = f"{GROUP}/expires-at"

T = TypeVar("T")


class MemberCredentialError(LookupError):
    """No usable platform copy of a member's credential (yet); the message says why."""


def tenant_secret_name(cluster: str) -> str:
    """The user-facing copy in the cluster's namespace (Cluster API's convention)."""
    return f"{cluster}-kubeconfig"


def platform_secret_name(cluster_uid: str) -> str:
    return f"member-{cluster_uid}"


def platform_secret(platform_namespace: str, namespace: str, cluster: str, cluster_uid: str,
                    text: str, expires_at: datetime | None) -> Secret:
    """The platform copy as the operator writes it (server-side apply)."""
    annotations = {CLUSTER_UID_ANNOTATION: cluster_uid}
    if expires_at is not None:
        annotations[EXPIRES_ANNOTATION] = expires_at.isoformat()
    return cast(Secret, Secret.from_dict({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": platform_secret_name(cluster_uid), "namespace": platform_namespace,
                     "labels": {MANAGED_BY: MANAGED_BY_VALUE, CLUSTER_LABEL: cluster,
                                CLUSTER_NAMESPACE_LABEL: namespace},
                     "annotations": annotations},
        "data": {SECRET_KEY: base64.b64encode(text.encode()).decode()}}))


def tenant_secret(namespace: str, cluster: str, encoded: str, expires_at: str | None,
                  owner: dict[str, Any]) -> Secret:
    """The tenant copy, holding the same (base64) ``encoded`` value as the platform copy; its
    expiry annotation is for users only (the operator never reads it)."""
    return cast(Secret, Secret.from_dict({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": tenant_secret_name(cluster), "namespace": namespace,
                     "labels": {MANAGED_BY: MANAGED_BY_VALUE, CLUSTER_LABEL: cluster},
                     "annotations": {EXPIRES_ANNOTATION: expires_at} if expires_at else {},
                     "ownerReferences": [owner]},
        "data": {SECRET_KEY: encoded}}))


def is_platform_copy_of(secret: Secret, namespace: str, cluster: str, cluster_uid: str) -> bool:
    """Whether ``secret`` is the operator's copy for exactly this cluster (defence in depth: only
    the operator can write the platform namespace, but a mix-up must never cross tenants)."""
    meta = secret.metadata
    labels = (meta.labels if meta else None) or {}
    annotations = (meta.annotations if meta else None) or {}
    return (labels.get(MANAGED_BY) == MANAGED_BY_VALUE and labels.get(CLUSTER_LABEL) == cluster
            and labels.get(CLUSTER_NAMESPACE_LABEL) == namespace
            and annotations.get(CLUSTER_UID_ANNOTATION) == cluster_uid)


async def read_platform_copy(management: AsyncClient, platform_namespace: str, namespace: str,
                             cluster: str, cluster_uid: str) -> Secret | None:
    """The platform copy of ``namespace/cluster``'s credential, or None if there is none."""
    try:
        secret = await management.get(Secret, platform_secret_name(cluster_uid),
                                      namespace=platform_namespace)
    except ApiError as exc:
        if exc.status.code == 404:
            return None
        raise
    if not is_platform_copy_of(secret, namespace, cluster, cluster_uid):
        raise MemberCredentialError(f"the platform's credential for cluster {cluster} does not "
                                    "belong to it; the operator will rewrite it")
    return secret


def decode_value(secret: Secret, cluster: str) -> str:
    encoded = (secret.data or {}).get(SECRET_KEY)
    try:
        return base64.b64decode(encoded or "", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise MemberCredentialError(f"the platform's credential for cluster {cluster} is "
                                    "not readable") from None


class MemberClients(Generic[T]):
    """One client per member, built from the platform copy and reused while its
    resourceVersion is unchanged (the operator rotates credentials before they expire).

    ``build(cluster, config)`` makes the client; ``close`` releases one that was replaced.
    With ``recheck_after`` > 0 the platform copy is read again only when the client was last
    checked that many seconds ago: a delivery pass asks for a member's client up to twice per
    target, and reading the Secret each time was a quarter of the operator's work after a push
    (issue 19). A rotated credential is then picked up that much later, well inside the
    rotation margin (``kubeconfig_refresh_margin``, 300 s by default) during which the old one
    stays valid; a cluster re-created under the same name has a new uid and is read at once."""

    def __init__(self, management: AsyncClient, platform_namespace: str,
                 build: Callable[[str, KubeConfig], T],
                 close: Callable[[T], Awaitable[None]], *, recheck_after: float = 0.0) -> None:
        self.management = management
        self.platform_namespace = platform_namespace
        self._build, self._close = build, close
        self.recheck_after = recheck_after
        self._clients: dict[tuple[str, str], tuple[str, str, T]] = {}
        self._checked: dict[tuple[str, str], float] = {}  # when the copy was last read
        self._reading: dict[tuple[str, str, str], asyncio.Future[T]] = {}  # reads under way

    async def get(self, namespace: str, cluster: str, cluster_uid: str) -> T:
        """The client for ``namespace/cluster``; :class:`MemberCredentialError` when the
        platform has no usable credential for it. Errors never quote the credential."""
        known = self._clients.get((namespace, cluster))
        if known and known[0] == cluster_uid and self.recheck_after > 0 and \
                time.monotonic() - self._checked.get((namespace, cluster), -inf) \
                < self.recheck_after:
            return known[2]
        if self.recheck_after <= 0:
            return await self._read(namespace, cluster, cluster_uid)
        # Callers that find the interval over while a read is already on its way share it:
        # after a quiet spell, a push's first passes all asked at once and each read the
        # Secret itself until the first answer came back (issue 19's profile, 5% of the
        # operator's work during a push).
        flight = (namespace, cluster, cluster_uid)
        reading = self._reading.get(flight)
        if reading is None:
            reading = self._reading[flight] = asyncio.ensure_future(
                self._read(namespace, cluster, cluster_uid))
            reading.add_done_callback(partial(self._landed, flight))
        return await asyncio.shield(reading)

    def _landed(self, flight: tuple[str, str, str], reading: asyncio.Future[T]) -> None:
        if self._reading.get(flight) is reading:
            del self._reading[flight]
        if not reading.cancelled():
            reading.exception()  # retrieved here too: every waiter may have been cancelled

    async def _read(self, namespace: str, cluster: str, cluster_uid: str) -> T:
        self._checked.pop((namespace, cluster), None)  # read again until this read succeeds
        secret = await read_platform_copy(self.management, self.platform_namespace, namespace,
                                          cluster, cluster_uid)
        if secret is None:
            raise MemberCredentialError(f"cluster {cluster} has no credential yet")
        version = (secret.metadata.resourceVersion if secret.metadata else None) or ""
        cached = self._clients.get((namespace, cluster))
        if cached and cached[:2] == (cluster_uid, version):
            self._checked[(namespace, cluster)] = time.monotonic()
            return cached[2]
        try:
            config = safe_kube_config(decode_value(secret, cluster))
        except UnsafeKubeconfigError as exc:
            raise MemberCredentialError(f"the platform's credential for cluster {cluster} is "
                                        f"refused: {exc}") from None
        client = self._build(cluster, config)
        self._clients[(namespace, cluster)] = (cluster_uid, version, client)
        self._checked[(namespace, cluster)] = time.monotonic()
        if cached:
            await self._close(cached[2])
        return client

    async def close(self) -> None:
        for _, _, client in self._clients.values():
            await self._close(client)
        self._clients.clear()
        self._checked.clear()

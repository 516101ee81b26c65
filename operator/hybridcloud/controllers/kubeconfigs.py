"""Keeping each member credential fresh: the platform copy, and the tenant copy beside it.

The operator writes what the provider returned — after :func:`checked_kubeconfig` accepted it —
to the platform copy (``kube.member_credentials``), then mirrors it to the tenant's
``<name>-kubeconfig``. Refresh timing comes from the platform copy only (in memory, or read back
after a restart): a Secret the operator did not write is never trusted to be fresh. A tenant copy
that no longer matches is rewritten, with a Warning Event saying so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Secret

from .. import API_VERSION
from ..feed import DomainEvent, Feed, ObjectRef
from ..kube import objects
from ..kube.kubeconfig_policy import UnsafeKubeconfigError, checked_kubeconfig
from ..kube.member_credentials import (
    EXPIRES_ANNOTATION,
    SECRET_KEY,
    MemberCredentialError,
    platform_secret,
    platform_secret_name,
    read_platform_copy,
    tenant_secret,
    tenant_secret_name,
)
from ..models import HybridCluster
from ..providers.base import Kubeconfig, PermanentError
from ..reconcile import credentials as timing
from .config import OperatorConfig

log = logging.getLogger(__name__)
Key = tuple[str, str]


class _Stored(NamedTuple):
    """The platform copy of a member credential as last written or read."""

    due: float  # wall-clock time to refresh it
    encoded: str  # base64 kubeconfig, as in Secret data
    expires_at: str | None


class KubeconfigKeeper:
    def __init__(self, client: AsyncClient, config: OperatorConfig, feed: Feed) -> None:
        self.client = client
        self.config = config
        self.feed = feed
        self._stored: dict[Key, _Stored] = {}

    def forget(self, key: Key) -> None:
        self._stored.pop(key, None)

    async def ensure(self, key: Key, body: Mapping[str, Any],
                     fetch: Callable[[], Awaitable[Kubeconfig]]) -> float:
        """Keep both copies valid, asking ``fetch`` (the provider) for a new credential when
        the platform copy is missing or due; returns seconds until the next refresh.
        Raises PermanentError when the provider's kubeconfig is refused (naming the field)."""
        now = time.time()
        uid = body["metadata"]["uid"]
        known = self._stored.get(key) or await self._read(key, uid)
        if known is not None and known.due > now:
            self._stored[key] = known
            await self._restore_tenant_copy(key, body, known)
            return known.due - now  # positive: not due yet
        config = await fetch()
        try:
            checked_kubeconfig(config.text)
        except UnsafeKubeconfigError as exc:
            raise PermanentError(f"the {body['spec'].get('provider')} provider returned a "
                                 f"kubeconfig the platform refuses: {exc}",
                                 reason="UnsafeKubeconfig") from None
        where = self.config.member_credentials_namespace
        secret = platform_secret(where, key[0], key[1], uid, config.text, config.expires_at)
        try:
            await self.client.apply(secret, field_manager=objects.FIELD_MANAGER, force=True)
        except ApiError as exc:
            if exc.status.code != 404:
                raise
            raise PermanentError(f"namespace {where} for the platform's member credentials does "
                                 "not exist; create it or set the operator's "
                                 "memberCredentialsNamespace", reason="PlatformMisconfigured"
                                 ) from exc
        expires = config.expires_at
        due = timing.refresh_due(expires, self.config.kubeconfig_refresh_margin, now)
        stored = _Stored(due, (secret.data or {})[SECRET_KEY],
                         expires.isoformat() if expires else None)
        self._stored[key] = stored
        await self._restore_tenant_copy(key, body, stored, known=False)
        return timing.refresh_in(due, now)

    async def delete(self, uid: str) -> None:
        """Remove the platform copy of a cluster that is going away (no ownerReference can
        reach across namespaces)."""
        try:
            await self.client.delete(Secret, platform_secret_name(uid),
                                     namespace=self.config.member_credentials_namespace)
        except ApiError as exc:
            if exc.status.code != 404:
                raise

    async def _read(self, key: Key, uid: str) -> _Stored | None:
        """What the platform copy holds; None when there is none to trust."""
        try:
            secret = await read_platform_copy(self.client, self.config.member_credentials_namespace,
                                              key[0], key[1], uid)
        except MemberCredentialError as exc:
            log.warning("%s/%s: %s", *key, exc)
            return None
        encoded = (secret.data or {}).get(SECRET_KEY) if secret else None
        if secret is None or not encoded:
            return None
        stamp = (secret.metadata.annotations or {}).get(EXPIRES_ANNOTATION) \
            if secret.metadata else None
        due = timing.refresh_due(datetime.fromisoformat(stamp) if stamp else None,
                                 self.config.kubeconfig_refresh_margin, time.time())
        return _Stored(due, encoded, stamp)

    async def _restore_tenant_copy(self, key: Key, body: Mapping[str, Any], stored: _Stored, *,
                                   known: bool = True) -> None:
        """Make ``<name>-kubeconfig`` hold the platform copy's value again if a tenant changed
        or deleted it (``known``: it may already be right, so look before writing)."""
        if known:
            try:
                current = await self.client.get(Secret, name=tenant_secret_name(key[1]),
                                                namespace=key[0])
                if (current.data or {}).get(SECRET_KEY) == stored.encoded:
                    return
            except ApiError as exc:
                if exc.status.code != 404:
                    raise
            self.feed.publish(DomainEvent(
                type="cluster.kubeconfig_restored",
                subject=ObjectRef(API_VERSION, HybridCluster.KIND, key[0], key[1],
                                  body["metadata"]["uid"]),
                message=f"Secret {tenant_secret_name(key[1])} (key {SECRET_KEY}) was changed "
                "outside the operator and is rewritten from the platform's own copy; the "
                "platform never uses that Secret to reach the cluster", warning=True,
                data={"cluster_id": key[1], "name": key[1]}))
        secret = tenant_secret(key[0], key[1], stored.encoded, stored.expires_at,
                               objects.owner_reference(body))
        await self.client.apply(secret, field_manager=objects.FIELD_MANAGER, force=True)

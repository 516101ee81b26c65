"""Ships every Active member cluster's container logs and Events to the log store.

Enabled by ``HYBRIDCLOUD_OPERATOR_LOGS_URL``. A kopf event handler on HybridClusters (in the
namespaces the operator watches) starts one supervised task per Active cluster
(``observability.logship.MemberShipper``) and cancels it when the cluster leaves that phase or
is deleted. Members are read with the platform's own copy of their credential
(``kube.member_credentials``), never the tenant's ``<cluster>-kubeconfig``. The cursor
ConfigMap is owned by that platform copy, so it goes away with the cluster (``cursors.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx2
import kopf
from lightkube import AsyncClient, KubeConfig
from lightkube.models.meta_v1 import OwnerReference

from .. import GROUP
from ..kube.counted import counted
from ..kube.member_credentials import (
    MemberClients,
    MemberCredentialError,
    platform_secret_name,
    read_platform_copy,
)
from ..kube.pod_logs import PodLogReader
from ..observability.cursors import CursorBook, owner_secret
from ..observability.logship import Member, MemberShipper, active
from ..observability.logstore import LogStore
from .config import OperatorConfig

log = logging.getLogger(__name__)
_MEMO_KEY = "logship"
_RETRY = 5.0


@dataclass(frozen=True)
class _MemberAccess:
    kube: AsyncClient
    logs: PodLogReader


def _member_client(_: str, config: KubeConfig) -> _MemberAccess:
    return _MemberAccess(counted(AsyncClient(config=config, timeout=httpx2.Timeout(30.0),
                                             field_manager="hybridcloud-logship")),
                         PodLogReader(config))


async def _close(access: _MemberAccess) -> None:
    await access.kube.close()
    await access.logs.close()


class LogShipping:
    def __init__(self, config: OperatorConfig, management: AsyncClient, url: str) -> None:
        self.config, self.management = config, management
        self.store = LogStore(url, config.logs_timeout)
        self.members: MemberClients[_MemberAccess] = MemberClients(
            management, config.member_credentials_namespace, _member_client, _close)
        self.tasks: dict[tuple[str, str], tuple[str, asyncio.Task[None]]] = {}

    def observe(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        meta = body["metadata"]
        key, uid = (meta["namespace"], meta["name"]), meta["uid"]
        running = self.tasks.get(key)
        wanted = event_type != "DELETED" and not meta.get("deletionTimestamp") and active(body)
        if running and (not wanted or running[0] != uid):
            running[1].cancel()
            del self.tasks[key]
            running = None
        if wanted and running is None:
            member = Member(tenant=key[0], cluster=key[1], uid=uid)
            self.tasks[key] = (uid, asyncio.create_task(self._ship(member)))

    async def _ship(self, member: Member) -> None:
        while True:  # until cancelled: a missing credential or a crash is retried
            try:
                access = await self.members.get(member.tenant, member.cluster, member.uid)
                book = CursorBook(self.management, self.config.member_credentials_namespace,
                                  member.uid, {f"{GROUP}/cluster": member.cluster,
                                               f"{GROUP}/cluster-namespace": member.tenant},
                                  await self._credential_owner(member))
                await book.load()
                shipper = MemberShipper(member, access.kube, access.logs, self.store, book,
                                        interval=self.config.logs_interval,
                                        max_bytes=self.config.logs_max_bytes)
                await shipper.run()
            except asyncio.CancelledError:
                raise
            except MemberCredentialError as exc:
                log.info("log shipping for %s/%s waits: %s", member.tenant, member.cluster, exc)
            except Exception as exc:
                log.warning("log shipping for %s/%s restarts after %s", member.tenant,
                            member.cluster, type(exc).__name__)
            await asyncio.sleep(_RETRY)

    async def _credential_owner(self, member: Member) -> OwnerReference:
        """The platform copy of the member's credential, as the owner of its cursors."""
        secret = await read_platform_copy(self.management,
                                          self.config.member_credentials_namespace,
                                          member.tenant, member.cluster, member.uid)
        uid = secret.metadata.uid if secret is not None and secret.metadata else None
        if not uid:
            raise MemberCredentialError(f"cluster {member.cluster} has no credential yet")
        return owner_secret(platform_secret_name(member.uid), uid)

    async def stop(self) -> None:
        for _, task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*(task for _, task in self.tasks.values()),
                             return_exceptions=True)
        self.tasks.clear()
        await self.members.close()
        await self.store.close()


@kopf.on.startup()
async def start_log_shipping(memo: kopf.Memo, **_: Any) -> None:
    config = OperatorConfig()
    memo[_MEMO_KEY] = None
    if config.logs_url:
        memo[_MEMO_KEY] = LogShipping(
            config, counted(AsyncClient(field_manager="hybridcloud-logship")), config.logs_url)


def shipping_of(memo: kopf.Memo) -> LogShipping | None:
    """The log shipping started for this operator (None when no logs URL is configured): it
    observes HybridCluster events through hybridcluster.register's one handler."""
    shipping: LogShipping | None = memo.get(_MEMO_KEY)
    return shipping


@kopf.on.cleanup()
async def stop_log_shipping(memo: kopf.Memo, **_: Any) -> None:
    shipping: LogShipping | None = memo.get(_MEMO_KEY)
    if shipping is not None:
        await shipping.stop()
        await shipping.management.close()

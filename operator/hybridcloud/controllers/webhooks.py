"""Webhook delivery in the operator: watch caches of the event sources and the subscriptions
feed the dispatcher (``events/dispatcher.py``); this module wires it to Kubernetes.

Not kopf handlers on purpose: the dispatcher needs a complete list of the objects (to tell the
objects deleted while the operator was down) before it loads the subscriptions' cursors, which
a list+watch cache gives and kopf's per-object handlers do not.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from functools import partial
from typing import Any

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Secret
from lightkube.types import PatchType

from ..events.dispatcher import Dispatcher
from ..events.sender import DeliverySettings
from ..events.transitions import APPLICATION_KIND, CLUSTER_KIND, event_source
from ..events.urls import URLPolicy
from ..kube import objects
from ..kube.cache import WatchCache
from ..kube.resources import (
    HybridClusterResource,
    MultiClusterApplicationResource,
    WebhookSubscriptionResource,
)
from ..kube.wire import KubeWire
from ..models.webhook import SECRET_KEY
from .config import OperatorConfig

_SECRET_TTL = 5.0  # a rotated secret is used within seconds


def settings_of(config: OperatorConfig) -> DeliverySettings:
    return DeliverySettings(
        policy=URLPolicy.of(allow_http=config.webhook_allow_http,
                            allow_private=config.webhook_allow_private,
                            blocked_cidrs=config.webhook_blocked_cidrs),
        attempt_timeout=config.webhook_attempt_timeout,
        retry_period=config.webhook_retry_period, backoff_base=config.webhook_backoff_base,
        backoff_max=config.webhook_backoff_max, lanes=config.webhook_lanes,
        flush_interval=config.webhook_flush_interval, ca_bundle=config.webhook_ca_bundle)


class WebhookService:
    def __init__(self, client: AsyncClient, wire: KubeWire, config: OperatorConfig) -> None:
        self.client = client
        self.wire = wire
        self.namespaces = frozenset(config.watched_namespaces)
        scope = config.watched_namespaces[0] if len(self.namespaces) == 1 else "*"
        # Event sources: only what events are made of is kept (not a second full copy of every
        # cluster beside the cluster controller's).
        self.clusters = WatchCache(client, HybridClusterResource, namespace=scope,
                                   keep=_event_source)
        self.applications = WatchCache(client, MultiClusterApplicationResource, namespace=scope,
                                       keep=_event_source)
        self.subscriptions = WatchCache(client, WebhookSubscriptionResource, namespace=scope)
        self._secrets: dict[tuple[str, str], tuple[float, bytes | None]] = {}
        self.dispatcher = Dispatcher(settings_of(config), self._secret, self._write_status,
                                     self._remove_annotations, self._objects)

    async def start(self, within: float = 60.0) -> None:
        dispatcher = self.dispatcher
        for kind, cache in ((CLUSTER_KIND, self.clusters),
                            (APPLICATION_KIND, self.applications)):
            cache.listeners.append(partial(_forward, dispatcher, kind, self.namespaces))
            cache.start()
        for cache in (self.clusters, self.applications):
            await cache.wait_synced(within)
        # Only now: a subscription's cursor is compared with a complete list of the objects.
        self.subscriptions.listeners.append(
            lambda change, obj: None if change == "LISTED" or not self._mine(obj)
            else dispatcher.subscription_changed(change, obj))
        self.subscriptions.start()

    async def stop(self) -> None:
        for cache in (self.subscriptions, self.clusters, self.applications):
            await cache.stop()
        await self.dispatcher.close()

    def _mine(self, obj: Mapping[str, Any]) -> bool:
        return not self.namespaces or obj["metadata"]["namespace"] in self.namespaces

    def _objects(self, namespace: str) -> list[tuple[str, dict[str, Any]]]:
        return [(CLUSTER_KIND, o) for o in self.clusters.items(namespace)] + \
            [(APPLICATION_KIND, o) for o in self.applications.items(namespace)]

    async def _secret(self, namespace: str, name: str) -> bytes | None:
        key = (namespace, name)
        cached = self._secrets.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        try:
            secret = await self.client.get(Secret, name=name, namespace=namespace)
            value = (secret.data or {}).get(SECRET_KEY)
            found = base64.b64decode(value) if value else None
        except ApiError as exc:
            if exc.status.code != 404:
                raise
            found = None
        self._secrets[key] = (time.monotonic() + _SECRET_TTL, found)
        return found

    async def _write_status(self, body: Mapping[str, Any], status: dict[str, Any]) -> None:
        await objects.patch_status(self.wire, WebhookSubscriptionResource, body, status)

    async def _remove_annotations(self, body: Mapping[str, Any], keys: list[str]) -> None:
        meta = body["metadata"]
        await self.client.patch(WebhookSubscriptionResource, meta["name"],
                                {"metadata": {"annotations": dict.fromkeys(keys)}},
                                namespace=meta["namespace"], patch_type=PatchType.MERGE)


def _forward(dispatcher: Dispatcher, kind: str, namespaces: frozenset[str], change: str,
             obj: dict[str, Any]) -> None:
    if change == "LISTED":
        dispatcher.objects_listed()
    elif not namespaces or obj["metadata"]["namespace"] in namespaces:
        dispatcher.object_changed(kind, change, obj)


def _event_source(body: Mapping[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = objects.compact(event_source(body))
    return kept

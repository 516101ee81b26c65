"""Kopf handlers, one small module per kind. Importing this package registers them.

Handlers are thin: they hand watch events to per-kind controllers (work queues), which run the
pure reconcile logic and talk to providers. Kopf's own progress bookkeeping is not used, so
nothing kopf-specific is ever written to the objects.
"""

from __future__ import annotations

from typing import Any

import kopf
from lightkube import AsyncClient

from ..feed import Feed
from ..kube.events import KubernetesEventSink
from ..kube.objects import FIELD_MANAGER
from ..kube.tenants import TenantBook
from ..kube.wire import KubeWire
from ..providers.registry import ProviderRegistry, load_factory
from . import application, hybridcluster, logship, settings
from .config import OperatorConfig


def _clusters(memo: kopf.Memo) -> hybridcluster.ClusterController:
    controller: hybridcluster.ClusterController = memo["clusters"]
    return controller


def _applications(memo: kopf.Memo) -> application.ApplicationController:
    controller: application.ApplicationController = memo["applications"]
    return controller


hybridcluster.register(_clusters)
application.register(_applications)


@kopf.on.startup()
async def start_controllers(memo: kopf.Memo, **_: Any) -> None:
    config = OperatorConfig()
    client = AsyncClient(field_manager=FIELD_MANAGER)
    wire = KubeWire(client.config, field_manager=FIELD_MANAGER)  # the frequent writes
    feed = Feed()
    feed.subscribe(KubernetesEventSink(wire), concurrency=KubernetesEventSink.CONCURRENCY)
    overrides = {name: load_factory(spec) for name, spec in config.provider_overrides.items()}
    registry = ProviderRegistry(local_dir=config.local_dir, overrides=overrides)
    tenants = TenantBook(client, config.tenant_defaults)
    await tenants.start()  # limits known before the first pass judges anything
    controller = hybridcluster.ClusterController(client, wire, config, feed, registry, tenants)
    controller.start()
    memo["config"], memo["client"], memo["wire"], memo["feed"], memo["clusters"] = (
        config, client, wire, feed, controller)
    memo["tenants"] = tenants
    memo["applications"] = application.ApplicationController(client, wire, config, feed,
                                                             tenants)
    memo["applications"].start()
    tenants.on_change(controller.recheck_all)
    tenants.on_change(memo["applications"].recheck_all)


@kopf.on.cleanup()
async def stop_controllers(memo: kopf.Memo, **_: Any) -> None:
    await memo["clusters"].stop()
    await memo["applications"].stop()
    await memo["tenants"].stop()
    await memo["feed"].drain()
    await memo["client"].close()
    await memo["wire"].close()


__all__ = ["logship", "settings"]

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
from ..kube.counted import counted
from ..kube.events import KubernetesEventSink
from ..kube.objects import FIELD_MANAGER
from ..kube.tenants import TenantBook
from ..kube.wire import KubeWire
from ..providers.registry import ProviderRegistry, load_factory
from . import (
    application,
    health,
    hybridcluster,
    logship,
    metrics,
    securitypolicy,
    securityscan,  # scans (issue 16)
    settings,
)
from .config import OperatorConfig
from .git_pushes import GitPushWatch
from .webhooks import WebhookService


def _clusters(memo: kopf.Memo) -> hybridcluster.ClusterController:
    controller: hybridcluster.ClusterController = memo["clusters"]
    return controller


def _applications(memo: kopf.Memo) -> application.ApplicationController:
    controller: application.ApplicationController = memo["applications"]
    return controller


def _security_policies(memo: kopf.Memo) -> securitypolicy.SecurityPolicyController:
    controller: securitypolicy.SecurityPolicyController = memo["security_policies"]
    return controller


def _security_scans(memo: kopf.Memo) -> securityscan.SecurityScanController:
    controller: securityscan.SecurityScanController = memo["security_scans"]
    return controller


def _cluster_observers(memo: kopf.Memo) -> list[hybridcluster.Observer]:
    """Everything that follows HybridCluster events, in the order they are told."""
    observers: list[hybridcluster.Observer] = [
        _clusters(memo).observe, _applications(memo).observe_cluster,
        _security_policies(memo).observe_cluster]
    shipping = logship.shipping_of(memo)
    if shipping is not None:
        observers.append(shipping.observe)
    return observers


hybridcluster.register(_cluster_observers)
application.register(_applications)
securitypolicy.register(_security_policies)
securityscan.register(_security_scans)


@kopf.on.startup()
async def start_controllers(memo: kopf.Memo, **_: Any) -> None:
    config = OperatorConfig()
    client = counted(AsyncClient(field_manager=FIELD_MANAGER))
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
    # Pushes recorded by the Git webhook receiver (issue 19): one watch, one event per push.
    memo["git_pushes"] = GitPushWatch(client, config.member_credentials_namespace,
                                      memo["applications"].pushed)
    memo["git_pushes"].start()
    memo["health"] = None
    if config.health_probes:
        prober = health.MemberHealthProber(client, config, feed, controller)
        controller.status_overlay = prober.status_overlay
        prober.start()
        memo["health"] = prober
    tenants.on_change(controller.recheck_all)
    tenants.on_change(memo["applications"].recheck_all)
    # Security policies (issue 16): compiled to admission policies on members.
    memo["security_policies"] = securitypolicy.SecurityPolicyController(client, wire, config,
                                                                        tenants)
    memo["security_policies"].start()
    tenants.on_change(memo["security_policies"].recheck_all)
    # Security scans (issue 16): Trivy runs, report objects.
    memo["security_scans"] = securityscan.SecurityScanController(client, wire, config,
                                                                 tenants)
    memo["security_scans"].start()
    memo["webhooks"] = WebhookService(client, wire, config)  # webhooks (issue 17)
    await memo["webhooks"].start()


@kopf.on.cleanup()
async def stop_controllers(memo: kopf.Memo, **_: Any) -> None:
    if memo.get("health") is not None:
        await memo["health"].stop()
    await memo["clusters"].stop()
    await memo["git_pushes"].stop()
    await memo["applications"].stop()
    await memo["security_policies"].stop()
    await memo["security_scans"].stop()
    await memo["tenants"].stop()
    await memo["feed"].drain()
    await memo["webhooks"].stop()
    await memo["client"].close()
    await memo["wire"].close()


__all__ = ["logship", "metrics", "settings"]

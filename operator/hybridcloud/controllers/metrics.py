"""Serves the operator's Prometheus metrics (``observability.operator_metrics``) on ``/metrics``.

Off unless ``HYBRIDCLOUD_OPERATOR_METRICS_PORT`` is set, and then on loopback unless
``HYBRIDCLOUD_OPERATOR_METRICS_HOST`` says otherwise (the chart opens it to the pod network,
where its NetworkPolicy admits only the scrapers it lists). The server runs on the operator's
event loop, so a scrape reads the controllers' caches and queues between two steps of their
work, never in the middle of one (no locks, no thread sees a half-updated dict).
"""

from __future__ import annotations

import logging
from typing import Any

import kopf
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from ..observability import operator_metrics
from .config import OperatorConfig

log = logging.getLogger(__name__)


def _cached(memo: kopf.Memo, controller: str) -> Any:
    """The bodies cached by ``memo[controller]``, or nothing before it has started."""
    found = memo.get(controller)
    return list(found.bodies.values()) if found is not None else []


async def _scrape(_: web.Request) -> web.Response:
    return web.Response(body=generate_latest(REGISTRY),
                        headers={"Content-Type": CONTENT_TYPE_LATEST})


async def serve(host: str, port: int) -> web.AppRunner:
    app = web.Application()
    app.router.add_get("/metrics", _scrape)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


@kopf.on.startup()
async def start_metrics(memo: kopf.Memo, **_: Any) -> None:
    operator_metrics.track_objects(clusters=lambda: _cached(memo, "clusters"),
                                   applications=lambda: _cached(memo, "applications"))
    config = OperatorConfig()
    if not config.metrics_port:
        return
    try:
        memo["metrics_server"] = await serve(config.metrics_host, config.metrics_port)
    except OSError as exc:
        # Reconciling matters more than being observed: go on without /metrics (the
        # operator-down alert fires, since nothing can be scraped) rather than retry forever.
        log.error("cannot serve metrics on %s:%d: %s", config.metrics_host, config.metrics_port,
                  exc)
        return
    log.info("serving metrics on %s:%d/metrics", config.metrics_host, config.metrics_port)


@kopf.on.cleanup()
async def stop_metrics(memo: kopf.Memo, **_: Any) -> None:
    runner: web.AppRunner | None = memo.get("metrics_server")
    if runner is not None:
        await runner.cleanup()

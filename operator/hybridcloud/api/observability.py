"""The API's connections to the metrics and alerting backends, opened with the app and closed
with it: ``app.state.scoper`` (Prometheus, for metrics and rule validation),
``app.state.alertmanager``, ``app.state.scrape_clients`` (discovery's member clients) and the
rule-file sync task when ``rules_file`` is set."""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import AsyncExitStack

from fastapi import FastAPI

from ..observability.alertmanager import AlertmanagerClient
from ..observability.prometheus import PrometheusClient
from ..observability.scoping import Scoper
from .rule_sync import sync_rules
from .settings import Settings


def start_observability(app: FastAPI, settings: Settings) -> AsyncExitStack:
    """Clients for the configured backends on ``app.state``; the stack closes them."""
    stack = AsyncExitStack()
    app.state.scoper = None
    app.state.alertmanager = None
    if settings.prometheus_url:
        prometheus = PrometheusClient(settings.prometheus_url, settings.metrics_timeout)
        stack.push_async_callback(prometheus.close)
        app.state.scoper = scoper = Scoper(prometheus)
        if settings.rules_file:
            task = asyncio.create_task(sync_rules(app.state.kube, scoper, settings))

            async def stop() -> None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            stack.push_async_callback(stop)
    if settings.alertmanager_url:
        alertmanager = AlertmanagerClient(settings.alertmanager_url, settings.metrics_timeout)
        stack.push_async_callback(alertmanager.close)
        app.state.alertmanager = alertmanager

    async def close_scrape_clients() -> None:
        clients = getattr(app.state, "scrape_clients", None)
        if clients is not None:
            await clients.close()
    stack.push_async_callback(close_scrape_clients)
    return stack

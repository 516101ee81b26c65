"""The API's connections to the metrics and alerting backends, opened with the app and closed
with it: ``app.state.scoper`` (Prometheus, for metrics and rule validation),
``app.state.alertmanager``, ``app.state.scrape_clients`` (the scrape proxy's member clients) and the
rule-file sync task when ``rules_file`` is set."""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import AsyncExitStack

import httpx2
from fastapi import FastAPI
from lightkube import AsyncClient, KubeConfig
from lightkube.config import client_adapter

from ..kube.member_credentials import MemberClients, MemberCredentialError
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

    app.state.scrape_clients = clients = scrape_clients(app.state.kube, settings)
    stack.push_async_callback(clients.close)
    return stack


def scrape_clients(kube: AsyncClient, settings: Settings) -> MemberClients[httpx2.AsyncClient]:
    """Plain HTTP clients for members' ``/metrics``, from the platform's copy of each member
    credential (the tenant's kubeconfig Secret is never used). Nothing is read until a scrape."""

    def build(_: str, config: KubeConfig) -> httpx2.AsyncClient:
        params = client_adapter.ConnectionParams(
            timeout=httpx2.Timeout(settings.member_timeout), trust_env=False)
        chosen = config.get()
        if chosen is None:
            raise MemberCredentialError("the member credential names no context")
        return client_adapter.AsyncClient(chosen, params)

    async def close(client: httpx2.AsyncClient) -> None:
        await client.aclose()

    return MemberClients(kube, settings.member_credentials_namespace, build, close)

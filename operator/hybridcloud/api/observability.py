"""The API's connections to the metrics and alerting backends, opened with the app and closed
with it: ``app.state.scoper`` (Prometheus, for metrics and rule validation),
``app.state.alertmanager``, ``app.state.scrape_clients`` (the scrape proxy's member clients),
``app.state.kubelet_clients`` (``local`` members' simulated kubelets), ``app.state.metrics_answers``
(the metrics route's short-lived answer cache) and the rule-file sync task when ``rules_file``
is set."""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import AsyncExitStack

import httpx2
from fastapi import FastAPI
from lightkube import AsyncClient, KubeConfig
from lightkube.config import client_adapter
from lightkube.config.models import User

from ..kube.counted import counted_http
from ..kube.member_credentials import MemberClients, MemberCredentialError
from ..observability.alertmanager import AlertmanagerClient
from ..observability.prometheus import PrometheusClient
from ..observability.range_cache import RangeCache
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
    app.state.kubelet_clients = kubelets = simulated_kubelet_clients(app.state.kube, settings)
    stack.push_async_callback(kubelets.close)
    app.state.metrics_answers = RangeCache(settings.metrics_cache_seconds)
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
        return counted_http(client_adapter.AsyncClient(chosen, params))

    async def close(client: httpx2.AsyncClient) -> None:
        await client.aclose()

    return MemberClients(kube, settings.member_credentials_namespace, build, close)


def simulated_kubelet_clients(kube: AsyncClient,
                              settings: Settings) -> MemberClients[httpx2.AsyncClient]:
    """Clients for ``local`` members' simulated kubelets, read directly: they trust only each
    member's own server CA (from the platform's copy of its credential) and present no
    credential (see ``observability.node_metrics``)."""

    def build(_: str, config: KubeConfig) -> httpx2.AsyncClient:
        chosen = config.get()
        if chosen is None or chosen.cluster.insecure or not (
                chosen.cluster.certificate_auth or chosen.cluster.certificate_auth_data):
            raise MemberCredentialError("the member credential pins no server CA")
        verify = client_adapter.verify_cluster(chosen.cluster, User(), chosen.abs_file,
                                               trust_env=False)
        return httpx2.AsyncClient(verify=verify, trust_env=False,
                                  timeout=httpx2.Timeout(settings.member_timeout))

    async def close(client: httpx2.AsyncClient) -> None:
        await client.aclose()

    return MemberClients(kube, settings.member_credentials_namespace, build, close)

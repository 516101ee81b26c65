"""FastAPI application factory: middleware, error handlers, probes, metrics and routers."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from lightkube import AsyncClient, KubeConfig
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..kube.resources import HybridClusterResource
from . import errors
from .deps import Authenticator
from .routes import clusters
from .settings import Settings

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _kube_client(settings: Settings) -> AsyncClient:
    if settings.kubeconfig:
        return AsyncClient(config=KubeConfig.from_file(settings.kubeconfig),
                           field_manager="hybridcloud-api")
    return AsyncClient(field_manager="hybridcloud-api")


def create_app(settings: Settings | None = None, client: AsyncClient | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        kube = client or _kube_client(settings)
        app.state.kube = kube
        app.state.authenticator = Authenticator(kube, settings)
        yield
        if client is None:
            await kube.close()

    app = FastAPI(
        title="hybridcloud API",
        version="1.0.0",
        description="Hybrid-cloud cluster and application management. Every resource is a "
        "Kubernetes custom resource; authentication and authorization are Kubernetes'.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    errors.install(app)

    @app.middleware("http")
    async def request_ids(request: Request,
                          call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        incoming = request.headers.get("x-request-id", "")
        request.state.request_id = incoming if _REQUEST_ID.match(incoming) \
            else f"req-{uuid.uuid4().hex[:12]}"
        response = await call_next(request)
        response.headers["X-Request-ID"] = request.state.request_id
        return response

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        kube: AsyncClient = request.app.state.kube
        try:  # the cheapest call that proves both reachability and our own read permission
            async for _ in kube.list(HybridClusterResource, namespace="*", chunk_size=1):
                break
        except Exception:
            return JSONResponse({"status": "kubernetes api unreachable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest().decode(), media_type=CONTENT_TYPE_LATEST)

    app.include_router(clusters.router)
    return app

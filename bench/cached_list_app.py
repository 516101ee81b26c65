"""The REST list's second baseline: the cached list a user could build without our API — a
lightkube list+watch of the HybridClusters kept in memory, pages served by a bare FastAPI
endpoint (no auth, no rate limit), in the same uvicorn layout as the API.

``BENCH_KUBECONFIG`` names the kubeconfig, ``BENCH_NAMESPACE`` the namespace.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Response
from lightkube import AsyncClient, KubeConfig

from hybridcloud.kube.cache import WatchCache
from hybridcloud.kube.resources import HybridClusterResource

NAMESPACE = os.environ.get("BENCH_NAMESPACE", "default")
_state: dict[str, WatchCache] = {}


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    kube = AsyncClient(config=KubeConfig.from_file(os.environ["BENCH_KUBECONFIG"]))
    cache = WatchCache(kube, HybridClusterResource, namespace=NAMESPACE)
    cache.start()
    await cache.wait_synced(60)
    _state["clusters"] = cache
    yield
    await cache.stop()
    await kube.close()


app = FastAPI(lifespan=lifespan)


@app.get("/readyz")
async def readyz(response: Response) -> dict[str, str]:
    cache = _state.get("clusters")
    if cache is None or not cache.synced:
        response.status_code = 503
        return {"status": "syncing"}
    return {"status": "ok"}


@app.get("/v1/clusters")
async def clusters(page: int = 1, per_page: int = 10) -> dict[str, Any]:
    items = _state["clusters"].items(NAMESPACE)
    start = (page - 1) * per_page
    return {"clusters": items[start:start + per_page], "total": len(items), "page": page,
            "per_page": per_page}

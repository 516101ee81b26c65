"""The REST ceiling's baseline: a bare FastAPI app returning a cluster-detail-sized document,
with no auth, cache or rate limit — the most any endpoint in this process layout can do."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

app = FastAPI()


@app.get("/readyz")
async def readyz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/v1/clusters/{cluster_id}")
async def cluster(cluster_id: str) -> dict[str, Any]:
    return {
        "id": cluster_id, "name": cluster_id, "namespace": "default", "provider": "local",
        "region": None, "status": "pending", "version": "v1.37.2",
        "nodes": {"total": 0, "ready": 0, "master": 0, "worker": 0},
        "configuration": {"node_pools": [{"name": "workers", "size": 2, "instance_type": None,
                                          "disk_size": None, "labels": {}, "taints": [],
                                          "auto_scaling": False}],
                          "networking": None, "addons": []},
        "metrics": {"cpu_usage": None, "memory_usage": None, "disk_usage": None,
                    "network_io": {"ingress": None, "egress": None}},
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
    }

"""The floor any delivery engine pays: server-side apply of already rendered objects, in
parallel, over connections opened (and warmed) before the clock starts.

No git, no rendering, no inventory, no status: only the applies, namespaces first (as any
client must), then everything else at once with bounded concurrency per cluster.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from lightkube import AsyncClient, KubeConfig
from lightkube.core.resource_registry import resource_registry
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace
from lightkube.types import PatchType

FIELD_MANAGER = "bench-floor"


def load_objects(directory: Path) -> list[dict[str, Any]]:
    """Every YAML document under ``directory`` (sorted by file name)."""
    found: list[dict[str, Any]] = []
    for path in sorted(directory.rglob("*.yaml")):
        found += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


async def _apply(kube: AsyncClient, obj: dict[str, Any]) -> None:
    resource: Any = resource_registry.load(obj["apiVersion"], obj["kind"])
    meta = obj["metadata"]
    await kube.patch(resource, meta["name"], obj, namespace=meta.get("namespace"),
                     patch_type=PatchType.APPLY, field_manager=FIELD_MANAGER, force=True)


async def apply_everywhere(kubeconfigs: Sequence[Path], objects: Sequence[dict[str, Any]],
                           concurrency: int = 16) -> float:
    """Seconds to apply ``objects`` to every cluster (all clusters at once)."""
    return (await apply_and_observe(kubeconfigs, objects, concurrency, observe=False))[0]


async def apply_and_observe(kubeconfigs: Sequence[Path], objects: Sequence[dict[str, Any]],
                            concurrency: int = 16, *, observe: bool = True
                            ) -> tuple[float, float]:
    """Seconds to apply ``objects`` to every cluster (all clusters at once), and until every
    cluster's controllers observed each Deployment applied (its status reports the generation
    applied): what "Healthy" means for a Deployment of no replicas, which no engine can report
    sooner than the member's own deployment controller gets to it."""
    clients = [AsyncClient(config=KubeConfig.from_file(path), field_manager=FIELD_MANAGER)
               for path in kubeconfigs]
    try:
        # Warm: TLS handshakes and discovery happen before the clock starts.
        await asyncio.gather(*(kube.get(Namespace, "default") for kube in clients))
        namespaces = [o for o in objects if o["kind"] == "Namespace"]
        rest = [o for o in objects if o["kind"] != "Namespace"]

        async def one_cluster(kube: AsyncClient) -> None:
            gate = asyncio.Semaphore(concurrency)

            async def bounded(obj: dict[str, Any]) -> None:
                async with gate:
                    await _apply(kube, obj)

            await asyncio.gather(*(bounded(o) for o in namespaces))
            await asyncio.gather(*(bounded(o) for o in rest))

        start = time.perf_counter()
        await asyncio.gather(*(one_cluster(kube) for kube in clients))
        applied = time.perf_counter() - start
        if observe:
            wanted = {(o["metadata"].get("namespace"), o["metadata"]["name"])
                      for o in objects if o["kind"] == "Deployment"}
            await asyncio.gather(*(_observed(kube, wanted) for kube in clients))
        return applied, time.perf_counter() - start
    finally:
        for kube in clients:
            await kube.close()


async def _observed(kube: AsyncClient, wanted: set[tuple[str | None, str]]) -> None:
    """Until the cluster's deployment controller has observed every Deployment of ``wanted``."""
    while True:
        seen = set()
        async for found in kube.list(Deployment, namespace="*", chunk_size=500):
            meta, status = found.metadata, found.status
            if meta is not None and status is not None and \
                    (status.observedGeneration or 0) >= (meta.generation or 0):
                seen.add((meta.namespace, meta.name))
        if wanted <= seen:
            return
        await asyncio.sleep(0.2)

"""The watch-backed cache against a real apiserver: initial sync, live events, resume after a
dropped connection, relist after 410 Gone, and objects whose JSON holds unicode line breaks."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from lightkube import AsyncClient, Client, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.types import PatchType

from hybridcloud.controlplane import ControlPlane
from hybridcloud.kube import cache as cache_module
from hybridcloud.kube.cache import WatchCache
from hybridcloud.kube.resources import MultiClusterApplicationResource

pytestmark = pytest.mark.integration


def app(name: str, namespace: str, note: str = "") -> Any:
    return MultiClusterApplicationResource.from_dict({
        "apiVersion": "platform.example.com/v1", "kind": "MultiClusterApplication",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"source": {"repository": "https://example.com/a.git"},
                 "placement": [{"cluster": "c1"}], "values": {"note": note}}})


def delete_now(kube: Client, name: str, namespace: str) -> None:
    """Delete as if the operator had released the object at once: the admission policy gives
    every new object the operator's finalizer, and no operator runs here."""
    kube.patch(MultiClusterApplicationResource, name, {"metadata": {"finalizers": None}},
               namespace=namespace, patch_type=PatchType.MERGE)
    kube.delete(MultiClusterApplicationResource, name, namespace=namespace)


async def test_cache_syncs_follows_events_resumes_and_relists(
        management: ControlPlane, kube: Client, namespace: str) -> None:
    kube.create(app("before", namespace))
    client = AsyncClient(config=KubeConfig.from_file(management.kubeconfig))
    # Watch calls last 1s (server timeout), so injected failures hit the next call quickly.
    cache = WatchCache(client, MultiClusterApplicationResource, namespace=namespace,
                       backoff=0.1, server_timeout=1)
    original = cache._watch
    # Failures injected in front of the real watch: first a dropped connection, later (when
    # asked) a 410 Gone.
    failures: list[BaseException] = [httpx2.ConnectError("dropped")]

    async def watch_with_failures() -> None:
        if failures:
            failure = failures.pop(0)
            if isinstance(failure, ApiError):
                delete_now(kube, "line-breaks", namespace)
            raise failure
        await original()
    cache._watch = watch_with_failures  # type: ignore[method-assign]
    cache.start()
    try:
        assert await cache.wait_synced(10)
        assert [o["metadata"]["name"] for o in cache.items()] == ["before"]

        # After the dropped connection the watch resumed from its version: events still
        # arrive and nothing was relisted.
        created = kube.create(app("line-breaks", namespace, "a\u2028b\u2029c\x85d"))
        assert await cache.wait_for_version(created.metadata.resourceVersion, 10)
        assert cache.relists == 1 and cache.synced
        assert cache.get(namespace, "line-breaks")["spec"]["values"]["note"] == \
            "a\u2028b\u2029c\x85d"
        assert cache.by_uid(created.metadata.uid)["metadata"]["name"] == "line-breaks"
        delete_now(kube, "before", namespace)
        assert await cache.wait_until(lambda: cache.get(namespace, "before") is None, 10)

        # 410 Gone: the cache relists; what was deleted meanwhile (no event seen) disappears.
        request = httpx2.Request("GET", "http://apiserver/")
        failures.append(ApiError(request=request, response=httpx2.Response(
            410, json={"kind": "Status", "code": 410, "reason": "Expired", "message": "old"},
            request=request)))
        kube.create(app("nudge", namespace))
        assert await cache.wait_until(lambda: cache.relists == 2, 15)
        assert cache.get(namespace, "line-breaks") is None
        assert cache.get(namespace, "nudge") is not None
        assert cache.synced
    finally:
        await cache.stop()
        await client.close()


async def test_a_listing_larger_than_a_page_is_read_page_by_page_and_watched_from_its_version(
        management: ControlPlane, kube: Client, namespace: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Relists read pages of ``LIST_PAGE`` objects (never one response holding a fleet); the
    version the pages share is where the watch starts, so nothing between them is lost."""
    monkeypatch.setattr(cache_module, "LIST_PAGE", 2)
    names = [f"paged-{i}" for i in range(5)]
    for name in names:
        kube.create(app(name, namespace))
    client = AsyncClient(config=KubeConfig.from_file(management.kubeconfig))
    pages: list[Any] = []
    listing = client.list

    def counted_list(*args: Any, **kwargs: Any) -> Any:
        pages.append(kwargs.get("chunk_size"))
        return listing(*args, **kwargs)

    client.list = counted_list  # type: ignore[method-assign]
    cache = WatchCache(client, MultiClusterApplicationResource, namespace=namespace)
    cache.start()
    try:
        assert await cache.wait_synced(10)
        assert pages == [2]
        assert sorted(o["metadata"]["name"] for o in cache.items()) == names
        created = kube.create(app("after", namespace))
        assert await cache.wait_for_version(created.metadata.resourceVersion, 10)
        assert cache.get(namespace, "after") is not None and cache.relists == 1
    finally:
        await cache.stop()
        await client.close()

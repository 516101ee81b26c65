"""The watch cache's list order (oldest first, then by name) is sorted again only when objects
come or go: the status writes of a busy operator refresh the listed objects in the kept order.
Events are fed to the cache as its watch would deliver them; sorts are counted, never timed."""

from __future__ import annotations

import asyncio
from typing import Any

from hybridcloud.kube.cache import WatchCache
from hybridcloud.kube.resources import HybridClusterResource


def cluster(name: str, created: str, version: int, phase: str = "Pending",
            namespace: str = "tenant") -> dict[str, Any]:
    return {"apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}",
                         "creationTimestamp": created, "resourceVersion": str(version)},
            "spec": {"provider": "local"}, "status": {"phase": phase}}


def fed(*events: tuple[str, dict[str, Any]]) -> WatchCache:
    cache = WatchCache(client=None, resource=HybridClusterResource)  # type: ignore[arg-type]
    for kind, obj in events:
        feed(cache, kind, obj)
    return cache


def feed(cache: WatchCache, kind: str, obj: dict[str, Any]) -> None:
    asyncio.run(cache._apply({"type": kind, "object": obj}))


def names(cache: WatchCache, namespace: str | None = "tenant") -> list[str]:
    return [o["metadata"]["name"] for o in cache.items(namespace)]


def test_status_changes_refresh_the_listed_objects_without_sorting_again() -> None:
    cache = fed(("ADDED", cluster("b", "2026-01-01T00:00:01Z", 1)),
                ("ADDED", cluster("a", "2026-01-01T00:00:01Z", 2)),
                ("ADDED", cluster("c", "2026-01-01T00:00:00Z", 3)))
    assert names(cache) == ["c", "a", "b"]
    assert cache.sorts == 1
    for version, name in enumerate(["a", "b", "c", "a"], start=4):
        created = cache.get("tenant", name)["metadata"]["creationTimestamp"]  # type: ignore[index]
        feed(cache, "MODIFIED", cluster(name, created, version, phase="Active"))
        listed = cache.items("tenant")
        assert [o["metadata"]["name"] for o in listed] == ["c", "a", "b"]
        assert cache.get("tenant", name) in listed  # the new version, not a stale copy
        assert [o["metadata"]["resourceVersion"] for o in listed if
                o["metadata"]["name"] == name] == [str(version)]
    assert cache.sorts == 1  # before: one sort after every status write


def test_objects_coming_or_going_are_placed_by_a_new_sort() -> None:
    cache = fed(("ADDED", cluster("b", "2026-01-01T00:00:01Z", 1)),
                ("ADDED", cluster("d", "2026-01-01T00:00:03Z", 2)))
    assert names(cache) == ["b", "d"]
    feed(cache, "ADDED", cluster("a", "2026-01-01T00:00:02Z", 3))
    assert names(cache) == ["b", "a", "d"]
    feed(cache, "DELETED", cluster("b", "2026-01-01T00:00:01Z", 4))
    assert names(cache) == ["a", "d"]
    assert cache.sorts == 3


def test_namespaces_keep_separate_views() -> None:
    cache = fed(("ADDED", cluster("x", "2026-01-01T00:00:00Z", 1, namespace="one")),
                ("ADDED", cluster("y", "2026-01-01T00:00:00Z", 2, namespace="two")))
    assert names(cache, "one") == ["x"] and names(cache, "two") == ["y"]
    assert names(cache, None) == ["x", "y"]
    feed(cache, "MODIFIED", cluster("y", "2026-01-01T00:00:00Z", 3, "Active", namespace="two"))
    assert names(cache, "one") == ["x"]
    assert [o["status"]["phase"] for o in cache.items("two")] == ["Active"]
    assert [o["status"]["phase"] for o in cache.items(None)] == ["Pending", "Active"]

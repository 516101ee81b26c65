"""The async Python client offers what the sync one does: the same resources, each with the same
public methods taking the same parameters (a helper added to one client only fails here)."""

from __future__ import annotations

import inspect

from hybridcloud_sdk import AsyncHybridCloudClient, HybridCloudClient


def public_methods(resource: object) -> dict[str, list[str]]:
    """Method name -> parameter names (and kinds) of ``resource``'s public methods."""
    return {name: [f"{p.name}:{p.kind.name}" for p in inspect.signature(method).parameters.values()]
            for name, method in inspect.getmembers(resource, callable)
            if not name.startswith("_")}


def resources(client: object) -> dict[str, object]:
    return {name: value for name, value in vars(client).items() if not name.startswith("_")}


def test_the_async_client_has_every_resource_method_and_parameter_of_the_sync_one() -> None:
    sync = HybridCloudClient(base_url="http://127.0.0.1:9", api_key="k")
    asynchronous = AsyncHybridCloudClient(base_url="http://127.0.0.1:9", api_key="k")
    try:
        sync_resources, async_resources = resources(sync), resources(asynchronous)
        assert sorted(sync_resources) == sorted(async_resources)
        for name, resource in sync_resources.items():
            assert public_methods(async_resources[name]) == public_methods(resource), name
    finally:
        sync.close()


def test_the_async_scale_and_upgrade_helpers_are_coroutines_like_the_other_calls() -> None:
    client = AsyncHybridCloudClient(base_url="http://127.0.0.1:9", api_key="k")
    for method in (client.clusters.scale, client.clusters.upgrade, client.clusters.get):
        assert inspect.iscoroutinefunction(method)

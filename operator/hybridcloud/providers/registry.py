"""Building a provider adapter for a cluster: lazy SDK imports, one client per credential set.

SDK clients are expensive to build (credential exchange, service discovery), so adapters are
cached by provider and a digest of their credentials; a rotated Secret yields a new adapter.
Factories can be overridden (``HYBRIDCLOUD_OPERATOR_PROVIDER_OVERRIDES``) — the benchmarks use
that to measure the operator with an instant in-process provider.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from threading import Lock

from cachetools import LRUCache

from .base import CloudProvider, PermanentError

Factory = Callable[[Mapping[str, str]], CloudProvider]


def _aws(credentials: Mapping[str, str]) -> CloudProvider:
    from .aws import AWSProvider

    return AWSProvider(credentials, endpoint_url=credentials.get("endpoint"))


def _openstack(credentials: Mapping[str, str]) -> CloudProvider:
    from .openstack import OpenStackProvider

    return OpenStackProvider(credentials, auth_url=credentials.get("endpoint"))


def _gcp(credentials: Mapping[str, str]) -> CloudProvider:
    from .gcp import GCPProvider

    return GCPProvider(credentials, endpoint=credentials.get("endpoint"))


def _azure(credentials: Mapping[str, str]) -> CloudProvider:
    from .azure import AzureProvider

    # Seconds between polls of an ARM long-running operation without Retry-After (tests).
    interval = os.environ.get("HYBRIDCLOUD_OPERATOR_AZURE_POLLING_INTERVAL", "").strip()
    return AzureProvider(credentials, base_url=credentials.get("endpoint"),
                         polling_interval=float(interval) if interval else None)


def load_factory(spec: str) -> Factory:
    """``package.module:attribute`` → a factory taking the credentials mapping."""
    module_name, _, attribute = spec.partition(":")
    factory: Factory = getattr(importlib.import_module(module_name), attribute)
    return factory


def _key(provider: str, credentials: Mapping[str, str]) -> tuple[str, str]:
    digest = hashlib.sha256(json.dumps(sorted(credentials.items())).encode()).hexdigest()
    return provider, digest


class ProviderRegistry:
    def __init__(self, *, local_dir: Path, bin_dir: Path | None = None,
                 overrides: Mapping[str, Factory] | None = None, capacity: int = 64) -> None:
        def _local(credentials: Mapping[str, str]) -> CloudProvider:
            from .local import LocalProvider

            return LocalProvider(credentials, local_dir=local_dir, bin_dir=bin_dir)

        self._factories: dict[str, Factory] = {
            "aws": _aws, "openstack": _openstack, "gcp": _gcp, "azure": _azure, "local": _local,
            **(overrides or {}),
        }
        self._cache: LRUCache[tuple[str, str], CloudProvider] = LRUCache(capacity)
        self._lock = Lock()

    def cached(self, provider: str, credentials: Mapping[str, str]) -> CloudProvider | None:
        """The adapter if one was built already: cheap, safe to call on the event loop."""
        key = _key(provider, credentials)
        with self._lock:  # LRUCache is not thread-safe; adapters are built in threads
            return self._cache.get(key)

    def get(self, provider: str, credentials: Mapping[str, str]) -> CloudProvider:
        """The adapter, built on first use (may do network I/O: call it from a thread)."""
        factory = self._factories.get(provider)
        if factory is None:
            raise PermanentError(f"unknown provider {provider!r}", reason="UnknownProvider")
        found = self.cached(provider, credentials)
        if found is not None:
            return found
        key = _key(provider, credentials)
        adapter = factory(credentials)  # outside the lock: may do network I/O
        with self._lock:
            self._cache[key] = adapter
        return adapter

"""``GET /v1/clusters`` pages and ``GET /v1/clusters/{id}`` bodies from JSON rendered once per
object version.

The list route used to build and validate a pydantic ``ClusterSummary`` for each of the (up to
100) clusters of a page on every request, then FastAPI validated the whole ``ClusterList`` again
and serialised it: the REST list benchmark's profile put most of the API's CPU per answer there,
while the objects themselves had not changed since the last request.

Here each cluster's summary is built by the same view function (``views.cluster_summary``,
validated by the same model) the first time a version of the object is listed, and kept as
its JSON bytes keyed by (namespace, name) with the ``resourceVersion`` it was rendered from. A
page is the join of those bytes, so an unchanged cluster costs a dict lookup per request, and
any change (new ``resourceVersion``) renders it again. Filtered views (provider, region,
status) are remembered until the watch cache changes.

The details of one cluster are kept the same way (``views.cluster_details``, without the
``metrics`` block, which comes from Prometheus on each request and is appended last, where the
model puts it).

Nothing here decides who may see what: the route authorizes the caller for the namespace
first, and only objects of that namespace (``WatchCache.items(namespace)``) are looked up.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ..kube.cache import WatchCache
from .views import ClusterMetrics, cluster_details, cluster_status, cluster_summary

# Filtered views kept at once (namespaces x filter combinations); least recently used go first.
_FILTERED_VIEWS = 256


@dataclass(frozen=True)
class _Rendered:
    version: str  # the object's resourceVersion the bytes were rendered from
    body: bytes  # the ClusterSummary (or ClusterDetails without metrics) as JSON


_FilterKey = tuple[str, str | None, str | None, str | None]


class ClusterPages:
    """Pages of the cluster list of one namespace, as the contract's JSON body."""

    def __init__(self, cache: WatchCache) -> None:
        self.cache = cache
        self.renders = 0  # summaries built and validated since start (tests count them)
        self._rendered: dict[tuple[str, str], _Rendered] = {}
        self._details: dict[tuple[str, str], _Rendered] = {}
        self._filtered: OrderedDict[_FilterKey, tuple[int, list[dict[str, Any]]]] = (
            OrderedDict())
        cache.listeners.append(self._changed)

    def page(self, namespace: str, page: int, per_page: int, *, provider: str | None = None,
             region: str | None = None, status: str | None = None) -> bytes:
        """The ``ClusterList`` body: clusters of ``namespace`` (oldest first) that pass the
        filters, page ``page`` of ``per_page``, with the filtered total."""
        chosen = self._chosen(namespace, provider, region, status)
        start = (page - 1) * per_page
        parts = [self._summary(obj) for obj in chosen[start:start + per_page]]
        # Field order and compact separators as the model would serialise ClusterList.
        tail = json.dumps({"total": len(chosen), "page": page, "per_page": per_page},
                          separators=(",", ":"))
        return b'{"clusters":[' + b",".join(parts) + b"]," + tail[1:].encode()

    def _chosen(self, namespace: str, provider: str | None, region: str | None,
                status: str | None) -> list[dict[str, Any]]:
        everything = self.cache.items(namespace)  # a memo shared until the next change
        if provider is None and region is None and status is None:
            return everything
        key = (namespace, provider, region, status.lower() if status is not None else None)
        generation = self.cache.generation
        remembered = self._filtered.get(key)
        if remembered is not None and remembered[0] == generation:
            self._filtered.move_to_end(key)
            return remembered[1]
        wanted_status = key[3]
        chosen = [o for o in everything
                  if (provider is None or o["spec"]["provider"] == provider)
                  and (region is None or o["spec"].get("region") == region)
                  and (wanted_status is None or cluster_status(o) == wanted_status)]
        self._filtered[key] = (generation, chosen)
        self._filtered.move_to_end(key)
        while len(self._filtered) > _FILTERED_VIEWS:
            self._filtered.popitem(last=False)
        return chosen

    def _summary(self, obj: dict[str, Any]) -> bytes:
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        version = meta.get("resourceVersion") or ""
        rendered = self._rendered.get(key)
        if rendered is None or rendered.version != version or not version:
            rendered = _Rendered(version, cluster_summary(obj).model_dump_json().encode())
            self.renders += 1
            self._rendered[key] = rendered
        return rendered.body

    def details(self, obj: dict[str, Any], metrics: ClusterMetrics) -> bytes:
        """The ``ClusterDetails`` body of ``obj`` with ``metrics``."""
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        version = meta.get("resourceVersion") or ""
        rendered = self._details.get(key)
        if rendered is None or rendered.version != version or not version:
            # Rendered with empty metrics, which the model serialises last: cut there.
            full = cluster_details(obj).model_dump_json().encode()
            head = full[:full.rindex(b',"metrics":')]
            rendered = _Rendered(version, head)
            self._details[key] = rendered
        return rendered.body + b',"metrics":' + metrics.model_dump_json().encode() + b"}"

    def _changed(self, kind: str, obj: dict[str, Any]) -> None:
        """Watch cache listener: forget what no longer exists (a relist may drop objects
        without a DELETED event, so it prunes against the cache's contents)."""
        if kind == "DELETED":
            meta = obj.get("metadata") or {}
            key = (meta.get("namespace", ""), meta.get("name", ""))
            self._rendered.pop(key, None)
            self._details.pop(key, None)
        elif kind == "LISTED":
            self._rendered = {key: rendered for key, rendered in self._rendered.items()
                              if self.cache.get(*key) is not None}
            self._details = {key: rendered for key, rendered in self._details.items()
                             if self.cache.get(*key) is not None}
            self._filtered.clear()


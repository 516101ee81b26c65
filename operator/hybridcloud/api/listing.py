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
status) and whole page bodies are remembered until the watch cache changes.

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
from typing import Any, TypeVar

from ..kube.cache import WatchCache
from .views import ClusterMetrics, cluster_details, cluster_status, cluster_summary

# Filtered views kept at once (namespaces x filter combinations); least recently used go first.
_FILTERED_VIEWS = 256
# Whole page bodies kept until the cache changes (a page of 100 is about 30 kB): callers that
# poll the same pages get them without a lookup per cluster.
_PAGES = 128


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
        self._pages: OrderedDict[tuple[_FilterKey, int, int], tuple[int, bytes]] = OrderedDict()
        self.assembled = 0  # page bodies joined since start (tests count them)
        cache.listeners.append(self._changed)

    def page(self, namespace: str, page: int, per_page: int, *, provider: str | None = None,
             region: str | None = None, status: str | None = None) -> bytes:
        """The ``ClusterList`` body: clusters of ``namespace`` (oldest first) that pass the
        filters, page ``page`` of ``per_page``, with the filtered total."""
        wanted = (namespace, provider, region, status.lower() if status is not None else None)
        generation = self.cache.generation
        remembered = _recall(self._pages, (wanted, page, per_page), generation)
        if remembered is not None:
            return remembered
        chosen = self._chosen(*wanted)
        start = (page - 1) * per_page
        parts = [self._summary(obj) for obj in chosen[start:start + per_page]]
        # Field order and compact separators as the model would serialise ClusterList.
        tail = json.dumps({"total": len(chosen), "page": page, "per_page": per_page},
                          separators=(",", ":"))
        body = b'{"clusters":[' + b",".join(parts) + b"]," + tail[1:].encode()
        self.assembled += 1
        _remember(self._pages, (wanted, page, per_page), generation, body, _PAGES)
        return body

    def _chosen(self, namespace: str, provider: str | None, region: str | None,
                status: str | None) -> list[dict[str, Any]]:
        everything = self.cache.items(namespace)  # a memo shared until the next change
        if provider is None and region is None and status is None:
            return everything
        key = (namespace, provider, region, status)
        generation = self.cache.generation
        remembered = _recall(self._filtered, key, generation)
        if remembered is not None:
            return remembered
        chosen = [o for o in everything
                  if (provider is None or o["spec"]["provider"] == provider)
                  and (region is None or o["spec"].get("region") == region)
                  and (status is None or cluster_status(o) == status)]
        _remember(self._filtered, key, generation, chosen, _FILTERED_VIEWS)
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
            self._pages.clear()


K = TypeVar("K")
V = TypeVar("V")


def _recall(memo: OrderedDict[K, tuple[int, V]], key: K, generation: int) -> V | None:
    """``memo[key]`` if it was remembered at the cache's current ``generation``."""
    remembered = memo.get(key)
    if remembered is None or remembered[0] != generation:
        return None
    memo.move_to_end(key)
    return remembered[1]


def _remember(memo: OrderedDict[K, tuple[int, V]], key: K, generation: int, value: V,
              bound: int) -> None:
    memo[key] = (generation, value)
    memo.move_to_end(key)
    while len(memo) > bound:
        memo.popitem(last=False)

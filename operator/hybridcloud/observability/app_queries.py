"""PromQL for one application's metrics on one member cluster (pure; no I/O).

Container and HTTP series carry the pod's ``namespace`` and ``pod`` labels but not the pod's
labels, and the delivery engine labels the objects it applies (``platform.example.com/
application: <uid>``), not the pods their controllers create. So the application's pods are
selected by the names their controllers give them: a Deployment ``web`` makes pods
``web-<replicaset hash>-<suffix>``, a StatefulSet ``db`` makes ``db-<ordinal>``, a DaemonSet
``agent`` makes ``agent-<suffix>``, a delivered Pod keeps its own name. Each pattern is anchored
(Prometheus anchors regex matchers) and built from characters a generated suffix cannot hold
(no ``-``), so ``web`` never matches the pods of a Deployment ``web-canary``. Selectors are per
namespace, joined with ``or``, so a pattern never matches a pod in another of the app's
namespaces.

The expressions carry no cluster or tenant matcher: the API confines them (``Scoper``) to the
cluster and the caller's tenant like every catalogue expression.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_SUFFIX = "[a-z0-9]{{5}}"  # braces doubled: these are str.format templates
_POD_NAME_PATTERN = {
    "Deployment": "{name}-[a-z0-9]{{1,10}}-" + _SUFFIX,
    "StatefulSet": "{name}-[0-9]+",
    "DaemonSet": "{name}-" + _SUFFIX,
    "Pod": "{name}",
}
WORKLOAD_KINDS = tuple(_POD_NAME_PATTERN)
RATE_WINDOW = "5m"
QUANTILES = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))


@dataclass(frozen=True, order=True)
class Workload:
    namespace: str
    kind: str
    name: str


def _literal_regex(name: str) -> str:
    # A dot in a name is literal; the backslash is doubled for the PromQL string literal.
    return name.replace(".", "\\\\.")


def pod_selectors(workloads: Iterable[Workload]) -> list[str]:
    """One ``namespace="…",pod=~"…"`` matcher list per namespace of ``workloads``.

    Workloads with a kind or name outside what Kubernetes allows are left out (they come from
    a member cluster, which is shared ground)."""
    patterns: dict[str, set[str]] = {}
    for workload in workloads:
        template = _POD_NAME_PATTERN.get(workload.kind)
        if template is None or not (_SUBDOMAIN.match(workload.name)
                                    and _SUBDOMAIN.match(workload.namespace)):
            continue
        patterns.setdefault(workload.namespace, set()).add(
            template.format(name=_literal_regex(workload.name)))
    return [f'namespace="{namespace}",pod=~"{"|".join(sorted(found))}"'
            for namespace, found in sorted(patterns.items())]


def _union(selectors: list[str], series: str, extra: str = "", function: str | None = "rate",
           window: str = RATE_WINDOW) -> str:
    matchers = [f"{selector}{extra}" for selector in selectors]
    parts = [f"{function}({series}{{{m}}}[{window}])" if function else f"{series}{{{m}}}"
             for m in matchers]
    return " or ".join(parts)


def application_queries(selectors: list[str]) -> Mapping[str, str]:
    """Name → instant-query expression; empty when the app has no pods to select."""
    if not selectors:
        return {}
    requests = _union(selectors, "http_requests_total")
    errors = _union(selectors, "http_requests_total", ',code=~"5.."')
    buckets = _union(selectors, "http_request_duration_seconds_bucket")
    present = _union(selectors, "container_memory_working_set_bytes", function=None)
    queries = {
        # Latest rate of the containers present now (see the catalogue's cpu_usage for why).
        "cpu": f"sum(({_union(selectors, 'container_cpu_usage_seconds_total', '', 'irate', '2m')}) "
               f"and on (namespace, pod, container) ({present}))",
        "memory": f"sum({present})",
        "request_rate": f"sum({requests})",
        # No 5xx series at all is an error rate of 0 when there are requests.
        "error_rate": f"(sum({errors}) or vector(0)) / sum({requests}) * 100",
    }
    for label, quantile in QUANTILES:
        queries[label] = f"histogram_quantile({quantile}, sum by (le) ({buckets}))"
    return queries

"""The metrics catalogue: the names ``GET /v1/clusters/{id}/metrics?metrics=…`` accepts.

Each entry is a PromQL expression written without any cluster or tenant matcher; the API scopes
it (``promql.render``) to the requested cluster and the caller's tenant before it is sent, so an
entry can never read another cluster's series. The series come from what discovery makes
Prometheus scrape for every Active cluster (``discovery.py``): the member API server's own
``/metrics`` and each node's container resource metrics (both read by the platform with its
member credential).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    expression: str
    unit: str
    description: str


CATALOG: dict[str, CatalogEntry] = {entry.name: entry for entry in (
    # Container figures as metrics-server/cAdvisor users know them, from each node's
    # /metrics/resource (discovery scrapes one target per node, see node_metrics.py).
    # CPU between each container's two latest samples, as metrics-server computes it: rate()
    # over a window divides a young container's increase by the whole window (a new replica
    # would take the window to count fully) and keeps counting a deleted one for as long.
    # "and" keeps the containers present now.
    CatalogEntry("cpu_usage",
                 "sum(irate(container_cpu_usage_seconds_total[2m]) and on (namespace, pod, "
                 "container) container_memory_working_set_bytes) * 100", "percent",
                 "CPU used by the cluster's containers, in % of one core (sum over "
                 "containers of container_cpu_usage_seconds_total's latest rate)."),
    CatalogEntry("memory_usage", "sum(container_memory_working_set_bytes)", "bytes",
                 "Working set of the cluster's containers "
                 "(container_memory_working_set_bytes, what kubectl top shows)."),
    # apiserver_resource_objects is refreshed by the API server once a minute.
    CatalogEntry("pods", 'sum(apiserver_resource_objects{group="",resource="pods"})', "count",
                 "Pods stored in the cluster (follows replicas as workloads scale; the API "
                 "server refreshes the count once a minute)."),
    CatalogEntry("deployments",
                 'sum(apiserver_resource_objects{group="apps",resource="deployments"})',
                 "count", "Deployments stored in the cluster."),
    CatalogEntry("api_request_rate", "sum(rate(apiserver_request_total[5m]))", "requests/s",
                 "Requests per second served by the cluster's API server."),
    CatalogEntry("api_error_rate",
                 'sum(rate(apiserver_request_total{code=~"5.."}[5m])) or vector(0)',
                 "requests/s", "5xx answers per second of the cluster's API server."),
    CatalogEntry("network_egress", "sum(rate(apiserver_response_sizes_sum[5m]))", "bytes/s",
                 "Bytes per second the cluster's API server sent in responses."),
)}

DEFAULT_METRICS = ("cpu_usage", "memory_usage", "pods")

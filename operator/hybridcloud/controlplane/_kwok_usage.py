"""Simulated container resource usage on member clusters, served in the kubelet's format.

kwok (v0.8) computes each container's CPU and memory from a ``ClusterResourceUsage`` and serves
the figures through its kubelet-style API at the path of a ``Metric`` resource. Both are given
to kwok as static documents in its ``--config`` file (beside the stages), so no CRD needs to be
installed and a tenant on the member cannot change what the platform reads.

The path carries the node name because one kwok serves every fake node; the apiserver's node
proxy reaches it at ``/api/v1/nodes/{node}/proxy`` + :func:`resource_metrics_path` (the platform
scrapes that with its own member credential). Series names and labels are the kubelet's
``/metrics/resource`` ones (``container_cpu_usage_seconds_total``,
``container_memory_working_set_bytes`` with ``namespace``, ``pod``, ``container``), so the
queries written for cAdvisor and metrics-server work unchanged.

A pod's usage comes from its annotations ``kwok.x-k8s.io/usage-cpu`` / ``-memory`` (quantities),
default 10m CPU and 16Mi memory per container, so sums follow the number of running replicas.
"""

from __future__ import annotations

from typing import Any

import yaml

API_VERSION = "kwok.x-k8s.io/v1alpha1"
CPU_ANNOTATION = "kwok.x-k8s.io/usage-cpu"
MEMORY_ANNOTATION = "kwok.x-k8s.io/usage-memory"
DEFAULT_CPU = "10m"
DEFAULT_MEMORY = "16Mi"
_POD_LABELS = [{"name": "namespace", "value": "pod.metadata.namespace"},
               {"name": "pod", "value": "pod.metadata.name"}]
_CONTAINER_LABELS = [{"name": "container", "value": "container.name"}, *_POD_LABELS]


def resource_metrics_path(node: str) -> str:
    """Where kwok serves ``node``'s resource metrics (relative to kwok's server root)."""
    return f"/metrics/nodes/{node}/metrics/resource"


def _from_annotation(annotation: str, default: str) -> dict[str, str]:
    # CEL evaluated by kwok per container; Quantity() parses the annotation like the apiserver.
    return {"expression": f'"{annotation}" in pod.metadata.annotations'
                          f' ? Quantity(pod.metadata.annotations["{annotation}"])'
                          f' : Quantity("{default}")'}


def _metric(name: str, kind: str, dimension: str, value: str, help_text: str) -> dict[str, Any]:
    found: dict[str, Any] = {"name": name, "kind": kind, "dimension": dimension,
                             "help": help_text, "value": value}
    if dimension == "container":
        found["labels"] = _CONTAINER_LABELS
    elif dimension == "pod":
        found["labels"] = _POD_LABELS
    return found


def usage_documents() -> list[dict[str, Any]]:
    """The ``ClusterResourceUsage`` and ``Metric`` documents for kwok's ``--config``."""
    usage = {
        "apiVersion": API_VERSION, "kind": "ClusterResourceUsage",
        "metadata": {"name": "hybridcloud-usage-from-annotations"},
        "spec": {"usages": [{"usage": {
            "cpu": _from_annotation(CPU_ANNOTATION, DEFAULT_CPU),
            "memory": _from_annotation(MEMORY_ANNOTATION, DEFAULT_MEMORY)}}]}}
    metric = {
        "apiVersion": API_VERSION, "kind": "Metric",
        "metadata": {"name": "hybridcloud-resource-metrics"},
        "spec": {"path": resource_metrics_path("{nodeName}"), "metrics": [
            _metric("container_cpu_usage_seconds_total", "counter", "container",
                    'pod.CumulativeUsage("cpu", container.name)',
                    "Cumulative cpu time consumed by the container in core-seconds"),
            _metric("container_memory_working_set_bytes", "gauge", "container",
                    'pod.Usage("memory", container.name)',
                    "Current working set of the container in bytes"),
            _metric("pod_cpu_usage_seconds_total", "counter", "pod",
                    'pod.CumulativeUsage("cpu")',
                    "Cumulative cpu time consumed by the pod in core-seconds"),
            _metric("pod_memory_working_set_bytes", "gauge", "pod", 'pod.Usage("memory")',
                    "Current working set of the pod in bytes"),
            _metric("node_cpu_usage_seconds_total", "counter", "node",
                    'node.CumulativeUsage("cpu")',
                    "Cumulative cpu time consumed by the node in core-seconds"),
            _metric("node_memory_working_set_bytes", "gauge", "node", 'node.Usage("memory")',
                    "Current working set of the node in bytes"),
        ]}}
    return [usage, metric]


def with_usage(stages: bytes) -> bytes:
    """kwok's configuration: ``stages`` followed by the resource-usage documents."""
    extra = yaml.safe_dump_all(usage_documents(), sort_keys=False).encode()
    return stages.rstrip(b"\n") + b"\n---\n" + extra

"""Pure parts of where container and application metrics come from: kwok's resource-usage
configuration, node scrape paths, application pod selectors and their PromQL, and the rule
file that several API replicas write."""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path

import pytest
import yaml

from hybridcloud.api.rule_sync import replace_rule_file
from hybridcloud.controlplane._kwok_usage import resource_metrics_path, with_usage
from hybridcloud.observability.app_queries import Workload, application_queries, pod_selectors
from hybridcloud.observability.node_metrics import (
    UnreadableNodeError,
    kubelet_proxy_path,
    simulated_kubelet_url,
)
from hybridcloud.observability.range_cache import RangeCache


def _pattern(selector: str) -> re.Pattern[str]:
    found = re.search(r'pod=~"([^"]*)"', selector)
    assert found
    # PromQL string literal → regex (a doubled backslash is one), anchored like Prometheus.
    return re.compile(f"^(?:{found.group(1).replace(chr(92) * 2, chr(92))})$")


def test_kwok_config_keeps_the_stages_and_adds_usage_and_the_kubelet_metric_names() -> None:
    documents = list(yaml.safe_load_all(with_usage(b"kind: Stage\nmetadata: {name: s}\n")))
    assert [d["kind"] for d in documents] == ["Stage", "ClusterResourceUsage", "Metric"]
    metric = documents[2]
    assert metric["spec"]["path"] == "/metrics/nodes/{nodeName}/metrics/resource"
    by_name = {m["name"]: m for m in metric["spec"]["metrics"]}
    container = by_name["container_memory_working_set_bytes"]
    assert {label["name"] for label in container["labels"]} == {"namespace", "pod", "container"}
    assert by_name["container_cpu_usage_seconds_total"]["kind"] == "counter"
    assert resource_metrics_path("n1") == "/metrics/nodes/n1/metrics/resource"


def _node(address: str, port: object = 10250, name: str = "edge-node-0") -> dict[str, object]:
    return {"metadata": {"name": name}, "status": {
        "addresses": [{"type": "Hostname", "address": "x"},
                      {"type": "InternalIP", "address": address}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}}


def test_cloud_nodes_are_read_through_the_api_servers_node_proxy() -> None:
    assert kubelet_proxy_path("ip-10-0-0-1.ec2.internal") == \
        "/api/v1/nodes/ip-10-0-0-1.ec2.internal/proxy/metrics/resource"
    for hostile in ("../../api", "a/b", "A", "", "x?y=1", "n%2F"):
        with pytest.raises(UnreadableNodeError, match="not a node name"):
            kubelet_proxy_path(hostile)


def test_simulated_kubelets_are_read_only_on_loopback_at_the_reported_port() -> None:
    assert simulated_kubelet_url(_node("127.0.0.1", 41000)) == \
        "https://127.0.0.1:41000/metrics/nodes/edge-node-0/metrics/resource"
    assert simulated_kubelet_url(_node("::1")).startswith("https://[::1]:10250/")
    # A Node a tenant edited cannot send the platform to another host or an odd URL.
    for address, port, name in (("10.0.0.5", 10250, "n"), ("169.254.169.254", 80, "n"),
                                ("localhost", 10250, "n"), ("127.0.0.1", "80/x", "n"),
                                ("127.0.0.1", 0, "n"), ("127.0.0.1", 10250, "a/../b")):
        with pytest.raises(UnreadableNodeError):
            simulated_kubelet_url(_node(address, port, name))


def test_pod_selectors_match_each_controllers_pods_and_not_look_alikes() -> None:
    selectors = pod_selectors([Workload("shop", "Deployment", "web"),
                               Workload("shop", "StatefulSet", "db"),
                               Workload("shop", "DaemonSet", "agent"),
                               Workload("shop", "Pod", "one.off")])
    assert len(selectors) == 1 and selectors[0].startswith('namespace="shop",')
    pattern = _pattern(selectors[0])
    for pod in ("web-7d4b9c6f5-abcde", "db-0", "db-12", "agent-x1y2z", "one.off"):
        assert pattern.match(pod), pod
    for pod in ("web-canary-7d4b9c6f5-abcde", "web-7d4b9c6f5", "db-x", "agent-x1y2z-extra",
                "oneXoff", "database-0"):
        assert not pattern.match(pod), pod


def test_selectors_are_per_namespace_and_skip_what_kubernetes_would_not_allow() -> None:
    selectors = pod_selectors([Workload("b", "Deployment", "web"),
                               Workload("a", "Deployment", "web"),
                               Workload("a", "Deployment", 'x"} or up{'),
                               Workload("a", "CronJob", "nightly")])
    assert [s.split(",")[0] for s in selectors] == ['namespace="a"', 'namespace="b"']
    assert all('"}' not in s and "nightly" not in s for s in selectors)


def test_application_queries_join_namespaces_with_or_and_are_empty_without_pods() -> None:
    assert application_queries([]) == {}
    queries = application_queries(pod_selectors([Workload("a", "Deployment", "web"),
                                                 Workload("b", "Deployment", "web")]))
    assert set(queries) == {"cpu", "memory", "request_rate", "error_rate", "p50", "p95", "p99"}
    assert queries["memory"].count(" or ") == 1
    assert queries["cpu"].startswith("sum((irate(container_cpu_usage_seconds_total{")
    assert " and on (namespace, pod, container) (" in queries["cpu"]
    assert 'code=~"5.."' in queries["error_rate"]
    assert queries["p99"].startswith("histogram_quantile(0.99, sum by (le) (")


def test_rule_file_writers_never_leave_a_partial_file_or_temporaries(tmp_path: Path) -> None:
    path = tmp_path / "tenants.yaml"
    versions = ["groups:\n" + f"- name: g{i}\n" * 2000 for i in range(2)]
    seen: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            if path.exists():
                seen.append(path.read_text())

    watcher = threading.Thread(target=reader)
    watcher.start()
    def writer(text: str) -> None:  # one API replica's sync rounds
        for _ in range(50):
            replace_rule_file(path, text)

    writers = [threading.Thread(target=writer, args=(text,)) for text in versions
               for _ in range(2)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    watcher.join()
    assert seen and set(seen) <= set(versions)
    assert [p.name for p in tmp_path.iterdir()] == ["tenants.yaml"]
    # The same text again is not a write.
    assert replace_rule_file(path, path.read_text()) is False


def test_identical_metrics_requests_share_one_computation_and_failures_are_not_kept() -> None:
    cache = RangeCache(ttl=60)
    calls: list[str] = []

    async def compute() -> bytes:
        calls.append("ran")
        await asyncio.sleep(0.01)
        return b"answer"

    async def failing() -> bytes:
        calls.append("failed")
        raise RuntimeError("backend down")

    async def scenario() -> None:
        answers = await asyncio.gather(*(cache.get(("t", "c"), compute) for _ in range(5)))
        assert answers == [b"answer"] * 5
        assert await cache.get(("t", "c"), compute) == b"answer"
        assert calls == ["ran"]
        # Another tenant's identical window is its own key.
        assert await cache.get(("other", "c"), compute) == b"answer"
        assert calls == ["ran", "ran"]
        for _ in range(2):
            with pytest.raises(RuntimeError, match="backend down"):
                await cache.get(("t", "down"), failing)
        assert calls[-2:] == ["failed", "failed"]

    asyncio.run(scenario())
    expired = RangeCache(ttl=0)
    asyncio.run(expired.get("k", compute))
    asyncio.run(expired.get("k", compute))
    assert calls.count("ran") == 4

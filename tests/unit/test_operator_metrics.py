"""The operator's metric helpers: controller-runtime's names and label values, fed by the work
queue, the provider boundary, git fetches and member syncs; gauges computed from cached bodies."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY
from prometheus_client.core import Metric

from hybridcloud.controllers.queue import WorkQueue
from hybridcloud.observability import operator_metrics as m
from hybridcloud.providers.base import PermanentError, TransientError

from ..alert_rules import CHART, EXTERNAL, balanced, metric_names, rendered_rules


def sample(metric: str, /, **labels: str) -> float:
    return REGISTRY.get_sample_value(metric, labels) or 0.0


async def until(check: Callable[[], bool]) -> None:
    """Wait for ``check`` (the machine may be busy: no fixed sleeps)."""
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


def unique(prefix: str) -> str:
    # Metrics are process-wide: each test counts under names of its own.
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def test_a_pass_result_maps_to_controller_runtime_result_labels() -> None:
    assert [m.result_of(r) for r in (None, 0.0, 2.5)] == ["success", "requeue", "requeue_after"]


async def test_the_work_queue_counts_each_pass_by_result_with_errors_retried() -> None:
    name = unique("queue")
    answers: dict[str, Any] = {"done": None, "again": 0.0, "later": 30.0, "broken": "raise"}
    passes: list[str] = []

    async def reconcile(key: str) -> float | None:
        passes.append(key)
        answer = answers[key]
        if answer == "raise":
            answers[key] = None  # fails once, then succeeds on its retry
            raise RuntimeError("boom")
        if key == "again":
            answers[key] = None
        return answer  # type: ignore[no-any-return]

    queue: WorkQueue[str] = WorkQueue(reconcile, workers=2, base_backoff=0.01, name=name)
    for key in answers:
        queue.add(key)
    queue.start()
    await until(lambda: len(passes) == 6 and not queue.metrics.running)
    await asyncio.sleep(0.05)  # nothing more runs: "later" is due in 30 s
    await queue.stop()
    assert sorted(passes) == ["again", "again", "broken", "broken", "done", "later"]
    assert sample("controller_runtime_reconcile_total", controller=name, result="success") == 3
    assert sample("controller_runtime_reconcile_total", controller=name, result="requeue") == 1
    assert sample("controller_runtime_reconcile_total", controller=name,
                  result="requeue_after") == 1
    assert sample("controller_runtime_reconcile_total", controller=name, result="error") == 1
    assert sample("controller_runtime_reconcile_errors_total", controller=name) == 1
    assert sample("workqueue_retries_total", name=name) == 1
    # 4 initial adds, the requeue and the retry (the 30 s requeue is scheduled: an add too).
    assert sample("workqueue_adds_total", name=name) == 7
    assert sample("workqueue_work_duration_seconds_count", name=name) == 6
    assert sample("controller_runtime_reconcile_time_seconds_count", controller=name) == 6
    assert sample("workqueue_queue_duration_seconds_count", name=name) == 6
    assert sample("controller_runtime_max_concurrent_reconciles", controller=name) == 2
    assert sample("controller_runtime_active_workers", controller=name) == 0


async def test_depth_counts_only_due_items_and_running_work_is_measured_while_it_runs() -> None:
    name = unique("depth")
    release = asyncio.Event()

    async def reconcile(key: str) -> float | None:
        await release.wait()
        return None

    queue: WorkQueue[str] = WorkQueue(reconcile, workers=1, name=name)
    queue.add("now-1")
    queue.add("now-2")
    queue.add("later", delay=3600)  # scheduled, not yet in the queue (client-go's AddAfter)
    assert sample("workqueue_depth", name=name) == 2
    queue.start()
    await until(lambda: bool(queue.metrics.running))
    await asyncio.sleep(0.05)
    assert sample("workqueue_depth", name=name) == 1  # one taken by the only worker
    assert sample("controller_runtime_active_workers", controller=name) == 1
    assert sample("workqueue_longest_running_processor_seconds", name=name) >= 0.05
    assert sample("workqueue_unfinished_work_seconds", name=name) >= 0.05
    release.set()
    await until(lambda: sample("workqueue_work_duration_seconds_count", name=name) == 2)
    await queue.stop()
    assert sample("workqueue_depth", name=name) == 0
    assert sample("workqueue_longest_running_processor_seconds", name=name) == 0


@dataclass
class FakeCloud:
    name: str
    calls: list[str] = field(default_factory=list)

    def describe(self, spec: str) -> str:
        self.calls.append(spec)
        return f"seen {spec}"

    def create(self, spec: str) -> None:
        raise TransientError("throttled")

    def delete(self, spec: str) -> None:
        raise PermanentError("no such account", reason="AuthenticationFailed")

    def upgrade(self, spec: str) -> None:
        raise KeyError(spec)


def test_provider_calls_are_timed_and_failures_counted_by_cloud_operation_and_class() -> None:
    cloud = FakeCloud(unique("cloud"))
    assert m.timed_provider_call(cloud.describe)("a") == "seen a" and cloud.calls == ["a"]
    for operation, raised in (("create", TransientError), ("delete", PermanentError),
                              ("upgrade", KeyError)):
        with pytest.raises(raised):
            m.timed_provider_call(getattr(cloud, operation))("a")
    duration = "hybridcloud_provider_call_duration_seconds_count"
    for operation in ("describe", "create", "delete", "upgrade"):
        assert sample(duration, cloud=cloud.name, operation=operation) == 1, operation
    errors = "hybridcloud_provider_call_errors_total"
    assert sample(errors, cloud=cloud.name, operation="describe", error="transient") == 0
    assert sample(errors, cloud=cloud.name, operation="create", error="transient") == 1
    assert sample(errors, cloud=cloud.name, operation="delete", error="permanent") == 1
    assert sample(errors, cloud=cloud.name, operation="upgrade", error="unexpected") == 1


def test_calls_that_are_not_a_provider_adapter_pass_through_untouched() -> None:
    def build(kind: str) -> str:
        return kind

    assert m.timed_provider_call(build) is build
    assert m.timed_provider_call(len) is len


class SourceFailedError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def test_git_fetches_are_timed_and_failures_counted_by_reason() -> None:
    reason = unique("Reason")
    before = sample("hybridcloud_git_fetch_duration_seconds_count")

    @m.timed_git_fetch
    async def fetch(fail: bool) -> None:
        if fail:
            raise SourceFailedError(reason)

    await fetch(False)
    with pytest.raises(SourceFailedError):
        await fetch(True)
    assert sample("hybridcloud_git_fetch_duration_seconds_count") == before + 2
    assert sample("hybridcloud_git_fetch_failures_total", reason=reason) == 1


@dataclass
class Outcome:
    applied: int = 0
    pruned: int = 0
    healed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


async def test_member_syncs_count_objects_written_and_their_result() -> None:
    applied = sample("hybridcloud_delivery_objects_total", action="applied")
    pruned = sample("hybridcloud_delivery_objects_total", action="pruned")
    results = {r: sample("hybridcloud_delivery_syncs_total", result=r)
               for r in ("success", "error", "refused", "unreachable")}

    @m.counted_sync
    async def sync(outcome: Outcome | None) -> Outcome:
        if outcome is None:
            raise ConnectionError("member down")
        return outcome

    await sync(Outcome(applied=3, pruned=1))
    await sync(Outcome(applied=1, errors=["Deployment/x: invalid"]))
    await sync(Outcome(refused=["Namespace/kube-system"]))
    with pytest.raises(ConnectionError):
        await sync(None)
    assert sample("hybridcloud_delivery_objects_total", action="applied") == applied + 4
    assert sample("hybridcloud_delivery_objects_total", action="pruned") == pruned + 1
    assert {r: sample("hybridcloud_delivery_syncs_total", result=r) - n
            for r, n in results.items()} == {"success": 1, "error": 1, "refused": 1,
                                             "unreachable": 1}


def test_client_requests_are_counted_by_code_method_and_host_without_the_scheme() -> None:
    host = f"{unique('apiserver')}:6443"
    m.rest_request("PATCH", f"https://{host}", 200)
    m.rest_request("PATCH", f"https://{host}", 409)
    m.rest_request("PATCH", f"https://{host}", 200)
    assert sample("rest_client_requests_total", code="200", method="PATCH", host=host) == 2
    assert sample("rest_client_requests_total", code="409", method="PATCH", host=host) == 1


def stamp(seconds_ago: float, now: datetime) -> str:
    return (now - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def as_dict(family: Metric) -> dict[tuple[str, ...], float]:
    return {tuple(s.labels.values()): s.value for s in family.samples}


def test_clusters_are_counted_by_phase_and_provider_with_the_oldest_operation_age() -> None:
    now = datetime.now(UTC)

    def cluster(provider: str, phase: str | None, reconciling_for: float | None = None,
                ) -> dict[str, Any]:
        conditions = [] if reconciling_for is None else [
            {"type": "Reconciling", "status": "True",
             "lastTransitionTime": stamp(reconciling_for, now)}]
        status = {} if phase is None else {"phase": phase, "conditions": conditions}
        return {"metadata": {"creationTimestamp": stamp(7200, now)},
                "spec": {"provider": provider}, "status": status}

    bodies = [cluster("aws", "Active"), cluster("aws", "Active"),
              cluster("gcp", "Creating", reconciling_for=600),
              cluster("gcp", "Creating", reconciling_for=60), cluster("local", None)]
    clusters, ages = m.cluster_families(bodies, now.timestamp())
    assert as_dict(clusters) == {("Active", "aws"): 2, ("Creating", "gcp"): 1 + 1,
                                 ("Unknown", "local"): 1}
    oldest = as_dict(ages)
    assert 599 <= oldest[("Creating",)] <= 602  # the older of the two operations
    assert 7199 <= oldest[("Active",)] <= 7202  # no operation running: since creation


def test_applications_are_counted_by_phase_and_deployments_by_health_and_sync() -> None:
    def app(phase: str | None, *deployments: tuple[str, str]) -> dict[str, Any]:
        return {"status": {"phase": phase, "deployments": [
            {"cluster": f"c{i}", "health": h, "status": s}
            for i, (h, s) in enumerate(deployments)]}}

    apps, placed = m.application_families([
        app("Deployed", ("Healthy", "Synced"), ("Healthy", "Synced")),
        app("Degraded", ("Healthy", "Synced"), ("Degraded", "Failed")),
        app(None)])
    assert as_dict(apps) == {("Deployed",): 1, ("Degraded",): 1, ("Unknown",): 1}
    assert as_dict(placed) == {("Healthy", "Synced"): 3, ("Degraded", "Failed"): 1}


def test_metric_names_are_found_in_promql_without_functions_labels_or_keywords() -> None:
    expr = ('sum by (namespace, controller) (rate(controller_runtime_reconcile_errors_total'
            '{job="x", le=~"a|b"}[10m])) / on (namespace) group_left '
            'max(up offset 5m) > bool 0.1 unless absent(hybridcloud_clusters)')
    assert metric_names(expr) == {"controller_runtime_reconcile_errors_total", "up",
                                  "hybridcloud_clusters"}
    assert balanced(expr) and not balanced("sum(rate(x[5m])") and not balanced("a{b=\"c\"]}")


def defined_names() -> set[str]:
    """Every series name the operator's metrics can expose (as the running operator has them:
    with a work queue and the object caches registered)."""
    WorkQueue(lambda key: asyncio.sleep(0, None), name=unique("registered"))
    m.track_objects(clusters=list, applications=list)
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"),
                "gauge": ("",)}
    return {family.name + suffix for family in REGISTRY.collect()
            for suffix in suffixes.get(family.type, ("",))}


def test_every_default_alert_rule_reads_metrics_the_operator_defines(bin_dir: Path) -> None:
    rules = rendered_rules(bin_dir / "helm")
    ours = [r for r in rules if r["alert"].startswith("HybridcloudOperator") or
            "hybridcloud_" in r["expr"] or "controller_runtime" in r["expr"]]
    assert {r["alert"] for r in ours} >= {
        "HybridcloudOperatorDown", "HybridcloudReconcileErrors", "HybridcloudClusterStuck",
        "HybridcloudDeliveriesFailing", "HybridcloudGitFetchesFailing"}
    defined = defined_names() | set(EXTERNAL)
    for rule in rules:
        assert balanced(rule["expr"]), rule["alert"]
        assert metric_names(rule["expr"]) <= defined, (rule["alert"],
                                                        metric_names(rule["expr"]) - defined)
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]


def test_a_process_without_controllers_serves_none_of_the_scrape_time_families() -> None:
    # The REST API imports this module (through kube.wire) but runs no queue or controller.
    code = ("import hybridcloud.api.app; from prometheus_client import REGISTRY; "
            "print(sorted(f.name for f in REGISTRY.collect()))")
    answer = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=120)
    for family in ("workqueue_depth", "hybridcloud_clusters", "hybridcloud_applications"):
        assert f"'{family}'" not in answer.stdout, family


def test_the_chart_serves_operator_metrics_on_the_pod_network_to_listed_scrapers_only(
        bin_dir: Path) -> None:
    def render(*values: str) -> list[dict[str, Any]]:
        answer = subprocess.run(
            [str(bin_dir / "helm"), "template", "hybridcloud", str(CHART), "-n", "hc-system",
             *values], capture_output=True, text=True, timeout=60, check=False)
        assert answer.returncode == 0, answer.stderr
        return [doc for doc in yaml.safe_load_all(answer.stdout) if doc]

    def operator(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
        [found] = [o for o in objects
                   if o["kind"] == kind and o["metadata"]["name"] == "hybridcloud-operator"]
        return found

    objects = render()
    container = operator(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert (env["HYBRIDCLOUD_OPERATOR_METRICS_PORT"], env["HYBRIDCLOUD_OPERATOR_METRICS_HOST"]) \
        == ("8081", "0.0.0.0")  # noqa: S104  (the pod network; the NetworkPolicy admits)
    assert {"name": "metrics", "containerPort": 8081, "protocol": "TCP"} in container["ports"]
    assert "ingress" not in operator(objects, "NetworkPolicy")["spec"]  # no scrapers listed
    scraper = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    scraped = render("--set-json", f"networkPolicy.metricsFrom=[{json.dumps(scraper)}]")
    assert operator(scraped, "NetworkPolicy")["spec"]["ingress"] == [
        {"ports": [{"port": "metrics", "protocol": "TCP"}], "from": [scraper]}]


async def test_metrics_are_served_over_http_and_a_taken_port_leaves_the_operator_running(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import socket

    import httpx
    import kopf

    from hybridcloud.controllers import metrics as server

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    taken = holder.getsockname()[1]
    try:
        monkeypatch.setenv("HYBRIDCLOUD_OPERATOR_METRICS_PORT", str(taken))
        memo = kopf.Memo()
        await server.start_metrics(memo=memo)  # must not raise: reconciling goes on
        assert "metrics_server" not in memo
        assert f"cannot serve metrics on 127.0.0.1:{taken}" in caplog.text
    finally:
        holder.close()
    monkeypatch.setenv("HYBRIDCLOUD_OPERATOR_METRICS_PORT", str(taken))  # free again now
    memo = kopf.Memo()
    await server.start_metrics(memo=memo)
    try:
        async with httpx.AsyncClient() as client:
            answer = await client.get(f"http://127.0.0.1:{taken}/metrics")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == CONTENT_TYPE_LATEST  # as the API serves it
        assert "# TYPE controller_runtime_reconcile_total counter" in answer.text
        assert "# TYPE hybridcloud_clusters gauge" in answer.text
    finally:
        await server.stop_metrics(memo=memo)


async def test_adds_while_a_key_is_processed_count_once_as_client_go_dedupes_them() -> None:
    name = unique("dirty")
    release = asyncio.Event()
    passes: list[str] = []

    async def reconcile(key: str) -> float | None:
        passes.append(key)
        if len(passes) == 1:
            await release.wait()
        return None

    queue: WorkQueue[str] = WorkQueue(reconcile, workers=1, name=name)
    queue.add("a")
    queue.start()
    await until(lambda: bool(passes))
    for _ in range(5):
        queue.add("a")  # watch events while the first pass runs
    release.set()
    await until(lambda: len(passes) == 2)
    await queue.stop()
    assert sample("workqueue_adds_total", name=name) == 2  # the first add and one rerun

"""POST /v1/logs/query end to end: two `local` member clusters (kwok serving container logs from
files), the operator's shipper pushing them and the members' Events into a real VictoriaLogs,
the REST API querying it. Also: a SIGKILLed shipper loses and duplicates nothing."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

from hybridcloud.api.settings import Settings, Tier
from hybridcloud.controlplane import ControlPlane
from hybridcloud.kube.resources import HybridClusterResource
from hybridcloud.observability.logsearch import format_ns, to_ns

from .api_support import bearer, identity, serve
from .harness import OperatorProcess, eventually, wait_phase
from .logs_support import (
    append_lines,
    logging_pod,
    member_client,
    minutes_ago,
    pod_running,
    stamp,
    stored,
    victorialogs,
)
from .test_api_contract import assert_error

pytestmark = pytest.mark.integration
BASE = minutes_ago(10)


def at(seconds: float) -> datetime:
    return BASE + timedelta(seconds=seconds)


def shown(moment: datetime) -> str:
    """How the API spells a timestamp: whole seconds bare, else nine fractional digits."""
    return format_ns(to_ns(moment))


# (cluster, namespace, pod, container) → lines with known timestamps and levels.
FIXTURE_LINES: dict[tuple[str, str, str, str], list[tuple[datetime, str]]] = {
    ("east", "production", "api-1", "api"): [
        (at(0), "INFO starting api"),
        (at(1), '{"level":"error","msg":"Failed to connect to database"}'),
        (at(2), 'level=warn msg="slow query"'),
        (at(3), "ERROR connection refused by db-primary"),
        (at(4), "DEBUG tick"),
    ],
    ("east", "staging", "api-1", "api"): [(at(5), "ERROR staging broke")],
    ("west", "production", "worker-7", "worker"): [
        (at(6), "ERROR job 42 failed"),
        (at(7), "INFO job 43 done"),
    ],
}
WINDOW = {"start_time": stamp(at(-60)), "end_time": stamp(at(60))}


@pytest.fixture(scope="module")
def tenant(kube: Client) -> Iterator[str]:
    name = f"logs-{int(time.time()) % 100000}"
    kube.create(Namespace(metadata=ObjectMeta(name=name)))
    yield name
    kube.delete(Namespace, name)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with victorialogs(tmp_path_factory.mktemp("victorialogs")) as url:
        yield url


@pytest.fixture(scope="module")
def operator(management: ControlPlane, tenant: str, store: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    process = OperatorProcess(management.kubeconfig, tenant, tmp_path_factory.mktemp("operator"),
                              env={"HYBRIDCLOUD_OPERATOR_LOGS_URL": store,
                                   "HYBRIDCLOUD_OPERATOR_LOGS_INTERVAL": "0.5",
                                   # Small reads: backlogs take several polls.
                                   "HYBRIDCLOUD_OPERATOR_LOGS_MAX_BYTES": "4096"})
    process.start()
    yield process
    process.close()


@pytest.fixture(scope="module")
def members(kube: Client, tenant: str, operator: OperatorProcess,
            tmp_path_factory: pytest.TempPathFactory) -> dict[str, Client]:
    for name in ("east", "west"):
        kube.create(HybridClusterResource.from_dict({
            "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
            "metadata": {"name": name},
            "spec": {"provider": "local", "version": "v1.37.2",
                     "nodeGroups": [{"name": "workers", "size": 1}]}}), namespace=tenant)
    clients = {}
    files = tmp_path_factory.mktemp("podlogs")
    for name in ("east", "west"):
        wait_phase(kube, tenant, name, "Active", operator)
        clients[name] = member_client(kube, tenant, name)
    for (cluster, namespace, pod, container), lines in FIXTURE_LINES.items():
        logfile = files / f"{cluster}-{namespace}-{pod}.log"
        append_lines(logfile, lines)
        logging_pod(clients[cluster], namespace, pod, container, logfile)
    for (cluster, namespace, pod, _), _lines in FIXTURE_LINES.items():
        eventually(lambda c=cluster, n=namespace, p=pod: pod_running(clients[c], n, p),
                   timeout=60)
    return clients


@pytest.fixture(scope="module")
def api(management: ControlPlane, store: str) -> Iterator[str]:
    settings = Settings(kubeconfig=str(management.kubeconfig), default_tier=Tier.ENTERPRISE,
                        oauth_namespace="api-logs-oauth", logs_url=store, logs_max_limit=500)
    with serve(settings) as base:
        yield base


@pytest.fixture(scope="module")
def http(api: str, kube: Client, tenant: str, members: dict[str, Client],
         store: str) -> Iterator[httpx.Client]:
    token = identity(kube, tenant, "reader")
    expected = sum(len(lines) for lines in FIXTURE_LINES.values())
    eventually(lambda: len(stored(store, f'tenant:="{tenant}" AND source:="application"'))
               >= expected, timeout=90)
    with httpx.Client(base_url=api, headers=bearer(token), timeout=30) as client:
        yield client


def query(http: httpx.Client, text: str, **extra: Any) -> dict[str, Any]:
    response = http.post("/v1/logs/query", json={"query": text, **WINDOW, **extra})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def messages(body: dict[str, Any]) -> list[str]:
    return [entry["message"] for entry in body["logs"]]


def test_contract_example_returns_exactly_the_error_lines_of_production_newest_first(
        http: httpx.Client) -> None:
    body = query(http, "level:error AND namespace:production", limit=100,
                 sort="timestamp:desc")
    assert body["total"] == 3
    assert body["took"].endswith("ms")
    assert body["logs"] == [
        {"timestamp": shown(at(6)), "level": "error", "message": "ERROR job 42 failed",
         "namespace": "production", "pod": "worker-7", "container": "worker",
         "source": "application", "cluster": "west"},
        {"timestamp": shown(at(3)), "level": "error",
         "message": "ERROR connection refused by db-primary", "namespace": "production",
         "pod": "api-1", "container": "api", "source": "application", "cluster": "east"},
        {"timestamp": shown(at(1)), "level": "error",
         "message": '{"level":"error","msg":"Failed to connect to database"}',
         "namespace": "production", "pod": "api-1", "container": "api",
         "source": "application", "cluster": "east"},
    ]
    assert body["next_cursor"] is None


@pytest.mark.parametrize(("text", "expected"), [
    ("pod:worker-7 OR namespace:staging",
     ["INFO job 43 done", "ERROR job 42 failed", "ERROR staging broke"]),
    ("namespace:production AND NOT level:error",
     ["INFO job 43 done", "DEBUG tick", 'level=warn msg="slow query"', "INFO starting api"]),
    ('"connection refused"', ["ERROR connection refused by db-primary"]),
    ("pod:work* AND (level:info OR level:warning)", ["INFO job 43 done"]),
    ("cluster:east AND level:warning", ['level=warn msg="slow query"']),
    ("source:application AND job", ["INFO job 43 done", "ERROR job 42 failed"]),
])
def test_boolean_phrase_and_wildcard_queries(http: httpx.Client, text: str,
                                             expected: list[str]) -> None:
    body = query(http, text + " AND source:application")
    assert messages(body) == expected
    assert body["total"] == len(expected)


def test_pages_follow_the_cursor_without_gaps_or_repeats(http: httpx.Client) -> None:
    everything = query(http, "namespace:production", limit=100, sort="timestamp:asc")
    assert everything["total"] == 7
    pages, cursor = [], None
    while True:
        body = query(http, "namespace:production", limit=2, sort="timestamp:asc",
                     **({"cursor": cursor} if cursor else {}))
        assert body["total"] == 7
        pages.append(messages(body))
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert [len(page) for page in pages] == [2, 2, 2, 1]
    assert [m for page in pages for m in page] == messages(everything)


def test_a_cursor_of_another_query_is_refused(http: httpx.Client) -> None:
    cursor = query(http, "namespace:production", limit=2)["next_cursor"]
    response = http.post("/v1/logs/query", json={"query": "namespace:staging", **WINDOW,
                                                 "cursor": cursor})
    assert assert_error(response, 400, "INVALID_REQUEST")["field"] == "cursor"


def test_member_events_are_shipped_with_source_event(http: httpx.Client) -> None:
    body = eventually(lambda: (b := query(http, "source:event AND pod:api-1",
                                          start_time=stamp(datetime.now(UTC)
                                                           - timedelta(hours=1)),
                                          end_time=stamp(datetime.now(UTC)
                                                         + timedelta(minutes=1))))["total"]
                      and b, timeout=60)
    assert {e["source"] for e in body["logs"]} == {"event"}
    assert any("Scheduled" in e["message"] for e in body["logs"])


def test_a_second_tenant_sees_none_of_them(http: httpx.Client, api: str, kube: Client,
                                           tenant: str) -> None:
    other = f"{tenant}-b"
    kube.apply(Namespace(metadata=ObjectMeta(name=other)))
    token = identity(kube, other, "reader")
    with httpx.Client(base_url=api, headers=bearer(token), timeout=30) as client:
        for text in ("namespace:production", "level:*", "pod:*", "cluster:east"):
            body = client.post("/v1/logs/query", json={"query": text, **WINDOW}).json()
            assert body["logs"] == [] and body["total"] == 0, text
        response = client.post("/v1/logs/query", params={"namespace": tenant},
                               json={"query": "level:error", **WINDOW})
        assert_error(response, 403, "FORBIDDEN")


def test_bad_input_gets_a_400_naming_the_problem(http: httpx.Client) -> None:
    response = http.post("/v1/logs/query", json={"query": "level:error AND (pod:a", **WINDOW})
    details = assert_error(response, 400, "INVALID_REQUEST")
    assert details == {"field": "query", "position": 23}
    assert "position 23" in response.json()["error"]["message"]
    response = http.post("/v1/logs/query", json={"query": "level:error",
                                                 "start_time": WINDOW["end_time"],
                                                 "end_time": WINDOW["start_time"]})
    assert assert_error(response, 400, "INVALID_REQUEST")["field"] == "end_time"
    response = http.post("/v1/logs/query", json={"query": "level:error", "limit": 501})
    assert assert_error(response, 400, "INVALID_REQUEST") == {"field": "limit", "maximum": 500}
    response = http.post("/v1/logs/query", json={"query": "level:error", "sort": "pod:asc"})
    assert assert_error(response, 400, "INVALID_REQUEST")["field"] == "sort"


def test_a_store_that_is_down_is_a_503(management: ControlPlane, kube: Client,
                                       tenant: str) -> None:
    from hybridcloud.controlplane._net import free_ports
    settings = Settings(kubeconfig=str(management.kubeconfig), default_tier=Tier.ENTERPRISE,
                        oauth_namespace="api-logs-oauth",
                        logs_url=f"http://127.0.0.1:{free_ports(1)[0]}")
    token = identity(kube, tenant, "reader")
    with serve(settings) as base:
        response = httpx.post(f"{base}/v1/logs/query", headers=bearer(token),
                              json={"query": "level:error", **WINDOW}, timeout=30)
    assert_error(response, 503, "SERVICE_UNAVAILABLE")


def test_shipper_killed_mid_stream_loses_and_duplicates_nothing(
        http: httpx.Client, members: dict[str, Client], operator: OperatorProcess, store: str,
        tenant: str, tmp_path: Path) -> None:
    logfile = tmp_path / "stream.log"
    logging_pod(members["east"], "load", "stream-1", "app", logfile)
    eventually(lambda: pod_running(members["east"], "load", "stream-1"), timeout=60)
    total, start = 1500, datetime.now(UTC).replace(microsecond=0)

    def write() -> None:
        for i in range(total):
            append_lines(logfile, [(start + timedelta(microseconds=i * 700), f"line {i:05d}")])
            if i % 50 == 0:
                time.sleep(0.05)

    scope = (f'tenant:="{tenant}" AND cluster:="east" AND pod:="stream-1" '
             'AND source:="application"')
    writer = threading.Thread(target=write)
    writer.start()
    kills = 0
    for _ in range(3):  # kill whenever some but not all lines are in the store
        eventually(lambda: 0 < len(stored(store, scope)) < total or not writer.is_alive(),
                   timeout=60)
        if len(stored(store, scope)) >= total:
            break
        operator.kill()
        kills += 1
        time.sleep(0.5)
        operator.start()
        time.sleep(3)
    writer.join()
    assert kills >= 1
    eventually(lambda: len(stored(store, scope)) >= total, timeout=120)
    time.sleep(3)  # a late duplicate would arrive within a few polls
    rows = stored(store, scope)
    counts = Counter(row["_msg"] for row in rows)
    duplicated = sorted(line for line, n in counts.items() if n > 1)
    missing = sorted({f"line {i:05d}" for i in range(total)} - set(counts))
    assert (duplicated, missing) == ([], []), f"{kills} kills; {operator.tail()}"
    assert len(rows) == total


def test_more_than_one_read_of_lines_within_one_second_all_arrive_once(
        http: httpx.Client, members: dict[str, Client], store: str, tenant: str,
        tmp_path: Path) -> None:
    # sinceTime has whole seconds: 2000 lines (~80 KB) in one second exceed a 4 KiB read.
    second = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    logfile = tmp_path / "burst.log"
    append_lines(logfile, [(second + timedelta(microseconds=i * 100), f"burst {i:05d}")
                           for i in range(2000)])
    logging_pod(members["west"], "burst", "burst-1", "app", logfile)
    scope = f'tenant:="{tenant}" AND pod:="burst-1" AND source:="application"'
    eventually(lambda: len(stored(store, scope)) >= 2000, timeout=120)
    counts = Counter(row["_msg"] for row in stored(store, scope))
    assert counts == Counter(f"burst {i:05d}" for i in range(2000))

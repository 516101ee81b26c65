"""The shipper's Event watch and its cursor ConfigMap, against a real member and VictoriaLogs.

Events are written on a `local` member through ``events.k8s.io/v1`` (the API the scheduler
and the newer controllers use: repetitions live in ``series``, times carry microseconds). The
operator watches them; the store must hold one line per occurrence, in the order they happened,
across a SIGKILL and a resourceVersion that expired meanwhile. Deleting the cluster removes its
cursor ConfigMap.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lightkube import Client
from lightkube.core.exceptions import ApiError
from lightkube.models.core_v1 import ObjectReference
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Secret
from lightkube.resources.events_v1 import Event

from hybridcloud.controlplane import ControlPlane
from hybridcloud.kube.member_credentials import platform_secret_name
from hybridcloud.kube.resources import HybridClusterResource
from hybridcloud.observability.cursors import EVENTS_VERSION_KEY
from hybridcloud.observability.logsearch import parse_rfc3339_ns, to_ns

from .api_support import PLATFORM_NAMESPACE
from .harness import (
    OperatorProcess,
    eventually,
    fresh_namespace,
    get_cluster,
    wait_gone,
    wait_phase,
)
from .logs_support import member_client, stored, victorialogs

pytestmark = pytest.mark.integration
CLUSTER = "evts"


@pytest.fixture(scope="module")
def tenant(kube: Client) -> Iterator[str]:
    with fresh_namespace(kube, "logev") as name:
        yield name


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with victorialogs(tmp_path_factory.mktemp("victorialogs")) as url:
        yield url


@pytest.fixture(scope="module")
def operator(management: ControlPlane, tenant: str, store: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    process = OperatorProcess(management.kubeconfig, tenant, tmp_path_factory.mktemp("operator"),
                              env={"HYBRIDCLOUD_OPERATOR_LOGS_URL": store,
                                   "HYBRIDCLOUD_OPERATOR_LOGS_INTERVAL": "0.5"})
    process.start()
    yield process
    process.close()


@pytest.fixture(scope="module")
def member(kube: Client, tenant: str, operator: OperatorProcess) -> Client:
    kube.create(HybridClusterResource.from_dict({
        "apiVersion": "platform.example.com/v1", "kind": "HybridCluster",
        "metadata": {"name": CLUSTER},
        "spec": {"provider": "local", "version": "v1.37.2",
                 "nodeGroups": [{"name": "workers", "size": 1}]}}), namespace=tenant)
    wait_phase(kube, tenant, CLUSTER, "Active", operator)
    return member_client(kube, tenant, CLUSTER)


def _event(name: str, when: datetime, note: str) -> Event:
    return Event(metadata=ObjectMeta(name=name, namespace="default"), eventTime=when,
                 reportingController="tests.example.com/probe", reportingInstance="probe-1",
                 action="Probe", reason="Probed", type="Normal", note=note,
                 regarding=ObjectReference(kind="Pod", name=f"pod-{name}", namespace="default",
                                           apiVersion="v1"))


def _lines(store: str, tenant: str, text: str = "") -> list[dict[str, Any]]:
    where = f' AND "{text}"' if text else ""
    rows = stored(store, f'tenant:="{tenant}" AND cluster:="{CLUSTER}" AND source:="event"'
                         f"{where}")
    return sorted(rows, key=lambda row: parse_rfc3339_ns(row["_time"]))


def _exactly(count: int, store: str, tenant: str, text: str) -> list[dict[str, Any]] | None:
    rows = _lines(store, tenant, text)
    return rows if len(rows) == count else None


def _no_duplicates(rows: list[dict[str, Any]]) -> None:
    counts = Counter((row["key"], row["event_count"], row["_time"]) for row in rows)
    assert [entry for entry, n in counts.items() if n > 1] == []


def test_a_series_update_ships_a_new_line(member: Client, store: str, tenant: str) -> None:
    first = datetime.now(UTC).replace(microsecond=120_001)
    member.create(_event("series-a", first, "series probe"))
    eventually(lambda: len(_lines(store, tenant, "series probe")) == 1, timeout=60)
    later = first + timedelta(seconds=2, microseconds=333)
    member.patch(Event, "series-a", {"series": {"count": 2, "lastObservedTime": later.strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")}}, namespace="default")
    rows = eventually(lambda: _exactly(2, store, tenant, "series probe"), timeout=60)
    assert [(row["event_count"], parse_rfc3339_ns(row["_time"])) for row in rows] == [
        ("1", to_ns(first)), ("2", to_ns(later))]


def test_sub_second_ordering_is_preserved(member: Client, store: str, tenant: str) -> None:
    second = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    # Created out of order; the store orders them by their microsecond event times.
    for name, micros in (("order-c", 900_003), ("order-a", 100_001), ("order-b", 500_002)):
        member.create(_event(name, second + timedelta(microseconds=micros), f"order {name}"))
    rows = eventually(lambda: _exactly(3, store, tenant, "order"), timeout=60)
    assert [row["_msg"] for row in rows] == [
        "Probed: order order-a", "Probed: order order-b", "Probed: order order-c"]
    assert [parse_rfc3339_ns(row["_time"]) for row in rows] == [
        to_ns(second) + micros * 1000 for micros in (100_001, 500_002, 900_003)]


def test_restart_with_an_expired_watch_version_resumes_without_duplicates(
        kube: Client, member: Client, operator: OperatorProcess, store: str,
        tenant: str) -> None:
    before = _lines(store, tenant)
    operator.kill()
    uid = get_cluster(kube, tenant, CLUSTER)["metadata"]["uid"]  # type: ignore[index]
    # The saved version is older than anything the apiserver still serves a watch from (410),
    # so the shipper has to list again and compare every Event with what it already shipped.
    kube.patch(ConfigMap, f"logship-{uid}", {"data": {EVENTS_VERSION_KEY: "1"}},
               namespace=PLATFORM_NAMESPACE)
    now = datetime.now(UTC)
    member.create(_event("after-restart", now, "after restart"))
    member.patch(Event, "series-a", {"series": {"count": 3, "lastObservedTime": (
        now + timedelta(microseconds=7)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}},
        namespace="default")
    operator.start()
    eventually(lambda: len(_lines(store, tenant, "after restart")) == 1
               and len(_lines(store, tenant, "series probe")) == 3, timeout=90,
               message=operator.tail)
    time.sleep(3)  # a late duplicate would arrive within a few polls
    rows = _lines(store, tenant)
    _no_duplicates(rows)
    # The member's own controllers may log Events meanwhile (RegisteredNode): count ours only.
    probes = [row for row in rows if row["_msg"].startswith("Probed:")]
    assert len(probes) == len([r for r in before if r["_msg"].startswith("Probed:")]) + 2


def test_deleting_a_cluster_removes_its_cursor_configmap(
        kube: Client, member: Client, operator: OperatorProcess, tenant: str) -> None:
    uid = get_cluster(kube, tenant, CLUSTER)["metadata"]["uid"]  # type: ignore[index]
    cursors = kube.get(ConfigMap, f"logship-{uid}", namespace=PLATFORM_NAMESPACE)
    owner = kube.get(Secret, platform_secret_name(uid), namespace=PLATFORM_NAMESPACE)
    assert [(o.kind, o.name, o.uid) for o in cursors.metadata.ownerReferences or []] == [  # type: ignore[union-attr]
        ("Secret", platform_secret_name(uid), owner.metadata.uid)]  # type: ignore[union-attr]
    kube.delete(HybridClusterResource, CLUSTER, namespace=tenant)
    wait_gone(kube, tenant, CLUSTER, operator)

    def cursor_gone() -> bool:
        try:
            kube.get(ConfigMap, f"logship-{uid}", namespace=PLATFORM_NAMESPACE)
        except ApiError as exc:
            return exc.status.code == 404
        return False

    eventually(cursor_gone, timeout=60, message=operator.tail)

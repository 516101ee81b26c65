"""Log queries are confined to the caller's tenant, whatever the query, cursor or namespace says.

Two tenants' lines sit in one real VictoriaLogs (written as the shipper writes them: the
``tenant`` field is the HybridCluster's namespace). The attacker is tenant B with a valid token.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

from hybridcloud.api.settings import Settings, Tier
from hybridcloud.controlplane import ControlPlane
from hybridcloud.observability.logsearch import format_ns, to_ns

from ..integration.api_support import bearer, identity, serve
from ..integration.logs_support import flush, victorialogs

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC).replace(microsecond=0)
WINDOW = {"start_time": format_ns(to_ns(NOW - timedelta(hours=1))),
          "end_time": format_ns(to_ns(NOW + timedelta(minutes=1)))}
SECRET_LINE = "ERROR victim's payroll export failed"


def record(tenant: str, seconds: int, message: str) -> dict[str, str]:
    return {"_time": format_ns(to_ns(NOW - timedelta(seconds=seconds))), "_msg": message,
            "tenant": tenant, "cluster": "prod", "namespace": "production", "pod": "api-1",
            "container": "api", "source": "application", "level": "error"}


@pytest.fixture(scope="module")
def tenants(kube: Client) -> Iterator[tuple[str, str]]:
    victim, attacker = f"victim-{uuid.uuid4().hex[:6]}", f"attacker-{uuid.uuid4().hex[:6]}"
    for name in (victim, attacker):
        kube.apply(Namespace(metadata=ObjectMeta(name=name)))
    yield victim, attacker
    for name in (victim, attacker):
        kube.delete(Namespace, name)


@pytest.fixture(scope="module")
def api(management: ControlPlane, tenants: tuple[str, str],
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    victim, attacker = tenants
    with victorialogs(tmp_path_factory.mktemp("vl-security")) as store:
        lines = [record(victim, 10, SECRET_LINE), record(victim, 20, "INFO victim ok"),
                 record(attacker, 30, "ERROR attacker's own line")]
        httpx.post(f"{store}/insert/jsonline", params={
            "_stream_fields": "tenant,cluster,namespace,pod,container,source",
            "_time_field": "_time", "_msg_field": "_msg"},
            content="\n".join(json.dumps(r) for r in lines).encode(),
            headers={"Content-Type": "application/json"}, timeout=10).raise_for_status()
        flush(store)
        settings = Settings(kubeconfig=str(management.kubeconfig), default_tier=Tier.ENTERPRISE,
                            oauth_namespace="api-logs-security", logs_url=store)
        with serve(settings) as base:
            yield base


@pytest.fixture(scope="module")
def as_attacker(api: str, kube: Client, tenants: tuple[str, str]) -> Iterator[httpx.Client]:
    token = identity(kube, tenants[1], "mallory")
    with httpx.Client(base_url=api, headers=bearer(token), timeout=30) as client:
        yield client


HOSTILE_QUERIES = [
    "*", "level:*", "pod:*", "cluster:prod",
    'pod:"x\\" OR tenant:* OR pod:\\"x"',
    "level:error) OR (level:error",
    'message:"a" | delete',
    "namespace:production OR NOT namespace:production",
    'tenant:"victim"', "_msg:payroll", "_stream:*", "payroll | stats count()",
    'message:"\\u0022 OR *"',
    "pod:*\" OR tenant:~\".*",
]


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
def test_hostile_queries_never_return_another_tenants_lines(as_attacker: httpx.Client,
                                                            query: str) -> None:
    response = as_attacker.post("/v1/logs/query", json={"query": query, **WINDOW})
    if response.status_code == 400:
        assert response.json()["error"]["details"]["field"] == "query"
        return
    assert response.status_code == 200, response.text
    body = response.json()
    assert all("victim" not in entry["message"] for entry in body["logs"]), body
    assert body["total"] <= 1


def test_a_tenant_cannot_query_another_namespace_it_has_no_rights_in(
        as_attacker: httpx.Client, tenants: tuple[str, str]) -> None:
    for how in ({"params": {"namespace": tenants[0]}},
                {"headers": {"X-Tenant-Namespace": tenants[0]}}):
        response = as_attacker.post("/v1/logs/query", json={"query": "payroll", **WINDOW},
                                    **how)  # type: ignore[arg-type]
        assert response.status_code == 403, response.text
        assert SECRET_LINE not in response.text


def test_a_forged_cursor_cannot_widen_the_query(as_attacker: httpx.Client) -> None:
    forged = base64.urlsafe_b64encode(json.dumps(
        {"t": 0, "k": 0, "d": "0" * 24}).encode()).decode().rstrip("=")
    response = as_attacker.post("/v1/logs/query", json={"query": "*", **WINDOW,
                                                        "cursor": forged})
    assert response.status_code == 400
    assert response.json()["error"]["details"]["field"] == "cursor"
    response = as_attacker.post("/v1/logs/query", json={"query": "*", **WINDOW,
                                                        "cursor": "!!not-base64!!"})
    assert response.status_code == 400

"""Property-based run of schemathesis against the live API's own OpenAPI document: no 5xx, every
response (errors included) conforms to the documented schema, status code and content type.

The run counts what it tested: it prints the cases generated per operation, and fails when an
operation got no case or was only ever answered 401, 403 or 429 -- then every case stopped at
authentication, authorization or the rate limit and nothing behind them was exercised.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

import httpx
import pytest
from lightkube import Client

from hybridcloud.api.settings import Settings, Tier
from hybridcloud.controlplane import ControlPlane

from ..observability_support import alertmanager, free_url, prometheus
from .api_support import bearer, eventually, identity, serve
from .logs_support import victorialogs
from .test_api_contract import CREATE_CLUSTER, DEPLOY_APPLICATION

pytestmark = pytest.mark.integration

CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_schema_conformance,response_headers_conformance,unsupported_method,"
          "allow_header_conformance")
MAX_EXAMPLES = 30
# Answers that prove only that a gate in front of the operation works.
GATE_STATUSES = frozenset({401, 403, 429})


def statuses_per_operation(ndjson_lines: Iterable[str]) -> dict[str, Counter[int]]:
    """Operation label ("GET /v1/clusters") → how often each status code answered its cases,
    from schemathesis' NDJSON event stream (one ``ScenarioFinished`` per operation and phase).

    A case without a response (a transport error) counts under status 0.
    """
    found: dict[str, Counter[int]] = defaultdict(Counter)
    for line in ndjson_lines:
        event = json.loads(line).get("ScenarioFinished")
        if event is None:
            continue
        recorder = event["recorder"]
        interactions = recorder.get("interactions", {})
        for case_id in recorder.get("cases", {}):
            response = (interactions.get(case_id) or {}).get("response") or {}
            found[recorder["label"]][int(response.get("status_code", 0))] += 1
    return dict(found)


def untested_operations(operations: Iterable[str],
                        statuses: dict[str, Counter[int]]) -> dict[str, str]:
    """Operations the run did not get past the gates of, with the reason."""
    problems = {}
    for label in operations:
        seen = statuses.get(label, Counter())
        if not seen:
            problems[label] = "no case generated"
        elif set(seen) <= GATE_STATUSES:
            problems[label] = f"only answered {dict(sorted(seen.items()))}"
    return problems


def documented_operations(openapi: dict[str, object]) -> list[str]:
    paths = openapi["paths"]
    assert isinstance(paths, dict)
    return sorted(f"{method.upper()} {path}" for path, item in paths.items() for method in item)


def test_counting_flags_operations_answered_only_by_auth_or_rate_limit() -> None:
    def finished(label: str, *statuses: int | None) -> str:
        cases: dict[str, dict[str, str]] = {f"{label}-{n}": {} for n in range(len(statuses))}
        interactions = {case: {"response": None if status is None else {"status_code": status}}
                        for case, status in zip(cases, statuses, strict=True)}
        return json.dumps({"ScenarioFinished": {"label": label, "recorder": {
            "label": label, "cases": cases, "interactions": interactions}}})

    lines = [json.dumps({"EngineStarted": {}}),
             finished("GET /v1/clusters", 200, 403), finished("GET /v1/clusters", 400),
             finished("POST /v1/clusters", 401, 403, 429), finished("GET /v1/x", None)]
    statuses = statuses_per_operation(lines)
    assert statuses["GET /v1/clusters"] == Counter({200: 1, 403: 1, 400: 1})
    operations = ["GET /v1/clusters", "POST /v1/clusters", "GET /v1/x", "DELETE /v1/y"]
    assert untested_operations(operations, statuses) == {
        "POST /v1/clusters": "only answered {401: 1, 403: 1, 429: 1}",
        "DELETE /v1/y": "no case generated"}


@pytest.fixture(scope="module")
def api(management: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # A real log store, so POST /v1/logs/query answers queries rather than 503 (issue 15).
    # A real Prometheus and Alertmanager too, so the metrics and alert routes answer rather than
    # 503 (issue 14). Nothing needs scraping here: discovery points at a closed port.
    work = tmp_path_factory.mktemp("fuzz-observability")
    with victorialogs(tmp_path_factory.mktemp("fuzz-logs")) as logs_url, \
            alertmanager(work / "alertmanager") as alertmanager_url, \
            prometheus(work / "prometheus", f"{free_url()}/targets", "unused",
                       alertmanager_url=alertmanager_url) as prometheus_url:
        settings = Settings(kubeconfig=str(management.kubeconfig), default_tier=Tier.ENTERPRISE,
                            oauth_namespace="api-fuzz-oauth", consistency_timeout=1,
                            rate_limit_enabled=False, logs_url=logs_url,
                            prometheus_url=prometheus_url, alertmanager_url=alertmanager_url)
        with serve(settings) as base:
            yield base


def test_schemathesis_finds_no_server_errors_or_schema_violations(
        api: str, kube: Client, namespace: str, tmp_path: Path) -> None:
    token = identity(kube, namespace, "fuzzer")
    with httpx.Client(base_url=api, headers=bearer(token), timeout=30) as http:
        # The RoleBinding takes effect once the apiserver's RBAC has seen it (slower on a loaded
        # machine): fuzzing before would only meet 403s.
        eventually(lambda: http.get("/v1/clusters").status_code == 200 or None, timeout=60,
                   interval=0.5)
        # Give generated requests something to find besides 404s.
        http.post("/v1/clusters", json={**CREATE_CLUSTER, "name": "fuzz"})
        http.post("/v1/clusters/fuzz/applications", json=DEPLOY_APPLICATION)
    # The cluster stays Pending: workloads answer 409 instead of the (documented, tested in
    # test_api_workloads) 503 of an active cluster without a reachable member, which ST101 flags.
    events = tmp_path / "events.ndjson"
    command = [sys.executable, "-m", "schemathesis.cli", "run", f"{api}/openapi.json",
               "--checks", CHECKS, "--max-examples", str(MAX_EXAMPLES), "--seed", "1",
               "--header", f"Authorization: Bearer {token}", "--workers", "1",
               "--phases", "examples,coverage,fuzzing", "--no-shrink",
               "--report", "junit,ndjson", "--report-junit-path", str(tmp_path / "junit.xml"),
               "--report-ndjson-path", str(events),
               "--suppress-health-check", "all", "--max-time", "180"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    output = result.stdout + result.stderr
    cases = sum(int(n) for n in re.findall(r"(\d+) generated", output))
    statuses = statuses_per_operation(events.read_text().splitlines())
    operations = documented_operations(httpx.get(f"{api}/openapi.json").json())
    # Recorded in the test log (pytest -s shows it): what each operation was tested with.
    print(json.dumps({"returncode": result.returncode, "test_cases": cases}))
    for label in operations:
        seen = statuses.get(label, Counter())
        print(f"{label:<60} {sum(seen.values()):>5} cases  {dict(sorted(seen.items()))}")
    assert result.returncode == 0, output[-6000:]
    assert cases >= 100, output[-3000:]
    assert not untested_operations(operations, statuses), untested_operations(operations,
                                                                             statuses)

"""Pure parts of metrics and alerting: printing a scoped PromQL AST, annotation templates, rule
IDs and PrometheusRule shapes, metrics request parameters."""

from __future__ import annotations

from typing import Any

import pytest

from hybridcloud.api.errors import APIError
from hybridcloud.api.routes.metrics import chosen_metrics, parse_duration, rfc3339, time_range
from hybridcloud.observability import rules
from hybridcloud.observability.prometheus import QueryRejectedError
from hybridcloud.observability.promql import UnsupportedExpressionError, confined, render
from hybridcloud.observability.templates import template_problem

SCOPE = {"tenant": "acme"}


def selector(name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "vectorSelector", "name": name, "offset": 0, "timestamp": None,
            "startOrEnd": None, "matchers": [{"name": "__name__", "type": "=", "value": name}],
            **extra}


def test_every_selector_gets_the_scope_matcher_and_quoted_values() -> None:
    hostile = selector("up")
    hostile["matchers"].append({"name": "job", "type": "=~", "value": 'a"} or {x=~".+'})
    ast = {"type": "binaryExpr", "op": "or", "bool": False,
           "lhs": hostile, "rhs": {"type": "aggregation", "op": "sum", "without": False,
                                   "grouping": ["cluster"], "param": None,
                                   "expr": selector("down")},
           "matching": {"card": "many-to-many", "labels": [], "on": False, "include": []}}
    text = render(ast, SCOPE)
    assert text == ('({__name__="up",job=~"a\\"} or {x=~\\".+",tenant="acme"}) or '
                    '(sum by (cluster) ({__name__="down",tenant="acme"}))')


def test_ranges_offsets_subqueries_and_at_are_kept() -> None:
    matrix = {**selector("x"), "type": "matrixSelector", "range": 300_000, "offset": 60_000}
    call = {"type": "call", "func": {"name": "rate"}, "args": [matrix]}
    sub = {"type": "subquery", "expr": call, "range": 3_600_000, "step": 0, "offset": 0,
           "timestamp": None, "startOrEnd": "end"}
    assert render(sub, SCOPE) == \
        '(rate({__name__="x",tenant="acme"}[300000ms] offset 60000ms))[3600000ms:] @ end()'


def test_duration_arithmetic_is_refused_rather_than_printed_wrong() -> None:
    with pytest.raises(UnsupportedExpressionError):
        render({**selector("x"), "offsetExpr": {"type": "durationExpr"}}, SCOPE)


def test_confined_needs_the_scope_on_every_selector() -> None:
    scoped = {**selector("a")}
    scoped["matchers"] = [*scoped["matchers"], {"name": "tenant", "type": "=", "value": "acme"}]
    loose = {"type": "binaryExpr", "lhs": scoped, "rhs": selector("b")}
    assert confined(scoped, SCOPE)
    assert not confined(loose, SCOPE)


@pytest.mark.parametrize("text", ["{{ $value }} errors", "{{ $labels.pod | humanize }}", "plain"])
def test_plain_placeholders_are_allowed(text: str) -> None:
    assert template_problem(text) is None


@pytest.mark.parametrize("text", ['{{ query "up" }}', "{{ $value }}{{ printf }}", "{{",
                                  "}}", '{{ $labels.x | query }}'])
def test_other_template_actions_are_refused(text: str) -> None:
    assert template_problem(text)


def test_rule_ids_are_dns_names_and_views_round_trip() -> None:
    assert rules.rule_id("HighCPUUsage") == "high-cpuusage"
    assert rules.rule_id("DatabaseConnectionFailure") == "database-connection-failure"
    body = {"name": "DatabaseConnectionFailure", "description": "db down",
            "expression": "x > 1", "duration": "2m", "severity": "critical",
            "labels": {"team": "backend"}, "annotations": {"summary": "s"}}
    obj = rules.manifest("acme", "database-connection-failure", body)
    obj["metadata"]["creationTimestamp"] = "2025-08-17T10:00:00Z"
    view = rules.view(obj)
    assert {k: view[k] for k in body} == body
    # The rule's description and an annotation called description are both kept.
    both = rules.view(rules.manifest("acme", "x", {**body, "annotations": {"description": "a"}}))
    assert (both["description"], both["annotations"]) == ("db down", {"description": "a"})


def test_loaded_rules_always_carry_tenant_and_rule_labels() -> None:
    rule = {"alert": "A", "expr": "x", "labels": {"tenant": "other", "severity": "info"}}
    loaded = rules.tenant_rule(rule, 'x{tenant="acme"}', "tenant", "acme", "a")
    assert loaded["labels"] == {"tenant": "acme", "severity": "info", "alert_rule_id": "a"}


def test_metrics_parameters_are_checked_naming_the_parameter() -> None:
    assert parse_duration("1h30m", "step") == 5400
    assert parse_duration("15", "step") == 15
    for bad in ("", "5 minutes", "-1s", "0", "nan", "inf"):
        with pytest.raises(APIError) as caught:
            parse_duration(bad, "step")
        assert caught.value.details["field"] == "step"
    since, until, step = time_range("2025-08-17T10:00:00Z", "2025-08-17T11:00:00Z", "15s", 11_000)
    assert (until - since, step) == (3600, 15)
    with pytest.raises(APIError) as caught:
        time_range("2025-08-17T10:00:00Z", "2025-08-18T10:00:00Z", "1s", 11_000)
    assert caught.value.details["field"] == "step"
    assert time_range(None, None, None, 10)[2] == 400  # widened to stay within 10 points
    assert chosen_metrics(None) == ["cpu_usage", "memory_usage", "pods"]
    with pytest.raises(APIError) as caught:
        chosen_metrics("cpu_usage,bogus")
    assert caught.value.details["field"] == "metrics"


def test_parse_error_position_is_taken_from_prometheus_message() -> None:
    error = QueryRejectedError('invalid parameter "query": 1:16: parse error: unclosed left '
                               "parenthesis")
    assert error.position == "1:16"
    assert QueryRejectedError("something else").position is None


def test_sample_times_are_rfc3339_utc() -> None:
    assert rfc3339(1755424800.0) == "2025-08-17T10:00:00Z"
    assert rfc3339(1755424800.25) == "2025-08-17T10:00:00.250Z"

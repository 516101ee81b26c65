"""Alert rules as ``PrometheusRule`` objects (``monitoring.coreos.com/v1``, the
prometheus-operator convention, so GitOps repositories and existing tooling keep working).

One REST alert rule is one PrometheusRule with one group holding one alerting rule; its ID is the
object's name. The stored expression is the tenant's own text; the platform confines it to the
tenant's series only when it loads it into the evaluator (``tenant_rule``), and forces the
tenant label onto every alert it produces, so neither the expression (``label_replace``) nor the
rule's labels can make an alert appear in another tenant's list.
"""

from __future__ import annotations

import re
from typing import Any

GROUP = "monitoring.coreos.com"
VERSION = "v1"
KIND = "PrometheusRule"
PLURAL = "prometheusrules"
RULE_LABEL = "platform.example.com/alert-rule"
RULE_ID_LABEL = "alert_rule_id"
DESCRIPTION = "description"

_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_DNS = re.compile(r"[^a-z0-9-]+")


def rule_id(name: str) -> str:
    """The object name of the rule called ``name``: ``HighCPUUsage`` → ``high-cpuusage``."""
    slug = _NOT_DNS.sub("-", _HUMP.sub("-", name).lower()).strip("-")
    return slug[:63].rstrip("-")


def manifest(namespace: str, identifier: str, body: dict[str, Any]) -> dict[str, Any]:
    """The PrometheusRule for a REST rule body (already validated)."""
    rule: dict[str, Any] = {
        "alert": body["name"], "expr": body["expression"],
        "labels": {**(body.get("labels") or {}), "severity": body["severity"]},
        "annotations": {**(body.get("annotations") or {})}}
    if body.get("description"):
        rule["annotations"].setdefault(DESCRIPTION, body["description"])
    if body.get("duration"):
        rule["for"] = body["duration"]
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": KIND,
        "metadata": {"name": identifier, "namespace": namespace,
                     "labels": {RULE_LABEL: "true",
                                "app.kubernetes.io/managed-by": "hybridcloud"}},
        "spec": {"groups": [{"name": identifier, "rules": [rule]}]}}


def alerting_rules(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for group in (obj.get("spec") or {}).get("groups") or []
            for rule in group.get("rules") or [] if isinstance(rule, dict) and "alert" in rule]


def view(obj: dict[str, Any]) -> dict[str, Any]:
    """The REST shape of a stored rule (the contract's request body plus ``id``)."""
    rules = alerting_rules(obj)
    rule = rules[0] if rules else {}
    labels = dict(rule.get("labels") or {})
    severity = labels.pop("severity", "")
    annotations = dict(rule.get("annotations") or {})
    return {"id": obj["metadata"]["name"], "name": rule.get("alert", ""),
            "description": annotations.get(DESCRIPTION, ""),
            "expression": rule.get("expr", ""), "duration": rule.get("for"),
            "severity": severity, "labels": labels, "annotations": annotations,
            "created_at": obj["metadata"].get("creationTimestamp")}


def tenant_rule(rule: dict[str, Any], scoped_expression: str, tenant_label: str,
                namespace: str, identifier: str) -> dict[str, Any]:
    """A stored alerting rule as loaded into Prometheus: the confined expression, and labels
    that always name the tenant and the rule (set last, so nothing can override them)."""
    loaded: dict[str, Any] = {
        "alert": str(rule["alert"]), "expr": scoped_expression,
        "labels": {**{str(k): str(v) for k, v in (rule.get("labels") or {}).items()},
                   tenant_label: namespace, RULE_ID_LABEL: identifier},
        "annotations": {str(k): str(v) for k, v in (rule.get("annotations") or {}).items()}}
    if rule.get("for"):
        loaded["for"] = str(rule["for"])
    return loaded

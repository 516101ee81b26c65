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

from .templates import template_problem

GROUP = "monitoring.coreos.com"
VERSION = "v1"
KIND = "PrometheusRule"
PLURAL = "prometheusrules"
RULE_LABEL = "platform.example.com/alert-rule"
RULE_ID_LABEL = "alert_rule_id"
DESCRIPTION = "platform.example.com/description"  # object annotation: the rule's description

ALERT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
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
    if body.get("duration"):
        rule["for"] = body["duration"]
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": KIND,
        "metadata": {"name": identifier, "namespace": namespace,
                     "annotations": {DESCRIPTION: body.get("description") or ""},
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
    labels = {str(k): str(v) for k, v in (rule.get("labels") or {}).items()}
    severity = labels.pop("severity", "")
    annotations = {str(k): str(v) for k, v in (rule.get("annotations") or {}).items()}
    described = (obj["metadata"].get("annotations") or {}).get(DESCRIPTION, "")
    return {"id": obj["metadata"]["name"], "name": str(rule.get("alert", "")),
            "description": described, "expression": str(rule.get("expr", "")),
            "duration": None if rule.get("for") is None else str(rule["for"]),
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


def rule_problem(rule: dict[str, Any], reserved: set[str]) -> str | None:
    """Why a stored alerting rule must not be loaded (whoever wrote it: REST or kubectl), or
    None. Prometheus refuses a whole reload for one bad rule, so each is checked first."""
    if not ALERT_NAME.match(str(rule.get("alert", ""))):
        return "alert: not a valid alert name"
    if rule.get("for") is not None and not DURATION.match(str(rule["for"])):
        return "for: not a duration"
    labels = rule.get("labels") or {}
    annotations = rule.get("annotations") or {}
    if not isinstance(labels, dict) or not isinstance(annotations, dict):
        return "labels and annotations must be maps"
    for name in labels:
        if not LABEL_NAME.match(str(name)) or name in reserved:
            return f"labels.{name}: not an allowed label name (reserved or invalid)"
    for name, text in annotations.items():
        if not LABEL_NAME.match(str(name)):
            return f"annotations.{name}: not a valid annotation name"
        problem = template_problem(str(text))
        if problem:
            return f"annotations.{name}: {problem}"
    return None

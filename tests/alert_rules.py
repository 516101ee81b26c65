"""The chart's default alert rules for the platform itself, and the metric names they read.

No PromQL parser is published on PyPI, so the rules are checked by what they depend on: every
metric name an expression reads must be one the operator defines (unit test) and serves after a
real reconcile (integration test); names from elsewhere are listed in ``EXTERNAL`` with their
source. Names are found by removing what is not a metric reference from the expression:
strings, label matchers, ranges, grouping clauses, function calls and keywords.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[1] / "charts" / "hybridcloud"
# Series the rules read that the operator does not export, and who does.
EXTERNAL = {
    "up": "Prometheus itself, per scrape target",
    "kube_deployment_status_replicas_available": "kube-state-metrics",
}
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
             "group_left", "group_right", "inf", "nan"}
_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*)(\s*\()?")


def metric_names(expr: str) -> set[str]:
    """The metric names ``expr`` selects."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    return {name for name, call in _IDENTIFIER.findall(text)
            if not call and name.lower() not in _KEYWORDS}


def balanced(expr: str) -> bool:
    """Brackets of every kind close in order (outside strings)."""
    stack: list[str] = []
    pairs = {")": "(", "]": "[", "}": "{"}
    for char in _STRING.sub('""', expr):
        if char in "([{":
            stack.append(char)
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            return False
    return not stack


def rendered_rules(helm: Path, *values: str) -> list[dict[str, Any]]:
    """Every rule of the chart's PrometheusRule with it (and the operator's) enabled."""
    answer = subprocess.run(
        [str(helm), "template", "hybridcloud", str(CHART), "--namespace", "hc-system",
         "--set", "metrics.prometheusRule.enabled=true", *values],
        capture_output=True, text=True, timeout=60, check=False)
    assert answer.returncode == 0, answer.stderr
    rules = [doc for doc in yaml.safe_load_all(answer.stdout)
             if doc and doc["kind"] == "PrometheusRule"]
    assert len(rules) == 1, "exactly one PrometheusRule"
    return [rule for group in rules[0]["spec"]["groups"] for rule in group["rules"]]

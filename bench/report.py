"""Benchmark results: a printed table and ``bench/results/latest.json``."""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass
class Result:
    name: str
    value: float | None
    unit: str
    baseline: float | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    target: str | None = None
    note: str | None = None  # e.g. why a case did not run

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def table(results: list[Result]) -> str:
    rows = [("case", "value", "unit", "baseline", "ratio", "target", "parameters")]
    for r in results:
        params = r.note or ", ".join(f"{k}={v}" for k, v in r.parameters.items()
                                     if not isinstance(v, dict))
        rows.append((r.name, _fmt(r.value), r.unit, _fmt(r.baseline),
                     f"{r.ratio:.2f}x" if r.ratio is not None else "-", r.target or "", params))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1]))
                     + "  " + row[-1])
    return "\n".join(lines)


def write(results: list[Result], path: Path, context: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "generated_at": datetime.now(UTC).isoformat(),
        "machine": {"python": platform.python_version(), "cpus": _cpus()},
        "context": context,
        "results": [{**asdict(r), "ratio": r.ratio} for r in results],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


# -- comparison with the previous run ------------------------------------------------------

def case_key(name: str, parameters: dict[str, Any]) -> str:
    """What identifies a case across runs: its name and its scalar parameters (the same name
    is measured at several sizes, e.g. ``idle_rss`` at 0, 1k and 5k clusters)."""
    scalars = [f"{k}={v}" for k, v in sorted(parameters.items())
               if isinstance(v, str | int | float | bool) and k != "baseline"]
    return name + (f" [{', '.join(scalars)}]" if scalars else "")


def load_previous(path: Path) -> dict[str, Any] | None:
    """The previous ``latest.json``, or None when there is none (or it is unreadable)."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def compare(previous: dict[str, Any], results: list[Result],
            groups: set[str] | None = None) -> str:
    """Per case: previous value, new value and the change, so regressions show at a glance.

    Cases are matched by :func:`case_key`; a case new in this run or gone since the last one
    says so. The change is relative (``+12.0%``); from or to zero it is the absolute step.
    With ``groups`` (the groups this run measured), previous entries of other groups are left
    out: they were not meant to run, and the results file keeps them."""
    names = {result.name for result in results}
    before: dict[str, float | None] = {}
    for entry in previous.get("results") or []:
        if isinstance(entry, dict) and "name" in entry:
            group = entry.get("group")  # None: written before entries named their group
            if groups is not None and group not in groups and not (
                    group is None and entry["name"] in names):
                continue
            before[case_key(str(entry["name"]), dict(entry.get("parameters") or {}))] = \
                entry.get("value")
    rows = [("case", "previous", "new", "change")]
    seen = set()
    for result in results:
        key = case_key(result.name, result.parameters)
        seen.add(key)
        if key not in before:
            rows.append((key, "-", _fmt(result.value), "new case"))
            continue
        rows.append((key, _fmt(before[key]), _fmt(result.value),
                     _change(before[key], result.value)))
    rows += [(key, _fmt(value), "-", "not run") for key, value in before.items()
             if key not in seen]
    width = [max(len(row[i]) for row in rows) for i in range(3)]
    when = previous.get("generated_at", "unknown time")
    return f"compared with the previous run ({when}):\n" + "\n".join(
        "  ".join(cell.ljust(width[i]) for i, cell in enumerate(row[:3])) + "  " + row[3]
        for row in rows)


def _change(old: float | None, new: float | None) -> str:
    if old is None or new is None:
        return "-" if old == new else "now measured" if old is None else "no longer measured"
    if old == new:
        return "="
    if old == 0:
        return f"{new - old:+.3g}"
    return f"{100 * (new - old) / abs(old):+.1f}%"

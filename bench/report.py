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

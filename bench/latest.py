"""``bench/results/latest.json`` accumulates figures across runs of different groups.

A run usually measures a few groups (``BENCH_ONLY``), and on this shared machine a full run
takes hours; so a run replaces the entries of the groups it measured and keeps every other
group's entries as they were. Each entry carries the run it came from (when, at which scale, on
which commit, under which load), because figures in one file may come from different runs.

A group that did not finish keeps its previous figures (they still say when they were taken)
next to this run's note saying why it failed: one failed run does not erase a measurement.
"""

from __future__ import annotations

import platform
import subprocess
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .report import Result

UNFINISHED = " (group)"  # the suffix of the entry a group that raised leaves (bench/__main__)


def commit_of(root: Path) -> str:
    """The commit the figures were measured on; ``+dirty`` when the tree had local changes
    (so a figure is never credited to a commit that did not contain the code measured).
    The results folder does not count: each run rewrites latest.json itself."""
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                "--untracked-files=no", "--", ".",
                                ":(exclude)bench/results"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def run_stamp(context: dict[str, Any], commit: str, now: datetime | None = None
              ) -> dict[str, Any]:
    """What each entry of this run records about the run."""
    return {"measured_at": (now or datetime.now(UTC)).isoformat(),
            "bench_scale": context.get("bench_scale"), "commit": commit,
            "load_average_before": context.get("load_average_before"),
            "load_average_after": context.get("load_average_after")}


def _entry(result: Result, group: str, stamp: dict[str, Any]) -> dict[str, Any]:
    return {**asdict(result), "ratio": result.ratio, "group": group, **stamp}


def _legacy_stamp(previous: dict[str, Any]) -> dict[str, Any]:
    """Entries written before runs were merged carry no stamp: they inherit their file's."""
    found = previous.get("context")
    context: dict[str, Any] = found if isinstance(found, dict) else {}
    return {"measured_at": previous.get("generated_at"),
            "bench_scale": context.get("bench_scale"), "commit": "unknown",
            "load_average_before": context.get("load_average_before"),
            "load_average_after": context.get("load_average_after")}


def merge(previous: dict[str, Any] | None, measured: dict[str, list[Result]],
          stamp: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """The new document: ``measured`` (group -> this run's results) replaces those groups'
    previous entries; other groups' entries are kept untouched.

    A previous entry without a group (the format before merging) belongs to the group that
    now produces a case of the same name, if this run measured it; otherwise it is kept."""
    finished = {group for group, results in measured.items()
                if not any(r.name == group + UNFINISHED for r in results)}
    names_of = {r.name: group for group, results in measured.items() for r in results}
    kept: list[dict[str, Any]] = []
    if previous is not None:
        legacy = _legacy_stamp(previous)
        for entry in previous.get("results") or []:
            if not isinstance(entry, dict) or "name" not in entry:
                continue
            group = entry.get("group") or names_of.get(str(entry["name"]))
            if group in finished:
                continue  # re-measured in this run
            if str(entry["name"]).endswith(UNFINISHED) and group in measured:
                continue  # an older failure note of a group this run tried again
            kept.append(entry if "group" in entry and "measured_at" in entry
                        else {**legacy, **entry, "group": group})
    new = [_entry(r, group, stamp) for group, results in measured.items() for r in results]
    runs = dict((previous or {}).get("runs") or {})
    for group in finished:
        runs[group] = {**stamp, **{k: v for k, v in context.items() if k not in stamp}}
    return {
        "generated_at": stamp["measured_at"],
        "machine": {"python": platform.python_version(), "cpus": _cpus()},
        "runs": dict(sorted(runs.items())),  # per group: the run its figures came from
        # grouped, and in measuring order within a group (sorted() is stable)
        "results": sorted(kept + new, key=lambda entry: str(entry.get("group"))),
    }


def _cpus() -> int:
    import os

    return os.cpu_count() or 0

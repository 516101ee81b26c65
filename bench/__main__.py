"""Run every benchmark case that can run, print the table, and update bench/results/latest.json:
the groups run replace their own entries there, every other group's entries are kept
(bench/latest.py), so figures from runs of different groups accumulate in one file.

    BENCH_SCALE=0.2 make bench    # shrink cluster counts and idle windows (default 1.0)
    BENCH_ONLY=api make bench      # one group: operator, api, delivery, health, logs, metrics,
                                   # webhooks, git, deliveryscale, fleet or mixed
                                   # (comma-separated for several)
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from . import (
    api_cases,
    delivery_cases,
    fleet_cases,
    fleet_delivery_cases,
    git_cases,  # commit to fleet, git fetch cost (issue 19)
    health_cases,
    logs_cases,
    metrics_cases,
    mixed_load_cases,
    operator_cases,
)
from .env import ROOT, bench_environment
from .latest import commit_of, merge, run_stamp
from .report import Result, compare, load_previous, table

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
GROUPS = ("operator", "api", "metrics", "delivery", "health", "logs", "webhooks", "git",
          "deliveryscale", "fleet", "mixed")  # git and the last three: issue 19


async def _run(scale: float, only: set[str]) -> dict[str, list[Result]]:
    """Each group's results (a group that raised has one entry saying so)."""
    measured: dict[str, list[Result]] = {}
    for group in [g for g in GROUPS if g in only]:  # one failing keeps the others' figures
        try:
            measured[group] = await _run_groups(scale, {group})
        except Exception as exc:
            traceback.print_exc()
            measured[group] = [Result(f"{group} (group)", None, "", note=f"did not finish: "
                                      f"{type(exc).__name__}: {str(exc)[:200]}")]
    return measured


async def _run_groups(scale: float, only: set[str]) -> list[Result]:
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="hybridcloud-bench-") as tmp:
        if "operator" in only:
            with bench_environment(Path(tmp) / "operator") as bench:
                results += await operator_cases.run(bench, scale)
        if "api" in only:
            with bench_environment(Path(tmp) / "api") as bench:
                results += await api_cases.run(bench, scale)
        if "metrics" in only:  # issue 14
            with bench_environment(Path(tmp) / "metrics") as bench:
                results += await metrics_cases.run(bench, scale)
        if "delivery" in only:
            results += await asyncio.to_thread(delivery_cases.run, Path(tmp) / "delivery", scale)
        if "health" in only:  # member-health probe cost (issue 21)
            results += await health_cases.run(scale)
        if "webhooks" in only:  # issue 17 (imported here: a line of its own in a shared file)
            from . import webhook_cases
            with bench_environment(Path(tmp) / "webhooks") as bench:
                results += await webhook_cases.run(bench, scale)
        if "logs" in only:  # issue 15
            results += await asyncio.to_thread(logs_cases.run, Path(tmp) / "logs", scale)
        if "git" in only:  # issue 19
            results += await git_cases.run(Path(tmp) / "git", scale)
        # issue 19: fleet scale
        if "deliveryscale" in only:
            results += await asyncio.to_thread(fleet_delivery_cases.run,
                                               Path(tmp) / "deliveryscale", scale)
        if "fleet" in only:
            with bench_environment(Path(tmp) / "fleet") as bench:
                results += await fleet_cases.run(bench, scale)
        if "mixed" in only:
            with bench_environment(Path(tmp) / "mixed") as bench:
                results += await mixed_load_cases.run(bench, scale)
    return results


def main() -> int:
    scale = float(os.environ.get("BENCH_SCALE", "1.0"))
    groups = set(GROUPS)
    only = set(filter(None, os.environ.get("BENCH_ONLY", "").split(","))) or groups
    if not only <= groups:
        print(f"BENCH_ONLY must name some of {sorted(groups)}", file=sys.stderr)
        return 2
    started = time.time()
    load_before = os.getloadavg()  # the machine is shared: figures need its load beside them
    commit = commit_of(ROOT)  # before the run: the code measured, not what was edited meanwhile
    print(f"hybridcloud benchmarks (BENCH_SCALE={scale}); apiserver: local, etcd "
          "--unsafe-no-fsync; ratios are against baselines measured in this run", flush=True)
    measured = asyncio.run(_run(scale, only))
    results = [r for group in measured.values() for r in group]
    elapsed = time.time() - started
    print()
    print(table(results))
    previous = load_previous(RESULTS)  # read before this run's results are merged into it
    if previous is not None:
        print()
        print(compare(previous, results, groups=set(measured)))
    load_after = os.getloadavg()
    print(f"\nload average (1, 5, 15 min): before {load_before}, after {load_after}")
    context = {"bench_scale": scale, "elapsed_s": round(elapsed, 1),
               "etcd": "--unsafe-no-fsync",
               "load_average_before": load_before, "load_average_after": load_after}
    document = merge(previous, measured, run_stamp(context, commit), context)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nupdated {', '.join(measured)} in {RESULTS} (other groups kept) "
          f"in {elapsed:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

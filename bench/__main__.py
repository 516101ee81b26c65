"""Run every benchmark case that can run, print the table, write bench/results/latest.json.

    BENCH_SCALE=0.2 make bench    # shrink cluster counts and idle windows (default 1.0)
    BENCH_ONLY=api make bench      # one group: operator, api, delivery, health, logs, metrics
                                   # or git
    BENCH_ONLY=webhooks make bench # webhook deliveries and the SSE stream (issue 17)
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from . import (
    api_cases,
    delivery_cases,
    git_cases,  # commit to fleet, git fetch cost (issue 19)
    health_cases,
    logs_cases,
    metrics_cases,
    operator_cases,
)
from .env import bench_environment
from .report import Result, table, write

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


async def _run(scale: float, only: set[str]) -> list[Result]:
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
    return results


def main() -> int:
    scale = float(os.environ.get("BENCH_SCALE", "1.0"))
    groups = {"operator", "api", "delivery", "health", "logs", "metrics", "webhooks", "git"}
    only = set(filter(None, os.environ.get("BENCH_ONLY", "").split(","))) or groups
    if not only <= groups:
        print(f"BENCH_ONLY must name some of {sorted(groups)}", file=sys.stderr)
        return 2
    started = time.time()
    print(f"hybridcloud benchmarks (BENCH_SCALE={scale}); apiserver: local, etcd "
          "--unsafe-no-fsync; ratios are against baselines measured in this run", flush=True)
    results = asyncio.run(_run(scale, only))
    elapsed = time.time() - started
    print()
    print(table(results))
    write(results, RESULTS, {"bench_scale": scale, "elapsed_s": round(elapsed, 1),
                             "etcd": "--unsafe-no-fsync"})
    print(f"\nwrote {RESULTS} in {elapsed:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

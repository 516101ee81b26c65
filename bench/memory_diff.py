"""Where the operator's memory per HybridCluster goes: a tracemalloc diff (issue 19).

``python -m bench.memory_diff 1000 2000 /tmp/memdiff`` grows a fleet of instant-provider
clusters to the first size, snapshots the operator's traced allocations, grows it to the second
size, snapshots again and prints the growth per added cluster by file, by line and by
allocation traceback (which parse or copy made the objects that stay). The operator runs with
``PYTHONTRACEMALLOC`` (slower, and its RSS is inflated by tracemalloc's own bookkeeping: the
RSS figures of the fleet benchmark are the ones to compare); a ``sitecustomize`` written to the
work directory makes it dump a snapshot on SIGUSR1. Not part of ``make bench``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tracemalloc
from pathlib import Path

from .env import ROOT, bench_environment, rss_bytes, stop
from .fleet_cases import NAMESPACE, _grow
from .operator_cases import ActiveWatcher, client, ensure_namespace

FRAMES = 8  # enough to see which component's parse or copy allocated what stays
SITECUSTOMIZE = '''
import gc, os, signal, tracemalloc

def _dump(*_):
    gc.collect()
    path = f"{os.environ['MEMORY_DIFF_SNAPSHOT']}.{_dump.taken}"
    _dump.taken += 1
    tracemalloc.take_snapshot().dump(path)
    open(path + ".done", "w").close()

_dump.taken = 0
if os.environ.get("MEMORY_DIFF_SNAPSHOT") and tracemalloc.is_tracing():
    signal.signal(signal.SIGUSR1, _dump)
'''


async def _snapshot(process: subprocess.Popen[bytes], out: Path, index: int) -> Path:
    os.kill(process.pid, signal.SIGUSR1)
    done = out / f"snapshot.{index}.done"
    for _ in range(1200):
        if done.exists():
            return out / f"snapshot.{index}"
        await asyncio.sleep(0.5)
    raise RuntimeError("the operator wrote no snapshot within 10 minutes")


async def measure(first: int, second: int, out: Path) -> tuple[Path, Path, int, int]:
    site = out / "site"
    site.mkdir(parents=True, exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    with bench_environment(out / "work") as bench:
        kube = client(bench)
        await ensure_namespace(kube, NAMESPACE)
        process = bench.start_operator(
            NAMESPACE, HYBRIDCLOUD_OPERATOR_RESYNC_INTERVAL="3600",
            PYTHONTRACEMALLOC=str(FRAMES), MEMORY_DIFF_SNAPSHOT=str(out / "snapshot"),
            PYTHONPATH=f"{site}:{ROOT}")
        try:
            async with ActiveWatcher(kube, NAMESPACE) as watcher:
                await _grow(bench, watcher, 0, first, process)
                before, rss_before = await _snapshot(process, out, 0), rss_bytes(process.pid)
                await _grow(bench, watcher, first, second, process)
                after, rss_after = await _snapshot(process, out, 1), rss_bytes(process.pid)
        finally:
            stop(process)
            await kube.close()
    return before, after, rss_before, rss_after


def report(before: Path, after: Path, added: int, top: int = 25) -> None:
    old, new = tracemalloc.Snapshot.load(str(before)), tracemalloc.Snapshot.load(str(after))
    for key in ("filename", "lineno", "traceback"):
        stats = new.compare_to(old, key)
        total = sum(stat.size_diff for stat in stats)
        print(f"== by {key}: {total / added:.0f} traced bytes per added cluster")
        for stat in stats[:top if key != "traceback" else 8]:
            frames = list(stat.traceback)  # oldest first: the allocation is the last one
            print(f"{stat.size_diff / added:8.0f} B {stat.count_diff / added:6.1f} blocks"
                  f"  {frames[-1]}")
            for frame in frames[:-1] if key == "traceback" else []:
                print(f"{'':26}{frame}")


def main() -> int:
    first, second, out = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    before, after, rss_before, rss_after = asyncio.run(measure(first, second, out))
    print(f"operator RSS under tracemalloc: {rss_before / 2**20:.0f} MiB at {first}, "
          f"{rss_after / 2**20:.0f} MiB at {second}")
    report(before, after, second - first)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Optional profiler evidence: ``BENCH_PROFILE=1 make bench`` samples the process under test
with py-spy while a case runs and writes, per case, the raw stacks and a summary of where the
busy samples went (inclusive share per function) to ``bench/results/profiles/``."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PROFILES = Path(__file__).resolve().parent / "results" / "profiles"
# Leaf frames that mean "waiting", not working: left out of the shares.
_IDLE = ("select (", "epoll", "poll (selectors", "wait (threading", "_worker (concurrent",
         "_wait_for_tstate_lock")


def enabled() -> bool:
    return os.environ.get("BENCH_PROFILE", "") not in ("", "0", "false")


def _py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


@contextmanager
def profiled(pid: int, name: str) -> Iterator[None]:
    """Sample ``pid`` for the duration of the block (a no-op unless BENCH_PROFILE is set)."""
    binary = _py_spy() if enabled() else None
    if binary is None:
        yield
        return
    PROFILES.mkdir(parents=True, exist_ok=True)
    raw = PROFILES / f"{name}.stacks.txt"
    sampler = subprocess.Popen([binary, "record", "--pid", str(pid), "--format", "raw",
                                "--rate", "50", "--nonblocking", "--output", str(raw)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        sampler.send_signal(signal.SIGINT)
        try:
            sampler.wait(timeout=30)
        except subprocess.TimeoutExpired:
            sampler.kill()
        if raw.exists():
            (PROFILES / f"{name}.top.txt").write_text(summary(raw))


def summary(raw: Path, top: int = 40) -> str:
    """Inclusive share of busy samples per function, from py-spy's raw (collapsed) stacks."""
    busy = 0
    inclusive: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if any(marker in frames[-1] for marker in _IDLE):
            continue
        busy += int(count)
        for function in {frame.split(":")[0] for frame in frames}:
            inclusive[function] += int(count)
    lines = [f"busy samples: {busy}"]
    lines += [f"{100 * n / busy:5.1f}%  {function}" for function, n in inclusive.most_common(top)
              if busy]
    return "\n".join(lines) + "\n"

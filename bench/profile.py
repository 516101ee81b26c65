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


def _package(frame: str) -> str:
    """``func (kopf/_core/x.py:12)`` → ``kopf``; ``func (<frozen runpy>)`` → ``<frozen runpy>``."""
    where = frame.rpartition(" (")[2].rstrip(")")
    return where.split("/")[0].split(":")[0] if "/" in where else where.split(":")[0]


# Frames every busy sample passes through (interpreter start-up, the event loop): not news.
_SCAFFOLD = ("<frozen runpy>", "asyncio/runners.py", "asyncio/base_events.py", "asyncio/events.py",
             "hybridcloud/__main__.py", "kopf/_core/reactor/running.py", "uvicorn/main.py",
             "uvicorn/server.py", "uvicorn/_compat.py", "threading.py")


def summary(raw: Path, top: int = 30) -> str:
    """Where the busy samples went, from py-spy's raw (collapsed) stacks: self time per
    package, and the inclusive share of the functions below the event loop."""
    busy = 0
    by_package: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if any(marker in frames[-1] for marker in _IDLE):
            continue
        samples = int(count)
        busy += samples
        by_package[_package(frames[-1])] += samples
        for function in {frame.split(":")[0] for frame in frames
                         if not any(part in frame for part in _SCAFFOLD)}:
            inclusive[function] += samples
    if not busy:
        return "busy samples: 0\n"
    lines = [f"busy samples: {busy}", "", "self time by package:"]
    lines += [f"{100 * n / busy:5.1f}%  {package}" for package, n in by_package.most_common(15)]
    lines += ["", "inclusive, below the event loop:"]
    lines += [f"{100 * n / busy:5.1f}%  {function})" for function, n in inclusive.most_common(top)]
    return "\n".join(lines) + "\n"

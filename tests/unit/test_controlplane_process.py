"""Child-process plumbing of the local control plane, exercised with /bin/sleep only."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hybridcloud.controlplane._process import (
    Launcher,
    kill_pid,
    log_tail,
    pid_alive,
    pid_runs,
    spawn,
    terminate,
)

SLEEP = Path(shutil.which("sleep") or "/bin/sleep")


def _wait_dead(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def launcher() -> Iterator[Launcher]:
    launcher = Launcher("test")
    yield launcher
    launcher.close()


def test_spawned_child_writes_its_output_to_its_log_and_is_reaped_on_terminate(
    tmp_path: Path, launcher: Launcher
) -> None:
    sh = Path(shutil.which("sh") or "/bin/sh")
    log = tmp_path / "logs" / "echo.log"
    child = spawn(launcher, "echo", sh, ["-c", "echo hello; exec sleep 60"], log, os.environ)
    deadline = time.monotonic() + 5
    while "hello" not in log_tail(log) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert log_tail(log) == "hello"
    terminate(child, grace=5)
    assert child.popen.returncode == -signal.SIGTERM
    assert not pid_alive(child.pid)


def test_terminate_kills_a_child_that_ignores_sigterm_after_the_grace_period(
    tmp_path: Path, launcher: Launcher
) -> None:
    sh = Path(shutil.which("sh") or "/bin/sh")
    script = "trap '' TERM; echo ready; while :; do sleep 0.1; done"
    log = tmp_path / "stubborn.log"
    child = spawn(launcher, "stubborn", sh, ["-c", script], log, os.environ)
    while "ready" not in log_tail(log):
        time.sleep(0.05)
    started = time.monotonic()
    terminate(child, grace=0.5)
    assert child.popen.returncode == -signal.SIGKILL
    assert time.monotonic() - started < 5


def test_child_outlives_the_thread_that_asked_for_it(tmp_path: Path, launcher: Launcher) -> None:
    # PR_SET_PDEATHSIG fires when the forking *thread* exits; the launcher thread does the fork.
    children = []
    worker = threading.Thread(
        target=lambda: children.append(
            spawn(launcher, "sleep", SLEEP, ["60"], tmp_path / "s.log", os.environ)
        )
    )
    worker.start()
    worker.join()
    time.sleep(0.3)
    assert children[0].alive()
    terminate(children[0], grace=5)


def test_children_are_killed_when_the_python_parent_is_sigkilled(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os, sys, time
        from pathlib import Path
        from hybridcloud.controlplane._process import Launcher, spawn
        child = spawn(Launcher("t"), "sleep", Path({str(SLEEP)!r}), ["60"],
                      Path({str(tmp_path / "s.log")!r}), os.environ)
        print(child.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    assert pid_alive(child_pid)
    parent.kill()
    parent.wait()
    assert _wait_dead(child_pid), "child survived its SIGKILLed parent"


def test_kill_pid_stops_a_foreign_process_but_ignores_pids_running_other_binaries() -> None:
    proc = subprocess.Popen([str(SLEEP), "60"])
    try:
        assert pid_runs(proc.pid, SLEEP)
        kill_pid(proc.pid, Path("/usr/bin/not-sleep"), grace=0.2)
        assert proc.poll() is None
        threading.Thread(target=proc.wait).start()  # reap like init would
        kill_pid(proc.pid, SLEEP, grace=5)
        assert _wait_dead(proc.pid)
    finally:
        proc.kill()


def test_log_tail_returns_last_lines_or_explains_missing_log(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert log_tail(log, 3) == "line 97\nline 98\nline 99"
    assert "no log" in log_tail(tmp_path / "missing.log")

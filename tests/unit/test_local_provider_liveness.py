"""A `local` cluster whose supervisor exited must be seen as dead, so it is reported Failed (and
its applications fail over) while the operator that started it keeps running."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from hybridcloud.controlplane._process import pid_alive
from hybridcloud.providers.local import LocalProvider


def test_an_exited_supervisor_left_as_a_zombie_is_not_alive() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while pid_alive(child.pid) and time.monotonic() < deadline:
        time.sleep(0.05)  # exited, not reaped: a zombie that still answers os.kill(pid, 0)
    assert Path(f"/proc/{child.pid}").exists()
    assert LocalProvider._alive(child.pid) is False
    assert not Path(f"/proc/{child.pid}").exists()  # reaped


def test_a_running_supervisor_is_alive_and_no_pid_is_not() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert LocalProvider._alive(child.pid) is True
    finally:
        child.kill()
        child.wait()
    assert LocalProvider._alive(0) is False

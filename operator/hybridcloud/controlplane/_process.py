"""Child-process plumbing: spawning with a parent-death signal, logs, and orderly shutdown.

Why a dedicated launcher thread: ``PR_SET_PDEATHSIG`` fires when the *thread* that forked the
child exits, not when the process does. If components were forked from whichever thread called
``ControlPlane.start()`` -- say an ``asyncio.to_thread`` or thread-pool worker -- they would be
SIGKILLed as soon as that thread finished, long before the control plane is stopped.
Forking every child from one daemon thread that lives until ``stop()`` ties their lifetime to
the control plane (and to the Python process, if it is SIGKILLed) instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from ._errors import ControlPlaneError

_T = TypeVar("_T")

_PR_SET_PDEATHSIG = 1
_TAIL_BYTES = 64 * 1024
_TAIL_LINES = 20
_POLL_INTERVAL = 0.1

# Loaded once in the parent: the code that runs between fork and exec must not import or
# allocate more than necessary.
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    def preexec() -> None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        # If the parent died between fork and prctl the signal will never come: bail out.
        if os.getppid() != parent_pid:
            os._exit(1)

    return preexec


class Launcher:
    """Runs callables on one long-lived thread; every child process is forked there."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]] | None]
        self._jobs = queue.SimpleQueue()
        # Daemon, so an interpreter exit that skips stop() is not blocked by it; the process
        # exit then triggers the children's death signal as intended.
        self._thread = threading.Thread(target=self._run, name=f"{name}-launcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            func, future = job
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(func())
                except BaseException as exc:
                    future.set_exception(exc)

    def call(self, func: Callable[[], _T]) -> _T:
        future: Future[_T] = Future()
        self._jobs.put((func, future))
        return future.result()

    def close(self) -> None:
        """Stop the thread; only call once the children it forked are gone."""
        self._jobs.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join()


@dataclass
class Child:
    """One running component."""

    name: str
    binary: Path
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = _TAIL_LINES) -> str:
        return log_tail(self.log, lines)

    def describe_exit(self) -> str:
        code = self.popen.returncode
        if code is None:
            return f"{self.name} (pid {self.pid}) is still running"
        how = f"signal {-code}" if code < 0 else f"status {code}"
        return f"{self.name} (pid {self.pid}) exited with {how}"


def log_tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file, or a note if there is none."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - _TAIL_BYTES))
            data = handle.read()
    except OSError as exc:
        return f"(no log at {path}: {exc.strerror})"
    text = data.decode("utf-8", errors="replace").rstrip("\n")
    return "\n".join(text.splitlines()[-lines:]) if text else f"(log {path} is empty)"


def spawn(
    launcher: Launcher,
    name: str,
    binary: Path,
    args: Sequence[str],
    log: Path,
    env: Mapping[str, str],
    *,
    append: bool = False,
) -> Child:
    """Start ``binary`` from the launcher thread with stdout and stderr going to ``log``.

    The log is truncated so its tail always belongs to this run, not an earlier start -- unless
    ``append`` (a restart, whose predecessor's last lines explain why it was needed).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    parent_pid = os.getpid()

    def start() -> subprocess.Popen[bytes]:
        with log.open("ab" if append else "wb") as out:
            # A new session keeps terminal signals (Ctrl-C) away from the children, so stop()
            # decides the shutdown order; the death signal covers a killed parent.
            return subprocess.Popen(
                [str(binary), *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env),
                start_new_session=True,
                preexec_fn=_die_with_parent(parent_pid),
            )

    try:
        popen = launcher.call(start)
    except OSError as exc:
        raise ControlPlaneError(f"{name}: cannot execute {binary}: {exc}") from exc
    return Child(name, binary, popen, log)


def first_dead(children: Sequence[Child]) -> Child | None:
    return next((child for child in children if not child.alive()), None)


def failure(child: Child, message: str) -> ControlPlaneError:
    """An error for ``child`` that ends with its log tail, which usually explains it."""
    return ControlPlaneError(
        f"{message}\n--- last {_TAIL_LINES} lines of {child.log} ---\n{child.tail(_TAIL_LINES)}"
    )


def wait_for(
    children: Sequence[Child],
    child: Child,
    what: str,
    ready: Callable[[], bool],
    deadline: float,
) -> None:
    """Poll ``ready`` every 100 ms until it is true or ``deadline`` (monotonic) passes.

    Any of ``children`` dying fails the wait at once: otherwise a crashed etcd would surface
    as a vague apiserver timeout a minute later.
    """
    timeout = deadline - time.monotonic()
    while True:
        dead = first_dead(children)
        if dead is not None:
            raise failure(dead, f"{dead.describe_exit()} while waiting for {child.name}: {what}")
        try:
            if ready():
                return
        except (OSError, httpx.HTTPError, ControlPlaneError):
            pass  # not up yet; the deadline bounds the retries
        if time.monotonic() >= deadline:
            raise failure(child, f"{child.name}: {what} not reached within {timeout:.0f}s")
        time.sleep(_POLL_INTERVAL)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # Each child leads its own session and process group, so signalling the group also
    # reaches any helper processes it forked.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def terminate(child: Child, grace: float) -> None:
    """SIGTERM ``child``, wait up to ``grace`` seconds, then SIGKILL it; always reaps it."""
    if child.alive():
        _signal_group(child.pid, signal.SIGTERM)
        try:
            child.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal_group(child.pid, signal.SIGKILL)
    # Reap even after SIGKILL so no zombie outlives stop().
    child.popen.wait()


def pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie (zombies are dead but not yet reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state letter follows the parenthesised command name, which may contain spaces.
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def pid_runs(pid: int, binary: Path) -> bool:
    """True if ``pid`` is alive and executes ``binary`` -- a guard against recycled pids."""
    if not pid_alive(pid):
        return False
    try:
        exe = Path(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return False
    return exe.name.removesuffix(" (deleted)") == binary.name


def kill_pid(pid: int, binary: Path, grace: float) -> None:
    """Terminate a process we did not fork (so cannot wait for): TERM, poll, then KILL."""
    if not pid_runs(pid, binary):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.1)
    if pid_runs(pid, binary):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    # SIGKILL is asynchronous; give the kernel a moment so callers can rely on the pid being
    # gone when this returns.
    deadline = time.monotonic() + 5.0
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)

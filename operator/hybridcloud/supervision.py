"""Keeping the dev stack's operator and API running: restart on exit, with backoff.

``make up`` / ``make run`` start the operator and the REST API as child processes of a
supervisor. A child that exits (a crash, an OOM kill, ``kill -9``) is started again, as a
kubelet restarts a container: the first restart comes after ``initial`` seconds, each further
one waits twice as long up to ``cap``, and a child that ran for ``healthy_after`` seconds before
exiting counts as healthy again, so its next restart is quick. Every exit and restart is logged.

The policy (:class:`Backoff`) and the per-child bookkeeping (:class:`SupervisedChild`) take a
clock and a start function, so they are tested without processes or waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar


class Process(Protocol):
    """What the supervisor needs of a child (``controlplane._process.Child`` provides it)."""

    @property
    def pid(self) -> int: ...

    def alive(self) -> bool: ...

    def describe_exit(self) -> str: ...


@dataclass
class Backoff:
    """Delay before the next restart: ``initial`` · 2^(failures), at most ``cap``."""

    initial: float = 1.0
    cap: float = 30.0
    healthy_after: float = 60.0
    failures: int = field(default=0, init=False)

    def next_delay(self, uptime: float) -> float:
        """The wait before restarting a child that exited after running ``uptime`` seconds."""
        if uptime >= self.healthy_after:
            self.failures = 0  # it had recovered: this is a new incident, not a crash loop
        delay = min(self.cap, self.initial * 2.0**self.failures)
        self.failures += 1
        return delay


P = TypeVar("P", bound=Process)


class SupervisedChild(Generic[P]):
    """One child process that is started again, after a backoff, whenever it exits.

    ``start(restart)`` launches the process (``restart`` is False only for the first start);
    ``say`` receives one line per exit and per restart.
    """

    def __init__(self, name: str, start: Callable[[bool], P], backoff: Backoff,
                 clock: Callable[[], float], say: Callable[[str], None]) -> None:
        self.name = name
        self._start = start
        self.backoff = backoff
        self._clock = clock
        self._say = say
        self.process = start(False)
        self.started_at = clock()
        self.restarts = 0
        self.restart_at: float | None = None

    def check(self) -> bool:
        """Notice an exit or perform a due restart; True when a new process was started."""
        now = self._clock()
        if self.restart_at is None:
            if self.process.alive():
                return False
            uptime = now - self.started_at
            delay = self.backoff.next_delay(uptime)
            self.restart_at = now + delay
            self._say(f"{self.process.describe_exit()} after {uptime:.1f}s; restarting it in "
                      f"{delay:g}s")
            return False
        if now < self.restart_at:
            return False
        self.restarts += 1
        try:
            self.process = self._start(True)
        except (OSError, RuntimeError) as exc:
            # Said, then retried after a longer backoff: a failed start is one more failure.
            delay = self.backoff.next_delay(0.0)
            self.restart_at = now + delay
            self._say(f"{self.name} could not be restarted ({exc}); trying again in {delay:g}s")
            return False
        self.started_at = self._clock()
        self.restart_at = None
        self._say(f"{self.name} restarted (pid {self.process.pid}, restart {self.restarts})")
        return True

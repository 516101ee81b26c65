"""Giving memory the operator freed back to the system after a burst.

A restart lists every HybridCluster in one response (kopf lists whole: it cannot resume an
expired page) and handles each as an event: with 20k clusters the process peaked near 550 MiB
for a moment, then freed most of it — but glibc's allocator keeps freed blocks inside its heap,
so the RSS stayed at the peak (issue 19's fleet benchmark: 555 MiB after a restart against
264 MiB for the same fleet grown gradually). Every few seconds the releaser looks at the RSS;
when it grew by more than ``GROWTH`` since the last release, it asks glibc to return the free
pages (``malloc_trim``; a few milliseconds, and only after such a burst).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

GROWTH = 32 * 2**20  # bytes of RSS growth since the last release that call for another
INTERVAL = 5.0  # seconds between looks at the RSS
_PAGE = 4096


def rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * _PAGE


def glibc_trim() -> Callable[[], object] | None:
    """``malloc_trim(0)`` of the C library, or None where there is none (not glibc)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: trim(0)


class MemoryReleaser:
    def __init__(self, trim: Callable[[], object] | None = None,
                 rss: Callable[[], int] = rss_bytes, growth: int = GROWTH) -> None:
        self._trim = trim
        self._rss = rss
        self._growth = growth
        self._low = rss()  # the RSS after the last release (or at start)
        self.releases = 0
        self._task: asyncio.Task[None] | None = None

    def look(self) -> bool:
        """Release if the RSS grew past the threshold since the last release; True if it did."""
        current = self._rss()
        if self._trim is None or current - self._low < self._growth:
            self._low = min(self._low, current)
            return False
        self._trim()
        self.releases += 1
        self._low = self._rss()
        log.debug("returned %d MiB to the system", (current - self._low) // 2**20)
        return True

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="memory-releaser")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(INTERVAL)
            try:
                self.look()
            except OSError as exc:  # no /proc: nothing to watch
                log.info("memory releaser stopped: %s", exc)
                return

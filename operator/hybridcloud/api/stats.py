"""Response times the API measured itself, for the performance block of
``GET /v1/multi-cluster/status``."""

from __future__ import annotations

import time
from collections import deque


class RequestStats:
    """Response times of the last minute, for /v1/multi-cluster/status' performance block."""

    def __init__(self, window: float = 60.0) -> None:
        self.window = window
        self._samples: deque[tuple[float, float]] = deque(maxlen=100_000)

    def record(self, duration: float) -> None:
        self._samples.append((time.monotonic(), duration))

    def summary(self) -> tuple[float | None, float | None]:
        horizon = time.monotonic() - self.window
        while self._samples and self._samples[0][0] < horizon:
            self._samples.popleft()
        if not self._samples:
            return None, None
        durations = [d for _, d in self._samples]
        return sum(durations) / len(durations), len(durations) / self.window

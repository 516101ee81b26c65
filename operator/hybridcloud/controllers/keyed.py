"""What both controllers share: the latest object per (namespace, name) and the work queue that
reconciles them."""

from __future__ import annotations

from typing import Any

from .queue import WorkQueue

Key = tuple[str, str]


class QueuedController:
    bodies: dict[Key, dict[str, Any]]
    queue: WorkQueue[Key]

    def start(self) -> None:
        self.queue.start()

    def recheck_all(self) -> None:
        """A tenant policy changed: what every object may do (limits, writes) may have too."""
        for key in list(self.bodies):
            self.queue.add(key)

"""ARM long-running operations followed with the SDK's own pollers.

Every ``begin_*`` call returns an ``LROPoller`` that follows ARM's protocol in a background
thread: the ``Azure-AsyncOperation`` URL (or ``Location`` for deletes) is polled, honouring
``Retry-After``, until the operation reports Succeeded, Failed or Canceled. The adapter never
waits on a poller (a worker must not block for the minutes an AKS create takes); it keeps the
latest poller per cluster so that :meth:`describe` can report how an operation *ended*. ARM puts
the reason of a failure in the operation status (``error.code``/``error.message``), and only
some API versions repeat it on the resource, so without the poller a failed create or scale
would show as "Failed" with no explanation.

Pollers live in memory: after an operator restart the resource's ``provisioningState`` (and
``status.provisioningError`` where ARM has it) is what remains to report from.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import AzureError, HttpResponseError
from azure.core.polling import LROPoller

from hybridcloud.providers.base import redact

# Subscription, resource group and cluster name (lower-case, as ARM compares them).
ClusterKey = tuple[str, str, str]


@dataclass(frozen=True)
class Followed:
    """The latest operation on a cluster: still running, succeeded, or failed with ``error``."""

    action: str
    done: bool
    error: str | None = None


class OperationBook:
    """The latest ARM operation started on each cluster, and how it ended."""

    def __init__(self, secrets: Sequence[str]) -> None:
        self._secrets = tuple(secrets)
        self._pollers: dict[ClusterKey, tuple[str, LROPoller[Any]]] = {}
        self._lock = threading.Lock()

    def track(self, key: ClusterKey, action: str, poller: LROPoller[Any]) -> None:
        """Follow ``poller``; it replaces the cluster's earlier one (ARM runs one at a time)."""
        with self._lock:
            self._pollers[key] = (action, poller)

    def forget(self, key: ClusterKey) -> None:
        with self._lock:
            self._pollers.pop(key, None)

    def latest(self, key: ClusterKey) -> Followed | None:
        """The cluster's latest operation started by this process, and how it ended."""
        with self._lock:
            found = self._pollers.get(key)
        if found is None:
            return None
        action, poller = found
        if not poller.done():
            return Followed(action, done=False)
        try:
            poller.result(timeout=0)
        except HttpResponseError as exc:
            return Followed(action, done=True, error=self._describe(action, exc))
        except AzureError as exc:  # the polling itself failed (connection): no verdict
            return Followed(action, done=True, error=redact(
                f"AKS {action}: following the operation failed: {exc.message}", self._secrets))
        return Followed(action, done=True)

    def _describe(self, action: str, exc: HttpResponseError) -> str:
        code = exc.error.code if exc.error is not None and exc.error.code else ""
        detail = exc.error.message if exc.error is not None and exc.error.message \
            else (exc.reason or str(exc))
        return redact(f"AKS {action} failed: ({code or 'OperationFailed'}) {detail}",
                      self._secrets)

"""Operator-wide kopf configuration: event posting, log levels, batching and watch timeouts.

Only ``kopf.on.event`` handlers are registered (see the package docstring), and those have no
progress or last-handled-configuration bookkeeping, so no persistence storage is configured:
kopf writes nothing to the objects.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # Events are posted explicitly for meaningful transitions only, not for every handler run.
    settings.posting.level = logging.WARNING
    # One line per watch event is noise at fleet scale; failures are still logged.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # lightkube's transport
    # Our handlers only enqueue, so kopf need not wait long to batch an object's events, and
    # per-object worker tasks can end sooner (they are memory at fleet scale).
    settings.batching.batch_window = 0.05
    settings.batching.idle_timeout = 2.0
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 30

"""Delivery failures, classified where they are raised (as the providers' errors are).

A :class:`TransientDeliveryError` may go away by itself (a 5xx or a timeout from the API, a git
server that does not answer): the pass is retried with backoff and the application shows
``Reconciling``, never ``Stalled``. A :class:`PermanentDeliveryError` needs a change from the
user (a missing Secret, a revision that does not exist): it is reported and not hammered.
Anything else raised during a pass is a bug: it propagates to the work queue, which logs it
with its traceback and retries; it never becomes a user-facing "Failed" deployment.

``str()`` of every delivery error is safe to show tenants (no secrets): it ends up in
conditions and events.
"""

from __future__ import annotations


class DeliveryError(Exception):
    """A delivery failure; ``reason`` is the CamelCase reason shown in conditions."""

    default_reason = "DeliveryFailed"

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or self.default_reason


class TransientDeliveryError(DeliveryError):
    """Retrying later may succeed without any change from the user."""

    default_reason = "Unavailable"


class PermanentDeliveryError(DeliveryError):
    """Only a change from the user (spec, Secret, repository) can fix this."""


class ClusterNotKnownError(TransientDeliveryError):
    """A placed cluster this process has not seen yet (or has just seen go away): the
    HybridCluster watch catches up and re-enqueues the application."""

    default_reason = "ClusterNotFound"

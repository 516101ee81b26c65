"""Cutting short the member calls of an application pass when the member is found unhealthy.

A call to a frozen apiserver waits for its timeout (per request, and a sync makes several), so a
pass already talking to a member when the health prober marks it unhealthy would hold the
application — and its "degraded" status — for a minute or more. The application controller
runs member calls through :meth:`MemberLoss.guard`; when the cluster's status turns unhealthy
:meth:`lost` ends them at once with :class:`MemberUnreachableError`, and the next pass (queued by
the same status change) reports the deployment degraded without contacting the member.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any, TypeVar

from ..delivery.member import MemberUnreachableError

T = TypeVar("T")


class MemberLoss:
    def __init__(self) -> None:
        self._lost: set[tuple[str, str]] = set()
        # The calls in flight per member: one task each, cancelled by ``lost`` (racing every
        # call against a waiter task cost two tasks and a wait per call, 7% of the operator's
        # busy time in issue 19's delivery-at-scale profile).
        self._calls: dict[tuple[str, str], set[asyncio.Future[Any]]] = {}

    def lost(self, namespace: str, cluster: str) -> None:
        key = (namespace, cluster)
        self._lost.add(key)
        for work in self._calls.pop(key, set()):
            work.cancel()

    def found(self, namespace: str, cluster: str) -> None:
        self._lost.discard((namespace, cluster))

    async def guard(self, namespace: str, cluster: str, call: Awaitable[T]) -> T:
        """``call``'s result, unless the member is (or becomes) unhealthy first."""
        key = (namespace, cluster)
        work = asyncio.ensure_future(call)
        if key in self._lost:
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await work
            raise _found_unhealthy(cluster)
        calls = self._calls.setdefault(key, set())
        calls.add(work)
        try:
            return await work
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if work.cancelled() and key in self._lost and \
                    (current is None or not current.cancelling()):
                raise _found_unhealthy(cluster) from None
            raise  # the pass itself is being cancelled
        finally:
            calls.discard(work)
            if not calls and self._calls.get(key) is calls:
                del self._calls[key]


def _found_unhealthy(cluster: str) -> MemberUnreachableError:
    return MemberUnreachableError(f"cluster {cluster}'s member stopped answering "
                                  "(found unhealthy)")

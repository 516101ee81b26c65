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
from typing import TypeVar

from ..delivery.member import MemberUnreachableError

T = TypeVar("T")


class MemberLoss:
    def __init__(self) -> None:
        self._signals: dict[tuple[str, str], asyncio.Event] = {}

    def lost(self, namespace: str, cluster: str) -> None:
        self._signals.setdefault((namespace, cluster), asyncio.Event()).set()

    def found(self, namespace: str, cluster: str) -> None:
        signal = self._signals.get((namespace, cluster))
        if signal is not None and signal.is_set():
            del self._signals[(namespace, cluster)]

    async def guard(self, namespace: str, cluster: str, call: Awaitable[T]) -> T:
        """``call``'s result, unless the member is (or becomes) unhealthy first."""
        signal = self._signals.setdefault((namespace, cluster), asyncio.Event())
        work = asyncio.ensure_future(call)
        if not signal.is_set():
            waiter = asyncio.ensure_future(signal.wait())
            await asyncio.wait({work, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
        if work.done():
            return work.result()
        work.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await work
        raise MemberUnreachableError(f"cluster {cluster}'s member stopped answering "
                                     "(found unhealthy)")

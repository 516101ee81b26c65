"""A short-lived cache of rendered metrics answers, shared by identical concurrent requests.

Dashboards ask the same question many times: every viewer of a panel sends the same cluster,
metrics, start, end and step. The answer for a fixed window changes only as new samples arrive,
so it is kept for a few seconds (``ttl``) and identical requests that arrive while it is being
computed wait for that one computation instead of each querying Prometheus (as a query
frontend's results cache does). Keys always include the caller's tenant and cluster scope, and
callers check access before they ask, so an entry never answers another tenant. Failures are
not kept: every waiter sees the error, and the next request tries again.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable


class RangeCache:
    def __init__(self, ttl: float, size: int = 1024) -> None:
        self.ttl = ttl
        self.size = size
        self._answers: OrderedDict[Hashable, tuple[float, bytes]] = OrderedDict()
        self._running: dict[Hashable, asyncio.Future[bytes]] = {}

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[bytes]]) -> bytes:
        now = time.monotonic()
        kept = self._answers.get(key)
        if kept is not None and kept[0] > now:
            return kept[1]
        running = self._running.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._running[key] = future
        try:
            answer = await compute()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so a future nobody awaited does not warn
            raise
        finally:
            del self._running[key]
        future.set_result(answer)
        self._answers[key] = (time.monotonic() + self.ttl, answer)
        self._answers.move_to_end(key)
        while len(self._answers) > self.size:
            self._answers.popitem(last=False)
        return answer

"""Per-request context as a plain ASGI middleware: the request id, the rate-limit headers, and
the request counters and latency histogram.

It was a ``@app.middleware("http")`` function before. Starlette runs those through
``BaseHTTPMiddleware``, which builds a second Request, runs the rest of the stack in a task
group and relays every response message through memory streams: the profile of the metrics
benchmark (``bench/metrics_cases.py``) showed that relay as one of the largest costs of a
request that the range cache answers. Here the response's own ``send`` is wrapped instead.

* ``scope["state"]["request_id"]`` is the caller's ``X-Request-ID`` when well-formed, else a new
  one; error bodies (``errors.py``, ``bodylimit.py``) and the ``X-Request-ID`` response header
  read it from there.
* A rate-limit verdict the dependencies left in the state adds the ``X-RateLimit-*`` headers.
* The latency recorded is the time to the response's first byte, as before (a streamed
  response, such as the event stream, is not timed to its end).
"""

from __future__ import annotations

import re
import time
import uuid

from prometheus_client import Counter, Histogram
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .stats import RequestStats

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_REQUEST_ID_HEADER = b"x-request-id"


def request_id_of(scope: Scope) -> str:
    """The caller's well-formed ``X-Request-ID``, else a new id."""
    for name, value in scope.get("headers", ()):
        if name == _REQUEST_ID_HEADER:
            incoming: str = value.decode("latin-1")
            if _REQUEST_ID.match(incoming):
                return incoming
            break
    return f"req-{uuid.uuid4().hex[:12]}"


class RequestContext:
    """ASGI middleware: request id, rate-limit headers, request metrics (module docstring)."""

    def __init__(self, app: ASGIApp, *, requests: Counter, latency: Histogram,
                 stats: RequestStats, unrecorded: tuple[str, ...]) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency
        self.stats = stats
        self.unrecorded = frozenset(unrecorded)  # probes and /metrics stay out of the stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["request_id"] = request_id = request_id_of(scope)
        started = time.monotonic()
        answered = False

        async def send_with_context(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = True
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                verdict = state.get("rate_limit")
                if verdict is not None:
                    headers.update(verdict.headers())
                self._record(scope, status, time.monotonic() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_with_context)
        except BaseException:
            if not answered:  # the server's error handler answers 500 outside this middleware
                self._record(scope, 500, time.monotonic() - started)
            raise

    def _record(self, scope: Scope, status: int, elapsed: float) -> None:
        route = getattr(scope.get("route"), "path", "unmatched")
        if scope["path"] not in self.unrecorded:
            self.stats.record(elapsed)
        method = scope["method"]
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(elapsed)

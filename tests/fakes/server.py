"""A small threaded HTTP server for wire-level cloud fakes, with fault injection.

Each fake registers routes (method + path regex) whose handlers get a parsed :class:`Request`
and return a :class:`Response`. Tests inject faults (throttling with ``Retry-After``, 5xx,
arbitrary error bodies) for the next N matching requests and inspect the request log, e.g. to
assert that exactly one create call reached the cloud.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # named regex groups of the route

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int = 200
    body: Any = None  # dict/list → JSON; bytes/str sent as is
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Response]


@dataclass
class Fault:
    status: int
    body: Any
    headers: dict[str, str]
    method: str | None
    path: re.Pattern[str] | None
    remaining: int


class Gate:
    """Holds matching requests before the fake handles them, until :meth:`open`.

    A test can then act (e.g. SIGKILL the client) while the request is provably in flight:
    sent by the client, not yet answered, and not yet acted on by the cloud.
    """

    def __init__(self, method: str, pattern: str) -> None:
        self.method, self.path = method.upper(), re.compile(pattern)
        self._open = threading.Event()
        self._arrived = threading.Semaphore(0)
        self._lock = threading.Lock()
        self.held = 0  # requests that reached the gate
        self._in_handler = 0

    def matches(self, request: Request) -> bool:
        return request.method == self.method and bool(self.path.search(request.path))

    def pass_through(self, request: Request, handle: Callable[[], Response]) -> Response:
        with self._lock:
            self.held += 1
            self._in_handler += 1
        self._arrived.release()
        try:
            self._open.wait()
            return handle()
        finally:
            with self._lock:
                self._in_handler -= 1

    def wait_arrival(self, timeout: float) -> bool:
        """Block until one more request reached the gate (False on timeout)."""
        return self._arrived.acquire(timeout=timeout)

    def forget_arrivals(self) -> None:
        """Let :meth:`wait_arrival` wait for requests that arrive from now on only."""
        while self._arrived.acquire(blocking=False):
            pass

    def open(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._open.clear()

    def drained(self) -> bool:
        """No request is held or being handled behind the gate."""
        with self._lock:
            return self._in_handler == 0


class FakeServer:
    """Threaded HTTP server on a free loopback port."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.requests: list[Request] = []
        # Requests answered with an injected fault, each with the number of handled requests
        # before it, so a test can prove the fault was served and the client came back after.
        self.faulted: list[tuple[int, Request, int]] = []
        self._gates: list[Gate] = []
        self._connections = 0  # accepted and not yet closed
        self._last_activity = 0.0  # when a connection last opened or closed (monotonic)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- configuration -------------------------------------------------------------------
    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self._routes.append((method.upper(), re.compile(f"^{pattern}$"), handler))
            return handler
        return register

    def fail_next(self, count: int = 1, *, status: int = 429, body: Any = None,
                  headers: dict[str, str] | None = None, method: str | None = None,
                  path: str | None = None) -> None:
        """Answer the next ``count`` matching requests with this error instead of handling them."""
        with self._lock:
            self._faults.append(Fault(status, body, dict(headers or {}),
                                      method.upper() if method else None,
                                      re.compile(path) if path else None, count))

    def count(self, method: str, pattern: str) -> int:
        """How many handled (not faulted) requests matched ``method`` and path regex."""
        regex = re.compile(pattern)
        with self._lock:
            return sum(1 for r in self.requests
                       if r.method == method.upper() and regex.search(r.path))

    def tally(self, method: str, pattern: str, key: Callable[[Request], str]) -> Counter[str]:
        """Handled (not faulted) requests matching ``method`` and path regex, counted per
        ``key(request)`` — e.g. create calls per cluster name."""
        regex = re.compile(pattern)
        with self._lock:
            matching = [r for r in self.requests
                        if r.method == method.upper() and regex.search(r.path)]
        return Counter(key(r) for r in matching)

    def gate(self, method: str, pattern: str) -> Gate:
        """Hold matching requests (method + path regex) until the returned gate opens."""
        gate = Gate(method, pattern)
        with self._lock:
            self._gates.append(gate)
        return gate

    def faults_served(self, status: int) -> int:
        """How many requests were answered with an injected fault of this HTTP status."""
        with self._lock:
            return sum(1 for _, _, served in self.faulted if served == status)

    def retried_after_faults(self, status: int) -> bool:
        """Whether every request answered with an injected ``status`` was sent again later
        (same method and path) and then handled: the client retried instead of giving up."""
        with self._lock:
            faulted = [(at, r) for at, r, served in self.faulted if served == status]
            return bool(faulted) and all(
                any(later.method == r.method and later.path == r.path
                    for later in self.requests[at:]) for at, r in faulted)

    def idle(self, quiet: float = 0.5) -> bool:
        """No client connection is open, nor was one opened or closed for ``quiet`` seconds:
        every request a client sent has been read and handled. After SIGKILLing a client,
        this is the moment the cloud has acted on all it will ever receive from it (requests
        still in socket buffers, or in the listen backlog, included)."""
        with self._lock:
            return self._connections == 0 and \
                time.monotonic() - self._last_activity >= quiet

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> str:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def log_message(self, format: str, *args: Any) -> None:
                return  # keep test output quiet

            def setup(self) -> None:
                with server._lock:
                    server._connections += 1
                    server._last_activity = time.monotonic()
                super().setup()

            def finish(self) -> None:
                try:
                    super().finish()
                finally:
                    with server._lock:
                        server._connections -= 1
                        server._last_activity = time.monotonic()

            def _serve(self) -> None:
                server._dispatch(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve  # noqa: N815

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        # A short poll interval: shutdown() waits for the loop, 0.5 s by default per fake.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- dispatch ------------------------------------------------------------------------
    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and (fault.method in (None, method)) \
                        and (fault.path is None or fault.path.search(path)):
                    fault.remaining -= 1
                    return fault
        return None

    def _dispatch(self, http: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(http.path)
        length = int(http.headers.get("Content-Length") or 0)
        body = http.rfile.read(length) if length else b""
        if len(body) < length:
            # The client died while sending (a test SIGKILLed it between the headers and the
            # body): like any HTTP server, drop the incomplete request unhandled and unlogged.
            http.close_connection = True
            return
        request = Request(http.command, parts.path, parse_qs(parts.query),
                          {k.lower(): v for k, v in http.headers.items()}, body)
        fault = self._take_fault(request.method, request.path)
        if fault is not None:
            with self._lock:
                self.faulted.append((len(self.requests), request, fault.status))
            self._send(http, Response(fault.status, fault.body, fault.headers))
            return
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if method == request.method and match:
                request.params = {k: v for k, v in match.groupdict().items() if v is not None}
                with self._lock:
                    self.requests.append(request)
                with self._lock:
                    gate = next((g for g in self._gates if g.matches(request)), None)
                try:
                    response = gate.pass_through(request, functools.partial(handler, request)) \
                        if gate else handler(request)
                except Exception as exc:  # a bug in the fake must be visible, not a hang
                    response = Response(500, {"error": f"fake crashed: {exc!r}"})
                self._send(http, response)
                return
        self._send(http, Response(404, {"error": f"no fake route for {request.method} "
                                                  f"{request.path}"}))

    @staticmethod
    def _send(http: BaseHTTPRequestHandler, response: Response) -> None:
        payload: bytes
        headers = dict(response.headers)
        if isinstance(response.body, bytes):
            payload = response.body
        elif isinstance(response.body, str):
            payload = response.body.encode()
        elif response.body is None:
            payload = b""
        else:
            payload = json.dumps(response.body).encode()
            headers.setdefault("Content-Type", "application/json")
        try:
            http.send_response(response.status)
            for key, value in headers.items():
                http.send_header(key, value)
            http.send_header("Content-Length", str(len(payload)))
            http.end_headers()
            if http.command != "HEAD":
                http.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            # The client is gone (a test SIGKILLed it mid-request): the cloud still acted on
            # the request, as a real one would; there is just nobody left to answer.
            http.close_connection = True

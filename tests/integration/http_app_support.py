"""A small instrumented HTTP application: what an application's container serves on a real
cluster, run by the test on this machine's network address (kwok simulates pods; nothing runs
in them).

It counts every request it answers in ``http_requests_total{code,method}`` and times it in the
``http_request_duration_seconds`` histogram (the conventional names the platform's application
metrics read), and serves them on ``/metrics``. ``/fail`` answers 500; anything else 200."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

# Each answer takes this long, so the latency histogram has observations clearly above zero.
SERVICE_TIME = 0.005


def network_address() -> str:
    """This machine's first non-loopback IPv4 address: a member API server proxies to pods
    only at such an address (it refuses loopback)."""
    try:
        listed = subprocess.run(["hostname", "-I"], capture_output=True, text=True,
                                check=True, timeout=10).stdout.split()
    except (OSError, subprocess.SubprocessError):
        listed = []
    for address in listed:
        try:
            socket.inet_aton(address)
        except OSError:
            continue
        if not address.startswith("127."):
            return address
    pytest.skip("this machine has no non-loopback IPv4 address for the simulated pod network")


@dataclass
class InstrumentedApp:
    address: str
    port: int

    def call(self, path: str, times: int) -> None:
        with httpx.Client(base_url=f"http://{self.address}:{self.port}", timeout=10) as client:
            for _ in range(times):
                client.get(path)


@contextmanager
def instrumented_app(address: str,
                     const_labels: Mapping[str, str] | None = None) -> Iterator[InstrumentedApp]:
    """The app serving on ``address`` (a free port). ``const_labels`` are added to every series
    it exports (an app claiming labels that are not its own)."""
    registry = CollectorRegistry()
    extra = dict(const_labels or {})
    requests = Counter("http_requests", "Requests answered.", ["code", "method", *extra],
                       registry=registry)
    duration = Histogram("http_request_duration_seconds", "Time to answer.", [*extra],
                         registry=registry)
    # Both codes exist from the start (at 0), as instrumentation libraries do, so the first
    # failures are an increase Prometheus sees rather than a new series.
    for code in ("200", "500"):
        requests.labels(code=code, method="GET", **extra)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._answer(200, generate_latest(registry))
                return
            started = time.perf_counter()
            time.sleep(SERVICE_TIME)
            code = 500 if self.path == "/fail" else 200
            self._answer(code, b"failed\n" if code == 500 else b"ok\n")
            requests.labels(code=str(code), method="GET", **extra).inc()
            timed = duration.labels(**extra) if extra else duration
            timed.observe(time.perf_counter() - started)

        def _answer(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # the tests' output stays readable

    server = ThreadingHTTPServer((address, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield InstrumentedApp(address, server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

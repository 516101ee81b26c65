"""The attacker's side of the security tests: a server on loopback that records everything sent
to it (the "host the tenant controls"), and checks that nothing secret reached it.

Every test in ``tests/security/`` plays a hostile tenant against the real stack and asserts two
things: the attack fails with a clear error naming the field, and nothing leaked — the recording
server saw no credential, and no object outside the tenant changed.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class RecordingServer:
    """What arrived at the attacker's host. ``url`` is ``http://127.0.0.1:<port>``."""

    url: str
    requests: list[Recorded] = field(default_factory=list)

    def text(self) -> str:
        """Everything received, as one string to search for leaked values."""
        parts = []
        for r in self.requests:
            parts.append(f"{r.method} {r.path}")
            parts.extend(f"{k}: {v}" for k, v in r.headers.items())
            parts.append(r.body.decode(errors="replace"))
        return "\n".join(parts)

    def assert_received_none_of(self, secrets: Iterable[str]) -> None:
        """Fails naming the leaked value's first characters, never printing it whole."""
        received = self.text()
        for secret in secrets:
            assert secret not in received, f"the attacker received a secret ({secret[:4]}…)"
            # Basic auth carries user:password base64-encoded; look for that form too.
            for prefix in ("", "x-access-token:", "git:", "oauth2:"):
                encoded = base64.b64encode(f"{prefix}{secret}".encode()).decode()
                assert encoded not in received, f"the attacker received a secret ({secret[:4]}…)"


@contextmanager
def recording_server(status: int = 401) -> Iterator[RecordingServer]:
    """An HTTP server that records every request and answers ``status`` (401 by default, which
    makes git clients offer whatever credentials they hold — the worst case for a leak)."""
    recorded: list[Recorded] = []

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            recorded.append(Recorded(self.command, self.path, dict(self.headers.items()), body))
            self.send_response(status)
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="attacker"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _record  # noqa: N815

        def log_message(self, *_: object) -> None:  # keep the test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield RecordingServer(f"http://127.0.0.1:{server.server_address[1]}", recorded)
    finally:
        server.shutdown()
        server.server_close()

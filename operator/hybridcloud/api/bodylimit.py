"""Request bodies are bounded before anything reads them: before authentication (a TokenReview
per request would otherwise let anyone make the API buffer and the apiserver work), before the
JSON parser, before the routes.

An ASGI middleware reads the body itself, up to ``HYBRIDCLOUD_API_MAX_BODY_BYTES``: a declared
``Content-Length`` above the limit is refused without reading a byte, a chunked body as soon as
the bytes received pass it (413 ``PAYLOAD_TOO_LARGE``). JSON bodies are also refused when nested
deeper than ``HYBRIDCLOUD_API_MAX_JSON_DEPTH`` (400 ``INVALID_REQUEST``), measured without parsing.
The body is then handed to the application unchanged.
"""

from __future__ import annotations

import json
import re
import uuid

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import APIError

# A JSON string, escapes included (the unrolled form stays linear on long strings).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_INNERMOST = re.compile(rb"\[\]|\{\}")


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """Whether ``body`` nests arrays/objects deeper than ``limit``. Strings are removed, then the
    innermost bracket pairs are peeled off once per level: ``limit`` passes of a C-speed regex
    instead of a Python loop over every byte. Malformed JSON is left to the parser."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKET)
    for _ in range(limit):
        brackets = _INNERMOST.sub(b"", brackets)
        if not brackets:
            return False
    return _INNERMOST.search(brackets) is not None


def _body_of(scope: Scope, error: APIError) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    # The request-context middleware (outside this one) has put the request id in the scope.
    request_id = scope.get("state", {}).get("request_id") or f"req-{uuid.uuid4().hex[:12]}"
    content = json.dumps({"error": {"code": error.code, "message": error.message,
                                    "details": error.details, "request_id": request_id}})
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(content)).encode()),
               (b"connection", b"close")]
    return content.encode(), headers


class BodyLimit:
    """ASGI middleware enforcing the body size and JSON depth limits (see module docstring)."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_json_depth: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_json_depth = max_json_depth

    def _too_large(self, received: str) -> APIError:
        return APIError("PAYLOAD_TOO_LARGE",
                        f"request body: {received} exceeds the limit of {self.max_bytes} bytes",
                        {"field": "body", "limit_bytes": self.max_bytes})

    async def _refuse(self, scope: Scope, send: Send, error: APIError) -> None:
        content, headers = _body_of(scope, error)
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send, self._too_large(f"Content-Length {declared}"))
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, send, self._too_large(f"{size} bytes received so far"))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if (body and "json" in headers.get("content-type", "")
                and json_depth_exceeds(body, self.max_json_depth)):
            await self._refuse(scope, send, APIError(
                "INVALID_REQUEST", f"body: JSON nested deeper than {self.max_json_depth} levels",
                {"field": "body", "limit_depth": self.max_json_depth}))
            return
        await self.app(scope, _replay(body, receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands out the buffered body once, then the real channel (whose next
    message is the disconnect streaming responses listen for)."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        if pending:
            return pending.pop()
        return await receive()
    return replay

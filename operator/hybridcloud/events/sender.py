"""One webhook attempt on the wire, and the retry schedule (exponential backoff with jitter)."""

from __future__ import annotations

import random
import ssl
import time
from dataclasses import dataclass
from urllib.parse import SplitResult

import httpx

from . import signing
from .urls import UnsafeURLError, URLPolicy, resolve


@dataclass(frozen=True)
class DeliverySettings:
    policy: URLPolicy
    attempt_timeout: float = 10.0
    retry_period: float = 3600.0  # give up (delivery failed) after this many seconds
    backoff_base: float = 1.0
    backoff_max: float = 300.0
    max_payload_bytes: int = 64 * 1024
    max_response_bytes: int = 16 * 1024
    lanes: int = 4  # per endpoint: parallel per-object lanes (one object always one lane)
    flush_interval: float = 1.0
    ca_bundle: str | None = None


def backoff(attempt: int, settings: DeliverySettings, rng: random.Random) -> float:
    """Delay after failed attempt ``attempt`` (1-based): base·2^(n-1) capped, times a random
    factor in [0.5, 1) so endpoints that failed together do not retry in lockstep."""
    delay = min(settings.backoff_max, settings.backoff_base * 2 ** (attempt - 1))
    return float(delay * (0.5 + rng.random() / 2))


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None
    duration_ms: int
    error: str | None
    retryable: bool = True


def _connection_error(exc: BaseException) -> str:
    """What went wrong connecting, for the deliveries list: a TLS verification failure says
    which check failed (OpenSSL's reason names the certificate problem, never a secret)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS verification failed: {cause.verify_message or cause.reason}"
        cause = cause.__cause__ or cause.__context__
    return f"connection failed: {type(exc).__name__}"


def _pinned(parts: SplitResult, address: str) -> str:
    host = f"[{address}]" if ":" in address else address
    port = f":{parts.port}" if parts.port else ""
    path = parts.path or "/"
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme}://{host}{port}{path}{query}"


async def attempt(client: httpx.AsyncClient, url: str, secret: bytes, body: bytes, *,
                  event_id: str, event_type: str, delivery_id: str,
                  settings: DeliverySettings) -> Outcome:
    """POST ``body`` once. The URL is checked (and resolved) now, and the connection goes to
    the address that passed the check, with the original name for Host and TLS."""
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    if len(body) > settings.max_payload_bytes:
        return Outcome(False, None, 0, "payload exceeds the platform's size limit",
                       retryable=False)
    try:
        parts, address = await resolve(url, settings.policy)
    except UnsafeURLError as exc:
        return Outcome(False, None, took(), f"refused: {exc}")
    stamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "hybridcloud-webhooks/1",
        "Host": parts.netloc.rpartition("@")[2],
        signing.SIGNATURE_HEADER: signing.signature(secret, stamp, body),
        signing.TIMESTAMP_HEADER: str(stamp),
        signing.EVENT_ID_HEADER: event_id,
        signing.EVENT_TYPE_HEADER: event_type,
        signing.DELIVERY_HEADER: delivery_id,
    }
    extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
    try:
        async with client.stream("POST", _pinned(parts, address), content=body,
                                 headers=headers, extensions=extensions,
                                 timeout=settings.attempt_timeout) as response:
            received = 0
            async for chunk in response.aiter_bytes():  # read (capped), then drop
                received += len(chunk)
                if received > settings.max_response_bytes:
                    break
            code = response.status_code
    except httpx.TimeoutException:
        return Outcome(False, None, took(), "timed out")
    except httpx.HTTPError as exc:
        return Outcome(False, None, took(), _connection_error(exc))
    if 200 <= code < 300:
        return Outcome(True, code, took(), None)
    return Outcome(False, code, took(), f"receiver answered {code}")

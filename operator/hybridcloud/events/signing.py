"""HMAC-SHA256 signatures of webhook deliveries (how receivers verify: docs/webhooks.md)."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Hybridcloud-Signature"
TIMESTAMP_HEADER = "X-Hybridcloud-Timestamp"
EVENT_ID_HEADER = "X-Hybridcloud-Event-Id"
EVENT_TYPE_HEADER = "X-Hybridcloud-Event"
DELIVERY_HEADER = "X-Hybridcloud-Delivery"
SCHEME = "v1"

MIN_SECRET_BYTES = 16
MAX_SECRET_BYTES = 256


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """``v1=<hex>``: HMAC-SHA256 keyed with ``secret`` over ``"<timestamp>." + body``. The
    timestamp is inside the MAC so a captured delivery cannot be replayed as a fresh one."""
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"{SCHEME}={mac}"


def verify(secret: bytes, timestamp: str, body: bytes, header: str, *, now: int,
           tolerance: int = 300) -> bool:
    """What a receiver does: the timestamp is recent and one of the header's signatures
    matches (compared in constant time)."""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance:
        return False
    expected = signature(secret, int(timestamp), body)
    return any(hmac.compare_digest(expected, part.strip()) for part in header.split(","))

"""One page of a tenant's logs from the store: the LogsQL sent, the order, the paging cursor.

Cost: sorting every match of a broad query by six fields was what made a page slow, far more
than counting (a count is about as cheap as the bare filter). So the total comes first, and the
matches per nanosecond it implies size a time window at the page's beginning expected to hold
twice the page; the window grows if it holds less. Only the lines in that window are sorted.

Paging is anchored on time, not on a row offset, so lines arriving meanwhile do not shift pages:
the cursor holds the timestamp of the last line returned and how many lines with exactly that
timestamp were returned so far; the next page starts at that timestamp and skips those. The
cursor is also bound to the query, range and order it was made for (a digest), and it only
ever narrows the tenant-scoped query, so a forged cursor can reveal nothing else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from .logquery import Node, scoped
from .logstore import LogStore

_NS = 1_000_000_000
# Deterministic order among lines with the same timestamp, so offsets within it are stable.
_TIEBREAK = ("cluster", "namespace", "pod", "container", "_msg")


class InvalidCursorError(ValueError):
    pass


def to_ns(moment: datetime) -> int:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * _NS + delta.microseconds * 1000


@lru_cache(maxsize=4096)
def _epoch_seconds(whole: str) -> int:
    # Cached: log lines come in runs within one second, and strptime was most of the
    # shipper's CPU (a profile of the logship benchmark: 65% of its samples).
    return to_ns(datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)) // _NS


@lru_cache(maxsize=4096)
def _second_text(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def parse_rfc3339_ns(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 UTC time with up to 9 fractional digits."""
    text = text.strip()
    if not text.endswith("Z"):
        raise ValueError(f"not a UTC time: {text!r}")
    whole, _, fraction = text[:-1].partition(".")
    if fraction and not fraction.isdigit():
        raise ValueError(f"bad fraction in {text!r}")
    digits = (fraction + "000000000")[:9] if fraction else "0"
    return _epoch_seconds(whole) * _NS + int(digits)


def format_ns(ns: int) -> str:
    seconds, rest = divmod(ns, _NS)
    base = _second_text(seconds)
    return f"{base}.{rest:09d}Z" if rest else f"{base}Z"


@dataclass(frozen=True)
class Cursor:
    at: int  # ns of the last line returned
    skip: int  # lines with exactly that timestamp already returned
    digest: str

    def encode(self) -> str:
        raw = json.dumps({"t": self.at, "k": self.skip, "d": self.digest}).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def decode(text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            data = json.loads(raw)
            at, skip, digest = data["t"], data["k"], data["d"]
        except (binascii.Error, ValueError, TypeError, KeyError):
            raise InvalidCursorError("cursor is not one this API returned") from None
        if not (isinstance(at, int) and isinstance(skip, int) and isinstance(digest, str)
                and at >= 0 and 0 <= skip <= 1_000_000):
            raise InvalidCursorError("cursor is not one this API returned")
        return Cursor(at, skip, digest)


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    total: int
    next_cursor: str | None


def digest(tenant: str, query: str, start: int, end: int, descending: bool) -> str:
    text = json.dumps([tenant, query, start, end, descending])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


async def _total(store: LogStore, logsql: str, start: int, end: int) -> int:
    # The store's end bound is exclusive; the contract's end_time is inclusive.
    counted = await store.query(f"{logsql} | stats count() as total", format_ns(start),
                                format_ns(end + 1))
    return int(counted[0]["total"]) if counted else 0


async def _first_rows(store: LogStore, logsql: str, start: int, end: int, count: int,
                      descending: bool, density: float) -> list[dict[str, Any]]:
    """The first ``count`` rows of ``start..end`` by time, then the ``_TIEBREAK`` fields.

    ``density`` (matches per ns, from the total) sizes a window at the page's beginning that
    should hold twice ``count`` matches; a window that holds fewer grows fourfold until it does
    or covers the whole range. Every line outside the window comes after every line in it, so
    the first ``count`` of the window are the first of the range."""
    order = " desc" if descending else ""
    by = ", ".join(f"{f}{order}" for f in ("_time", *_TIEBREAK))
    width = end - start + 1 if density <= 0 else max(1_000_000, int(2 * count / density))
    while True:
        low = max(start, end - width + 1) if descending else start
        high = end if descending else min(end, start + width - 1)
        rows = await store.query(f"{logsql} | sort by ({by}) limit {count}",
                                 format_ns(low), format_ns(high + 1))
        if len(rows) >= count or (low, high) == (start, end):
            return rows
        width *= 4


async def search(store: LogStore, tenant: str, node: Node, query_text: str, start: int,
                 end: int, limit: int, descending: bool, cursor: Cursor | None) -> Page:
    """Lines of ``tenant`` matching ``node`` with ``start <= _time <= end`` (ns)."""
    expected = digest(tenant, query_text, start, end, descending)
    if cursor is not None and cursor.digest != expected:
        raise InvalidCursorError("cursor belongs to a different query, time range or sort")
    logsql = scoped(node, tenant)
    page_start, page_end, skip = start, end, 0
    if cursor is not None:
        skip = cursor.skip
        if descending:
            page_end = cursor.at
        else:
            page_start = cursor.at
    total = await _total(store, logsql, start, end)
    rows = await _first_rows(store, logsql, page_start, page_end, skip + limit + 1, descending,
                             total / (end - start + 1))
    rows = rows[skip:]
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more and rows:
        last = parse_rfc3339_ns(rows[-1]["_time"])
        same = sum(1 for row in rows if parse_rfc3339_ns(row["_time"]) == last)
        # Lines at `last` from earlier pages are still skipped when the anchor did not move.
        carried = skip if cursor is not None and cursor.at == last else 0
        next_cursor = Cursor(last, same + carried, expected).encode()
    return Page(rows, total, next_cursor)

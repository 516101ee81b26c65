"""Log levels from line formats, and the shipper's exactly-once bookkeeping at a cursor."""

from __future__ import annotations

import pytest

from hybridcloud.observability.cursors import LineCursor
from hybridcloud.observability.loglevel import extract_level
from hybridcloud.observability.logsearch import format_ns, parse_rfc3339_ns
from hybridcloud.observability.logship import advanced, fresh_lines, line_hash, split_line


@pytest.mark.parametrize(("line", "level"), [
    ('{"level":"ERROR","msg":"db down"}', "error"),
    ('{"severity":"warning","message":"slow"}', "warning"),
    ("ts=2025-01-01 level=debug msg=x", "debug"),
    ('time=1 lvl="warn" msg=x', "warning"),
    ("ERROR failed to connect", "error"),
    ("[WARN] retrying", "warning"),
    ("E0412 12:00:00.000 1 main.go:10] boom", "error"),
    ("FATAL: out of memory", "fatal"),
    ("just a line", "info"),
    ("{not json", "info"),
])
def test_level_is_extracted_from_json_logfmt_and_text_prefixes(line: str, level: str) -> None:
    assert extract_level(line) == level


def test_timestamps_round_trip_with_nanoseconds() -> None:
    text = "2025-08-17T10:45:23.123456789Z"
    assert format_ns(parse_rfc3339_ns(text)) == text
    assert split_line(text + " hello world") == (parse_rfc3339_ns(text), "hello world")
    assert split_line("garbage") is None


def test_lines_at_the_cursor_already_shipped_are_skipped_once_each() -> None:
    lines = [(5, "old"), (10, "a"), (10, "a"), (10, "b"), (11, "c")]
    cursor = LineCursor(10, [line_hash("a")])
    # One "a" at t=10 was shipped; the identical second one was not and must survive.
    assert fresh_lines(lines, cursor) == [(10, "a"), (10, "b"), (11, "c")]
    assert fresh_lines(lines, None) == lines


def test_the_cursor_advances_to_the_last_timestamp_and_keeps_its_lines() -> None:
    cursor = advanced(LineCursor(10, [line_hash("a")]), [(10, "b")])
    assert cursor == LineCursor(10, [line_hash("a"), line_hash("b")])
    assert advanced(cursor, [(12, "x"), (12, "y")]) == LineCursor(12, [line_hash("x"),
                                                                        line_hash("y")])
    assert advanced(cursor, []) is cursor

"""Shared provider helpers: Retry-After parsing and secret redaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from hybridcloud.providers.base import redact, retry_after_header, retry_after_seconds


def test_retry_after_accepts_delta_seconds_and_http_dates() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("0.5") == 0.5
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    waited = retry_after_seconds(later)
    assert waited is not None and 25 <= waited <= 31


def test_retry_after_never_goes_negative_and_ignores_garbage() -> None:
    past = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    assert retry_after_seconds(past) == 0.0
    assert retry_after_seconds("-3") == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("") is None


def test_redact_replaces_every_secret_longest_first_and_skips_tiny_values() -> None:
    message = "auth failed for key AKIA123 with secret AKIA123-secret-value (x)"
    assert redact(message, ["AKIA123", "AKIA123-secret-value", "x", ""]) == \
        "auth failed for key *** with secret *** (x)"


def test_retry_after_header_is_found_whatever_the_case_of_header_names() -> None:
    assert retry_after_header({"Retry-After": "7"}) == 7.0
    assert retry_after_header({"retry-after": "3", "x-amz-id": "a"}) == 3.0  # botocore's style
    assert retry_after_header({"Content-Type": "application/json"}) is None
    assert retry_after_header(None) is None

"""Which occurrence of a member Event the shipper ships: series counts and sub-second times."""

from __future__ import annotations

from datetime import UTC, datetime

from lightkube.models.core_v1 import EventSeries, ObjectReference
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Event

from hybridcloud.observability.cursors import EventMark
from hybridcloud.observability.logsearch import parse_rfc3339_ns
from hybridcloud.observability.logship_events import occurrence


def _event(**fields: object) -> Event:
    return Event(metadata=ObjectMeta(name="e", namespace="default", uid="u1",
                                     creationTimestamp=datetime(2026, 1, 1, tzinfo=UTC)),
                 involvedObject=ObjectReference(kind="Pod", name="p"), **fields)


def test_a_series_counts_in_series_count_at_its_last_observed_time() -> None:
    event = _event(eventTime=datetime(2026, 1, 1, 0, 0, 1, 250_000, tzinfo=UTC),
                   series=EventSeries(count=4, lastObservedTime=datetime(
                       2026, 1, 1, 0, 0, 9, 123_456, tzinfo=UTC)))
    assert occurrence(event) == EventMark(4, parse_rfc3339_ns("2026-01-01T00:00:09.123456Z"))


def test_a_single_new_style_event_keeps_the_microseconds_of_its_event_time() -> None:
    event = _event(eventTime=datetime(2026, 1, 1, 0, 0, 1, 250_001, tzinfo=UTC))
    assert occurrence(event) == EventMark(1, parse_rfc3339_ns("2026-01-01T00:00:01.250001Z"))


def test_a_legacy_event_counts_in_count_at_its_last_timestamp() -> None:
    event = _event(count=3, firstTimestamp=datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC),
                   lastTimestamp=datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC))
    assert occurrence(event) == EventMark(3, parse_rfc3339_ns("2026-01-01T00:00:05Z"))


def test_an_occurrence_is_new_when_its_count_or_its_time_moved() -> None:
    shipped = EventMark(2, 1_000)
    assert shipped.precedes(EventMark(3, 1_000))
    assert shipped.precedes(EventMark(2, 2_000))  # a series whose count was not bumped yet
    assert not shipped.precedes(EventMark(2, 1_000))
    assert not shipped.precedes(EventMark(1, 500))  # a replay of an older state

"""Pure webhook logic: signatures, URL rules, the transition record, retry schedule."""

from __future__ import annotations

import random

import pytest

from hybridcloud.events import signing
from hybridcloud.events.sender import DeliverySettings, backoff
from hybridcloud.events.transitions import (
    KEEP,
    deleted_event,
    event_id,
    events_of,
    recorded,
)
from hybridcloud.events.urls import UnsafeURLError, URLPolicy, check_address, parse

KEY = b"k" * 32
NOW = "2026-12-01T10:00:00Z"


def test_a_signature_verifies_only_for_the_same_key_body_and_a_recent_timestamp() -> None:
    header = signing.signature(KEY, 1000, b'{"a":1}')
    assert signing.verify(KEY, "1000", b'{"a":1}', header, now=1100)
    assert not signing.verify(KEY, "1000", b'{"a":2}', header, now=1100)
    assert not signing.verify(b"x" * 32, "1000", b'{"a":1}', header, now=1100)
    assert not signing.verify(KEY, "1001", b'{"a":1}', header, now=1100)  # timestamp is signed
    assert not signing.verify(KEY, "1000", b'{"a":1}', header, now=1000 + 301)  # a replay


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "169.254.169.254", "fd00:ec2::254",
                                     "10.1.2.3", "192.168.0.1", "::ffff:127.0.0.1", "0.0.0.0"])  # noqa: S104
def test_internal_addresses_are_refused_unless_private_ones_are_allowed(address: str) -> None:
    with pytest.raises(UnsafeURLError):
        check_address(address, URLPolicy())
    check_address(address, URLPolicy(allow_private=True))


def test_blocked_cluster_ranges_stay_refused_even_when_private_addresses_are_allowed() -> None:
    policy = URLPolicy.of(allow_http=True, allow_private=True, blocked_cidrs=["10.96.0.0/12"])
    with pytest.raises(UnsafeURLError):
        check_address("10.96.0.10", policy)
    check_address("93.184.216.34", URLPolicy())


@pytest.mark.parametrize("url", ["http://example.com/", "ftp://example.com/",
                                 "https://u:p@example.com/", "https:///nohost",
                                 "https://example.com/#frag", "https://example.com:99999/"])
def test_bad_url_forms_are_refused(url: str) -> None:
    with pytest.raises(UnsafeURLError):
        parse(url, URLPolicy())


def test_transitions_are_recorded_with_increasing_seq_and_bounded_history() -> None:
    status: dict[str, object] = {}
    for index in range(KEEP + 3):
        status = recorded(status, {"phase": "Active"},
                          "cluster.created" if index == 0 else "cluster.updated", now=NOW)
    history = status["transitions"]
    assert isinstance(history, list) and len(history) == KEEP
    assert [h["seq"] for h in history] == list(range(4, KEEP + 4))
    # Not a contract event, or none: history carried over unchanged.
    assert recorded(status, {"phase": "Updating"}, "cluster.updating", now=NOW)[
        "transitions"] == history
    assert recorded(status, {}, None, now=NOW)["transitions"] == history


def test_a_cluster_history_starts_with_created_even_if_that_status_was_never_written() -> None:
    status = recorded(None, {"phase": "Active"}, "cluster.ready", now=NOW)
    assert [t["type"] for t in status["transitions"]] == ["cluster.created", "cluster.ready"]


def test_event_ids_are_deterministic_and_deleted_ids_depend_only_on_the_uid() -> None:
    body = {"metadata": {"name": "a", "namespace": "t", "uid": "u1"}, "spec": {
        "provider": "aws"}, "status": recorded(None, {"phase": "Creating"}, "cluster.created",
                                               now=NOW)}
    (event,) = events_of("HybridCluster", body)
    assert event.id == event_id("u1", 1, "cluster.created") == events_of(
        "HybridCluster", body)[0].id
    assert event.body() == {"id": event.id, "event": "cluster.created", "timestamp": NOW,
                            "data": {"cluster_id": "a", "name": "a", "provider": "aws",
                                     "status": "creating"}}
    gone = [deleted_event("HybridCluster", "t", "u1", "a", now=n) for n in (NOW, "later")]
    assert gone[0].id == gone[1].id != event.id


def test_retry_delays_grow_exponentially_with_jitter_and_a_cap() -> None:
    settings = DeliverySettings(policy=URLPolicy(), backoff_base=1.0, backoff_max=30.0)
    rng = random.Random(7)
    for attempt, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (10, 30.0)):
        delay = backoff(attempt, settings, rng)
        assert ceiling / 2 <= delay < ceiling

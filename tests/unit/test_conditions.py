"""Conditions keep transition times stable so that re-asserting them writes nothing."""

from __future__ import annotations

from hybridcloud import conditions
from hybridcloud.conditions import Desired


def test_new_conditions_get_the_current_time_and_generation() -> None:
    result = conditions.apply([], [Desired("Ready", False, "Creating", "waiting")],
                              generation=3, now="2025-01-01T00:00:00Z")
    assert result == [{"type": "Ready", "status": "False", "reason": "Creating",
                       "message": "waiting", "lastTransitionTime": "2025-01-01T00:00:00Z",
                       "observedGeneration": 3}]


def test_reasserting_the_same_status_keeps_the_transition_time() -> None:
    first = conditions.apply([], [Desired("Ready", True, "Active")], generation=1, now="T1")
    second = conditions.apply(first, [Desired("Ready", True, "Active")], generation=1, now="T2")
    assert second == first


def test_a_status_change_moves_the_transition_time() -> None:
    first = conditions.apply([], [Desired("Ready", True, "Active")], generation=1, now="T1")
    second = conditions.apply(first, [Desired("Ready", False, "Updating")], generation=2, now="T2")
    assert second[0]["lastTransitionTime"] == "T2"
    assert second[0]["observedGeneration"] == 2


def test_removed_conditions_disappear_and_order_is_stable() -> None:
    start = conditions.apply([], [Desired("Ready", False, "A"), Desired("Reconciling", True, "B"),
                                  Desired("Stalled", None, "C")], generation=1, now="T")
    after = conditions.apply(start, [Desired("Ready", True, "Done")], generation=1,
                             remove=["Reconciling"], now="T")
    assert [c["type"] for c in after] == ["Ready", "Stalled"]
    assert conditions.get(after, "Stalled") is not None
    assert conditions.is_true(after, "Ready") and not conditions.is_true(after, "Stalled")
    assert after[1]["status"] == "Unknown"

"""Member credential refresh timing (reconcile/credentials)."""

from __future__ import annotations

from datetime import UTC, datetime

from hybridcloud.reconcile.credentials import NEVER, next_pass, refresh_due, refresh_in


def test_a_credential_is_due_its_margin_before_it_expires() -> None:
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    assert refresh_due(expires, 600.0, now=0.0) == expires.timestamp() - 600.0


def test_a_credential_without_expiry_is_due_practically_never() -> None:
    assert refresh_due(None, 600.0, now=1000.0) == 1000.0 + NEVER


def test_a_credential_already_inside_its_margin_is_looked_at_again_after_a_second() -> None:
    assert refresh_in(due=50.0, now=100.0) == 1.0
    assert refresh_in(due=160.0, now=100.0) == 60.0


def test_the_next_pass_is_the_sooner_of_the_requeue_and_the_refresh() -> None:
    assert next_pass(None, 120.0) == 120.0
    assert next_pass(30.0, 120.0) == 30.0
    assert next_pass(300.0, 120.0) == 120.0

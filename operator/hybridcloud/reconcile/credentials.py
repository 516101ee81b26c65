"""When a member credential is refreshed: pure timing over the expiry the platform copy records.

``controllers/kubeconfigs.py`` reads and writes the Secrets; these functions decide.
"""

from __future__ import annotations

from datetime import datetime

# The refresh time of credentials that do not expire (client certificates without an expiry
# the provider tells, static tokens): effectively never, but still a number to compare.
NEVER = 10 * 365 * 86400.0
# The soonest a refresh is scheduled: a credential already inside its margin is replaced in
# this pass, and the next look must not spin.
MIN_WAIT = 1.0


def refresh_due(expires_at: datetime | None, margin: float, now: float) -> float:
    """Wall-clock time at which a credential expiring at ``expires_at`` is replaced: ``margin``
    seconds before it expires."""
    return expires_at.timestamp() - margin if expires_at is not None else now + NEVER


def refresh_in(due: float, now: float) -> float:
    """Seconds until the next refresh of a credential due at ``due``."""
    return max(MIN_WAIT, due - now)


def next_pass(requeue: float | None, refresh: float) -> float:
    """The cluster's next pass: its own requeue, or the credential refresh if that comes first
    (a converged cluster with no requeue still wakes up for it)."""
    return min(requeue or refresh, refresh)

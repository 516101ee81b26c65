"""Fixtures for the attacker suite; the session fixtures (management control plane, members,
namespaces) come from ``tests/conftest.py``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .attacker import RecordingServer, recording_server


@pytest.fixture
def attacker() -> Iterator[RecordingServer]:
    """A host the hostile tenant controls; it records every request it receives."""
    with recording_server() as server:
        yield server

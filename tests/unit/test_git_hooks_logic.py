"""Git push webhooks, the pure part: provider detection, signatures, payloads, URL matching."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from hybridcloud.delivery.githooks import (
    InvalidPayloadError,
    Provider,
    Push,
    parse_push,
    provider_of,
    repository_key,
    signature_valid,
    tracks,
)

BODY = b'{"ref": "refs/heads/main"}'
SECRET = b"s3cret"
DIGEST = hmac.new(SECRET, BODY, hashlib.sha256).hexdigest()
WRONG = DIGEST[:-1] + ("1" if DIGEST[-1] == "0" else "0")


def test_gitea_is_recognised_before_the_github_headers_it_also_sends() -> None:
    assert provider_of({"x-gitea-event": "push", "x-github-event": "push"}) == Provider.GITEA
    assert provider_of({"x-github-event": "push"}) == Provider.GITHUB
    assert provider_of({"x-gitlab-event": "Push Hook"}) == Provider.GITLAB
    assert provider_of({"x-hub-signature-256": "sha256=00"}) is None


@pytest.mark.parametrize(("provider", "headers", "valid"), [
    (Provider.GITHUB, {"x-hub-signature-256": f"sha256={DIGEST}"}, True),
    (Provider.GITHUB, {"x-hub-signature-256": f"sha256={DIGEST.upper()}"}, True),
    (Provider.GITHUB, {"x-hub-signature-256": f"sha256={WRONG}"}, False),
    (Provider.GITHUB, {"x-hub-signature-256": DIGEST}, False),
    (Provider.GITHUB, {"x-hub-signature": "sha1=abc"}, False),
    (Provider.GITEA, {"x-gitea-signature": DIGEST}, True),
    (Provider.GITEA, {"x-gitea-signature": WRONG}, False),
    (Provider.GITEA, {"x-gitea-signature": "sha256=" + DIGEST}, False),
    (Provider.GITLAB, {"x-gitlab-token": "s3cret"}, True),
    (Provider.GITLAB, {"x-gitlab-token": "s3cre"}, False),
    (Provider.GITLAB, {}, False),
])
def test_signatures_and_tokens_are_checked_against_the_providers_secret(
        provider: Provider, headers: dict[str, str], valid: bool) -> None:
    assert signature_valid(provider, headers, BODY, SECRET) is valid


def test_no_configured_secret_accepts_nothing_not_even_an_empty_signature() -> None:
    empty = hmac.new(b"", BODY, hashlib.sha256).hexdigest()
    assert not signature_valid(Provider.GITHUB, {"x-hub-signature-256": f"sha256={empty}"},
                               BODY, None)
    assert not signature_valid(Provider.GITLAB, {"x-gitlab-token": ""}, BODY, b"")


@pytest.mark.parametrize("url", [
    "https://github.com/org/app.git", "https://GitHub.com/Org/App", "http://github.com/org/app/",
    "ssh://git@github.com/org/app.git", "ssh://git@github.com:22/org/app",
    "git@github.com:org/app.git", "github.com:org/app", "git://github.com/org/app.git",
    "https://github.com:443/org/app.git/",
])
def test_repository_urls_in_every_form_normalise_to_one_key(url: str) -> None:
    assert repository_key(url) == "github.com/org/app"


def test_different_repositories_and_non_urls_do_not_collide() -> None:
    assert repository_key("https://github.com/org/app-2") != repository_key(
        "https://github.com/org/app")
    assert repository_key("https://gitlab.com/org/app") != repository_key(
        "https://github.com/org/app")
    assert repository_key("https://github.com/group/sub/app.git") == "github.com/group/sub/app"
    assert repository_key("file:///srv/git/app.git") == "/srv/git/app"
    assert repository_key("https://github.com/") is None


def test_github_gitlab_and_gitea_payloads_give_ref_repository_and_default_branch() -> None:
    github = parse_push(Provider.GITHUB, {
        "ref": "refs/heads/main", "repository": {
            "clone_url": "https://github.com/org/app.git", "ssh_url": "git@github.com:org/app.git",
            "default_branch": "main"}})
    assert github == Push(frozenset({"github.com/org/app"}), "refs/heads/main", "main")
    gitlab = parse_push(Provider.GITLAB, json.loads(json.dumps({
        "ref": "refs/tags/v1", "project": {"git_http_url": "https://gitlab.com/g/app.git",
                                           "git_ssh_url": "git@gitlab.com:g/app.git",
                                           "default_branch": "trunk"}})))
    assert gitlab == Push(frozenset({"gitlab.com/g/app"}), "refs/tags/v1", "trunk")


@pytest.mark.parametrize(("payload", "field"), [
    ([], "body"), ({"ref": "main"}, "ref"), ({"ref": 7}, "ref"),
    ({"ref": "refs/heads/main"}, "repository"),
    ({"ref": "refs/heads/main", "repository": {"clone_url": "https://x.example/"}}, "repository"),
])
def test_a_payload_without_ref_or_repository_names_the_field(payload: object,
                                                             field: str) -> None:
    with pytest.raises(InvalidPayloadError) as raised:
        parse_push(Provider.GITHUB, payload)
    assert raised.value.field == field


PUSH_MAIN = Push(frozenset({"github.com/org/app"}), "refs/heads/main", "main")
PUSH_TAG = Push(frozenset({"github.com/org/app"}), "refs/tags/v1.2", None)


@pytest.mark.parametrize(("push", "repository", "revision", "refreshed"), [
    (PUSH_MAIN, "git@github.com:org/app.git", "main", True),
    (PUSH_MAIN, "https://github.com/org/app", "refs/heads/main", True),
    (PUSH_MAIN, "https://github.com/org/app", "HEAD", True),
    (PUSH_MAIN, "https://github.com/org/app", "release", False),
    (PUSH_MAIN, "https://github.com/org/other", "main", False),
    (PUSH_MAIN, "https://github.com/org/app", "4b825dc642cb6eb9a060e54bf8d69288fbee4904", False),
    (PUSH_MAIN, "https://github.com/org/app", "v1.2", False),
    (PUSH_TAG, "https://github.com/org/app", "v1.2", True),
    (PUSH_TAG, "https://github.com/org/app", "refs/tags/v1.2", True),
    (PUSH_TAG, "https://github.com/org/app", "HEAD", False),
    (PUSH_TAG, "https://github.com/org/app", "main", False),
    (Push(frozenset({"github.com/org/app"}), "refs/heads/dev", "main"),
     "https://github.com/org/app", "HEAD", False),
])
def test_exactly_the_apps_tracking_the_pushed_repository_and_branch_or_tag_are_refreshed(
        push: Push, repository: str, revision: str, refreshed: bool) -> None:
    assert tracks(push, repository, revision) is refreshed

"""Git access control for applications: mirrors are not shared across credentials, refused
authentication is explained, credentials never show in reprs, nothing waits for a prompt."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hybridcloud.delivery.credentials import select_key, uses_ssh
from hybridcloud.delivery.git import GitCache, GitCredentials, SourceError
from hybridcloud.delivery.git_errors import explain_refusal as _explain_refusal

TOKEN = "tok-3f9a7c1e5b"
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAb3BlbnNzaC1rZXktdjEkeymaterial\n-----END-----"


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    work, bare = tmp_path / "work", tmp_path / "origin.git"
    git(tmp_path, "init", "--bare", "--quiet", "--initial-branch=main", str(bare))
    git(tmp_path, "init", "--quiet", "--initial-branch=main", str(work))
    (work / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n")
    git(work, "add", ".")
    git(work, "commit", "--quiet", "-m", "one")
    git(work, "push", "--quiet", str(bare), "main")
    return bare


# -- one mirror, many callers ----------------------------------------------------------------

def test_a_fresh_mirror_is_reused_only_with_the_same_credentials(origin: Path,
                                                                 tmp_path: Path) -> None:
    cache = GitCache(tmp_path / "cache", allow_local=True)
    url = f"file://{origin}"
    with_token = GitCredentials(token=TOKEN)
    sha = asyncio.run(cache.resolve(url, "main", with_token, max_age=600))
    shutil.rmtree(origin)  # from now on every real fetch fails
    assert asyncio.run(cache.resolve(url, "main", GitCredentials(token=TOKEN),
                                     max_age=600)) == sha, "same credentials: the fetch is fresh"
    for other in (None, GitCredentials(token="another-token"),
                  GitCredentials(token=TOKEN, username="someone-else")):
        with pytest.raises(SourceError, match=r"git (ls-remote|fetch) failed"):
            asyncio.run(cache.resolve(url, "main", other, max_age=600))


def test_credentials_are_told_apart_without_showing_them() -> None:
    first, second = GitCredentials(token=TOKEN), GitCredentials(token=TOKEN + "x")
    assert first.identity() != second.identity()
    assert first.identity() == GitCredentials(token=TOKEN).identity()
    assert TOKEN not in first.identity()
    shown = repr(GitCredentials(token=TOKEN, ssh_private_key=KEY, username="robot"))
    assert TOKEN not in shown and "keymaterial" not in shown and "robot" in shown


# -- refused authentication ------------------------------------------------------------------

URL = "https://git.example.com/team/private.git"


@pytest.mark.parametrize("stderr", [
    "fatal: could not read Username for 'https://git.example.com': terminal prompts disabled",
    "remote: HTTP Basic: Access denied\nfatal: Authentication failed for 'https://git…'",
    "git@git.example.com: Permission denied (publickey).\nfatal: Could not read from remote",
    "fatal: unable to access 'https://git.example.com/x/': The requested URL returned error: 403",
])
def test_refused_access_without_credentials_says_to_set_a_secret_ref(stderr: str) -> None:
    error = _explain_refusal(SourceError(f"git fetch failed: {stderr}"), URL, GitCredentials())
    assert error.reason == "AuthenticationFailed"
    assert str(error) == (f"{URL} requires authentication: set spec.source.secretRef to a Secret"
                          " with key `token` (HTTPS) or `sshPrivateKey` (SSH)")


def test_rejected_credentials_are_named_without_their_value() -> None:
    detail = "fatal: Authentication failed for 'https://git.example.com/team/private.git/'"
    error = _explain_refusal(SourceError(f"git fetch failed: {detail}"),
                             "https://robot:" + TOKEN + "@git.example.com/team/private.git",
                             GitCredentials(token=TOKEN))
    assert error.reason == "AuthenticationFailed"
    assert str(error).startswith("https://***@git.example.com/team/private.git refused the "
                                 "credentials in the Secret of spec.source.secretRef (fatal:")
    assert TOKEN not in str(error)


def test_a_host_key_mismatch_points_at_known_hosts() -> None:
    error = _explain_refusal(SourceError("git fetch failed: Host key verification failed."),
                             "ssh://git@git.example.com/x.git",
                             GitCredentials(ssh_private_key=KEY, known_hosts="h ssh-ed25519 A"))
    assert "does not match `knownHosts`" in str(error)
    assert error.reason == "AuthenticationFailed"


def test_other_failures_are_left_as_they_are() -> None:
    original = SourceError("git fetch failed: fatal: unable to access: Could not resolve host")
    assert _explain_refusal(original, URL, GitCredentials(token=TOKEN)) is original


def test_ssh_never_waits_for_a_prompt_even_without_a_key(tmp_path: Path) -> None:
    with GitCache(tmp_path / "cache", allow_local=True)._environment(GitCredentials()) as env:
        assert "BatchMode=yes" in env["GIT_SSH_COMMAND"]
        assert "StrictHostKeyChecking=yes" in env["GIT_SSH_COMMAND"]
    cache = GitCache(tmp_path / "cache", allow_local=True)
    with cache._environment(GitCredentials(ssh_private_key=KEY)) as env:
        assert "BatchMode=yes" in env["GIT_SSH_COMMAND"]


# -- secretRef.key ------------------------------------------------------------------------------

@pytest.mark.parametrize(("repository", "ssh"), [
    ("https://git.example.com/team/app.git", False),
    ("ssh://git@git.example.com/team/app.git", True),
    ("git@git.example.com:team/app.git", True),
    ("file:///srv/git/app.git", False),
])
def test_a_secret_ref_key_names_the_entry_holding_the_token_or_the_ssh_key(
        repository: str, ssh: bool) -> None:
    data = {"deploy-credential": KEY if ssh else TOKEN, "username": "robot",
            "knownHosts": "git.example.com ssh-ed25519 AAAA", "token": "an-old-token"}
    credentials = GitCredentials.from_secret(
        select_key(data, "repo-access", "deploy-credential", repository))
    assert uses_ssh(repository) is ssh
    if ssh:
        assert credentials.ssh_private_key == KEY and credentials.token is None
    else:
        assert credentials.token == TOKEN and credentials.ssh_private_key is None
    assert credentials.username == "robot"


def test_a_missing_secret_ref_key_names_the_expected_key_but_neither_keys_present_nor_values(
) -> None:
    with pytest.raises(SourceError) as error:
        select_key({"token": TOKEN, "private-note": "x", "username": "robot"}, "repo-access",
                   "pat", "https://git.example.com/app.git")
    message = str(error.value)
    assert message == "spec.source.secretRef.key: Secret repo-access has no key 'pat'"
    assert "private-note" not in message and TOKEN not in message

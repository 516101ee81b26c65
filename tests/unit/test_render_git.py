"""Git sources with real git: revisions resolve to SHAs, trees export, secrets never leak."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from hybridcloud.delivery.git import GitCache, GitCredentials, SourceError, redact


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    """A work tree pushing to a bare repository reachable as file://."""
    work, bare = tmp_path / "work", tmp_path / "app.git"
    git(tmp_path, "init", "--bare", "--quiet", "--initial-branch=main", str(bare))
    git(tmp_path, "init", "--quiet", "--initial-branch=main", str(work))
    (work / "k8s").mkdir()
    (work / "k8s" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n")
    git(work, "add", ".")
    git(work, "commit", "--quiet", "-m", "one")
    git(work, "tag", "v1")
    git(work, "push", "--quiet", str(bare), "main", "v1")
    return work, f"file://{bare}"


def commit(work: Path, bare: str, name: str) -> str:
    (work / "k8s" / name).write_text("x: 1\n")
    git(work, "add", ".")
    git(work, "commit", "--quiet", "-m", name)
    git(work, "push", "--quiet", bare.removeprefix("file://"), "main")
    return git(work, "rev-parse", "HEAD")


def test_branches_tags_head_and_shas_resolve_to_commits(repo: tuple[Path, str],
                                                        tmp_path: Path) -> None:
    work, url = repo
    first = git(work, "rev-parse", "HEAD")
    cache = GitCache(tmp_path / "cache", allow_local=True)

    async def run() -> None:
        assert await cache.resolve(url, "main") == first
        assert await cache.resolve(url, "HEAD") == first
        assert await cache.resolve(url, "v1") == first
        assert await cache.resolve(url, first[:10]) == first
        second = commit(work, url, "two.yaml")
        assert await cache.resolve(url, "main", max_age=3600) == first, "fetch is cached"
        assert await cache.resolve(url, "main") == second
        assert await cache.resolve(url, "v1") == first

    asyncio.run(run())


def test_export_returns_the_path_at_that_commit(repo: tuple[Path, str], tmp_path: Path) -> None:
    work, url = repo
    cache = GitCache(tmp_path / "cache", allow_local=True)

    async def run() -> None:
        first = await cache.resolve(url, "main")
        second = commit(work, url, "two.yaml")
        await cache.resolve(url, "main")
        old = await cache.export(url, first, "k8s")
        new = await cache.export(url, second, "k8s")
        assert sorted(p.name for p in old.iterdir()) == ["cm.yaml"]
        assert sorted(p.name for p in new.iterdir()) == ["cm.yaml", "two.yaml"]
        with pytest.raises(SourceError, match=r"source\.path 'nope' does not exist") as error:
            await cache.export(url, second, "nope")
        assert error.value.reason == "PathNotFound"

    asyncio.run(run())


def test_a_missing_revision_is_a_clear_error(repo: tuple[Path, str], tmp_path: Path) -> None:
    _, url = repo
    with pytest.raises(SourceError, match="revision 'release-9' not found") as error:
        asyncio.run(GitCache(tmp_path / "cache", allow_local=True).resolve(url, "release-9"))
    assert error.value.reason == "RevisionNotFound"


def test_an_unreachable_repository_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"git (ls-remote|fetch) failed"):
        asyncio.run(GitCache(tmp_path / "cache", allow_local=True).resolve(
            f"file://{tmp_path}/none.git", "main"))


@pytest.mark.parametrize(("url", "revision"), [("--upload-pack=evil", "main"),
                                               ("file:///x.git", "--output=/tmp/x")])
def test_option_like_arguments_are_refused(tmp_path: Path, url: str, revision: str) -> None:
    with pytest.raises(SourceError) as error:
        asyncio.run(GitCache(tmp_path / "cache", allow_local=True).resolve(url, revision))
    assert error.value.reason == "InvalidSource"


def test_command_running_transports_are_refused(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(SourceError):
        asyncio.run(GitCache(tmp_path / "cache", allow_local=True).resolve(
            f"ext::sh -c touch% {marker}", "main"))
    assert not marker.exists()


def test_the_token_reaches_git_through_askpass_only(tmp_path: Path) -> None:
    cache = GitCache(tmp_path / "cache", allow_local=True)
    credentials = GitCredentials(token="s3cr3t-token-value", username="robot")
    with cache._environment(credentials) as env:
        assert "s3cr3t-token-value" not in env["GIT_ASKPASS"]
        ask = [env["GIT_ASKPASS"]]
        user = subprocess.run([*ask, "Username for 'https://h': "], env=env, capture_output=True,
                              text=True, check=True).stdout.strip()
        password = subprocess.run([*ask, "Password for 'https://robot@h': "], env=env,
                                  capture_output=True, text=True, check=True).stdout.strip()
    assert (user, password) == ("robot", "s3cr3t-token-value")
    assert not any((tmp_path / "cache").glob("git-auth-*")), "scratch files are removed"


def test_an_ssh_key_is_used_from_a_private_file(tmp_path: Path) -> None:
    cache = GitCache(tmp_path / "cache", allow_local=True)
    key = ("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAkeymaterial123\n"
           "-----END OPENSSH PRIVATE KEY-----")
    with cache._environment(GitCredentials(ssh_private_key=key, known_hosts="h ssh-ed25519 AA"),
                            ) as env:
        command = env["GIT_SSH_COMMAND"]
        key_file = Path(command.split("-i ")[1].split()[0])
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert "AAAAkeymaterial123" not in command and "StrictHostKeyChecking=yes" in command
    assert not key_file.exists()


def test_secrets_and_url_credentials_are_redacted() -> None:
    text = "fatal: https://user:pw@host/x.git said tok123456789 and line AAAAkeymaterial123"
    cleaned = redact(text, ["tok123456789", "-----BEGIN-----\nAAAAkeymaterial123\n-----END-----"])
    assert cleaned == "fatal: https://***@host/x.git said *** and line ***"

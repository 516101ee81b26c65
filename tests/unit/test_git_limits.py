"""Git sources are bounded: mirror size, exported tree size and file count, time; a failed
export leaves no staging folder behind. Real git, local repositories."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from hybridcloud.delivery.git import GitCache, SourceError
from hybridcloud.delivery.gitlimits import GitLimits

from .test_render_git import git


def origin(tmp_path: Path, files: dict[str, bytes], links: dict[str, str] | None = None) -> str:
    work, bare = tmp_path / "work", tmp_path / "app.git"
    git(tmp_path, "init", "--bare", "--quiet", "--initial-branch=main", str(bare))
    git(tmp_path, "init", "--quiet", "--initial-branch=main", str(work))
    for name, data in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_bytes(data)
    for name, target in (links or {}).items():
        os.symlink(target, work / name)
    git(work, "add", ".")
    git(work, "commit", "--quiet", "-m", "one")
    git(work, "push", "--quiet", str(bare), "main")
    return f"file://{bare}"


def test_a_repository_over_the_fetch_limit_is_refused_and_dropped(tmp_path: Path) -> None:
    url = origin(tmp_path, {"big.bin": os.urandom(3 * 2**20)})
    cache = GitCache(tmp_path / "cache", allow_local=True,
                     limits=GitLimits(max_fetch_bytes=2**20))
    with pytest.raises(SourceError) as error:
        asyncio.run(cache.resolve(url, "main"))
    assert error.value.reason == "LimitExceeded"
    assert "HYBRIDCLOUD_OPERATOR_GIT_MAX_FETCH_BYTES=1048576" in str(error.value)
    assert not list((tmp_path / "cache" / "repos").glob("*.git")), "the partial mirror is gone"


@pytest.mark.parametrize(("limits", "setting"), [
    (GitLimits(max_tree_files=3), "GIT_MAX_TREE_FILES=3"),
    (GitLimits(max_tree_bytes=1000), "GIT_MAX_TREE_BYTES=1000"),
])
def test_an_export_over_the_tree_limits_is_refused_before_extracting(
        tmp_path: Path, limits: GitLimits, setting: str) -> None:
    url = origin(tmp_path, {f"f{i}.yaml": b"x" * 400 for i in range(4)})
    cache = GitCache(tmp_path / "cache", allow_local=True, limits=limits)

    async def run() -> None:
        sha = await cache.resolve(url, "main")
        with pytest.raises(SourceError) as error:
            await cache.export(url, sha, ".")
        assert error.value.reason == "LimitExceeded" and setting in str(error.value)
        assert not cache.tree(url, sha).exists()
        assert not any(cache.tree(url, sha).parent.glob("*")), "nothing was written"

    asyncio.run(run())


def test_a_symlink_leaving_the_repository_fails_the_export_and_leaves_nothing(
        tmp_path: Path) -> None:
    url = origin(tmp_path, {"k8s/cm.yaml": b"a: 1\n"}, {"k8s/passwd": "/etc/passwd"})
    cache = GitCache(tmp_path / "cache", allow_local=True)

    async def run() -> None:
        sha = await cache.resolve(url, "main")
        with pytest.raises(SourceError) as error:
            await cache.export(url, sha, "k8s")
        assert error.value.reason == "InvalidSource"
        assert "k8s/passwd" in str(error.value) and "outside the repository" in str(error.value)
        assert list(cache.tree(url, sha).parent.iterdir()) == [], "no staging folder leaked"

    asyncio.run(run())


def test_a_local_repository_is_refused_unless_allowed(tmp_path: Path) -> None:
    url = origin(tmp_path, {"cm.yaml": b"a: 1\n"})
    with pytest.raises(SourceError) as error:
        asyncio.run(GitCache(tmp_path / "cache").resolve(url, "main"))
    assert error.value.reason == "InvalidSource"
    assert str(error.value).startswith("spec.source.repository: local repositories")
    assert not (tmp_path / "cache" / "repos").exists()

"""Git fetch cost with real git: one ``ls-remote`` per repository and interval however many
applications share it, a fetch only when the refs moved, and no mirror shared across
credentials without the other caller's own request. A ``git`` wrapper on PATH counts what the
cache runs."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections import Counter
from pathlib import Path

import pytest

from hybridcloud.delivery.git import GitCache, GitCredentials

from .test_render_git import commit, git


@pytest.fixture
def counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``git`` on PATH that logs its subcommand, then runs the real git."""
    real = shutil.which("git")
    assert real is not None
    bindir = tmp_path / "counting-bin"
    bindir.mkdir()
    log = tmp_path / "git-calls.log"
    wrapper = bindir / "git"
    wrapper.write_text(f'#!/bin/sh\necho "$1" >> {log}\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    log.touch()
    return log


def calls(log: Path) -> Counter[str]:
    counts = Counter(log.read_text().split())
    log.write_text("")
    return counts


def repositories(tmp_path: Path, count: int) -> list[tuple[Path, str]]:
    made = []
    for index in range(count):
        work, bare = tmp_path / f"work-{index}", tmp_path / f"repo-{index}.git"
        git(tmp_path, "init", "--bare", "--quiet", "--initial-branch=main", str(bare))
        git(tmp_path, "init", "--quiet", "--initial-branch=main", str(work))
        (work / "k8s").mkdir()
        made.append((work, f"file://{bare}"))
        commit(work, f"file://{bare}", "first.yaml")
    return made


def test_applications_sharing_repositories_cost_one_ls_remote_per_repository_and_interval(
        tmp_path: Path, counted: Path) -> None:
    repos = repositories(tmp_path, 3)
    cache = GitCache(tmp_path / "cache", allow_local=True)
    interval = 3.0  # generous: the shared machine may take a second per round

    async def poll_round() -> list[str]:
        # 30 applications over 3 repositories, resolved concurrently as the workers would.
        return await asyncio.gather(*(cache.resolve(repos[i % 3][1], "main", max_age=interval)
                                      for i in range(30)))

    async def run() -> None:
        await poll_round()
        first = calls(counted)
        assert first["ls-remote"] == 3 and first["fetch"] == 3
        await poll_round()
        assert calls(counted)["ls-remote"] == 0, "within the interval nothing asks the server"
        await asyncio.sleep(interval)
        await poll_round()
        unchanged = calls(counted)
        assert unchanged["ls-remote"] == 3 and unchanged["fetch"] == 0, unchanged
        moved = commit(repos[1][0], repos[1][1], "second.yaml")
        await asyncio.sleep(interval)
        answers = await poll_round()
        after_push = calls(counted)
        assert after_push["ls-remote"] == 3 and after_push["fetch"] == 1, after_push
        assert answers[1] == moved and answers[4] == moved

    asyncio.run(run())


def test_a_forced_refresh_is_answered_by_any_ls_remote_started_after_it_was_asked(
        tmp_path: Path, counted: Path) -> None:
    [(work, url)] = repositories(tmp_path, 1)
    cache = GitCache(tmp_path / "cache", allow_local=True)

    async def run() -> None:
        await cache.resolve(url, "main", max_age=3600)
        calls(counted)
        pushed = commit(work, url, "pushed.yaml")
        assert await cache.resolve(url, "main", max_age=3600) != pushed, "cached, not asked"
        asked = time.monotonic()
        results = await asyncio.gather(*(cache.resolve(url, "main", max_age=3600,
                                                       not_before=asked) for _ in range(20)))
        assert set(results) == {pushed}
        assert calls(counted)["ls-remote"] == 1, "twenty forced refreshes share one request"

    asyncio.run(run())


def test_answered_callers_and_exported_trees_do_not_wait_behind_the_repositorys_git_rounds(
        tmp_path: Path) -> None:
    """While the repository's lock is held (an ls-remote round or another commit's export in
    progress), a caller the last answer satisfies gets its commit and an exported tree its
    path at once; only a refresh asked for after that answer waits for the lock. Before,
    every application of a pushed repository queued there one after another (issue 19)."""
    [(_, url)] = repositories(tmp_path, 1)
    cache = GitCache(tmp_path / "cache", allow_local=True)

    async def run() -> None:
        sha = await cache.resolve(url, "main", max_age=3600)
        await cache.export(url, sha, "k8s")
        async with cache._lock(url):  # a git round of this repository in progress
            assert await asyncio.wait_for(cache.resolve(url, "main", max_age=3600), 10) == sha
            exported = await asyncio.wait_for(cache.export(url, sha, "k8s"), 10)
            assert (exported / "first.yaml").is_file()
            forced = asyncio.ensure_future(cache.resolve(url, "main", max_age=3600,
                                                         not_before=time.monotonic()))
            await asyncio.sleep(0.3)
            assert not forced.done(), "a forced refresh still waits for the running round"
        assert await asyncio.wait_for(forced, 30) == sha

    asyncio.run(run())


def test_a_mirror_filled_with_one_credential_is_not_reused_without_the_callers_own_request(
        tmp_path: Path, counted: Path) -> None:
    [(_, url)] = repositories(tmp_path, 1)
    cache = GitCache(tmp_path / "cache", allow_local=True)
    other = GitCredentials(token="another-tenants-token")

    async def run() -> None:
        await cache.resolve(url, "main", max_age=3600)
        calls(counted)
        assert not cache.answers(url, other, max_age=3600)
        await cache.resolve(url, "main", other, max_age=3600)
        own = calls(counted)
        assert own["ls-remote"] == 1 and own["fetch"] == 0, own
        assert cache.answers(url, other, max_age=3600)

    asyncio.run(run())


def test_a_repository_the_caller_can_no_longer_reach_is_not_answered_from_the_mirror(
        tmp_path: Path, counted: Path) -> None:
    [(_, url)] = repositories(tmp_path, 1)
    cache = GitCache(tmp_path / "cache", allow_local=True)

    async def run() -> None:
        await cache.resolve(url, "main", max_age=0.2)
        shutil.rmtree(url.removeprefix("file://"))
        await asyncio.sleep(0.2)
        with pytest.raises(Exception, match="ls-remote"):
            await cache.resolve(url, "main", max_age=0.2)

    asyncio.run(run())


def test_branches_and_annotated_tags_resolve_from_the_advertised_refs_without_a_git_process(
        tmp_path: Path, counted: Path) -> None:
    [(work, url)] = repositories(tmp_path, 1)
    head = git(work, "rev-parse", "HEAD")
    git(work, "tag", "-a", "v2", "-m", "annotated")
    git(work, "push", "--quiet", url.removeprefix("file://"), "v2")
    cache = GitCache(tmp_path / "cache", allow_local=True)

    async def run() -> None:
        assert await cache.resolve(url, "v2", max_age=3600) == head, "peeled to the commit"
        calls(counted)
        for revision in ("main", "v2", "HEAD", "refs/heads/main") * 5:
            assert await cache.resolve(url, revision, max_age=3600) == head
        assert calls(counted) == Counter(), "answered from memory"
        assert await cache.resolve(url, head[:12], max_age=3600) == head  # SHAs: the mirror

    asyncio.run(run())

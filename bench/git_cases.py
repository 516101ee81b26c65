"""Git cases (issue 19): commit to fleet (``bench/commit_fleet.py``) and git fetch cost.

Git fetch cost: 1,000 applications over 50 repositories resolved the way the operator's workers
resolve them (``ApplicationSources.resolve``, the per-application cache and the shared
per-repository snapshot of ``GitCache``), through several poll intervals, with a ``git`` wrapper
on PATH counting what really runs. Figures: requests to the git servers per interval (target:
one ``ls-remote`` per repository), fetches after pushes to some repositories (only those), the
disk the mirrors take against the repositories themselves, and one resync round of every
application answered from the mirrors. Baseline: one request per application and interval (what
polling each application's source costs).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any, cast

from lightkube import AsyncClient

from hybridcloud.controllers.app_sources import ApplicationSources
from hybridcloud.controllers.config import OperatorConfig
from hybridcloud.models.application import HybridApplicationSpec

from . import commit_fleet
from .report import Result

_GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
            "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **_GIT_ENV}, check=True,
                          capture_output=True, text=True).stdout.strip()


def folder_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _repository(root: Path, index: int) -> tuple[Path, Path]:
    work, bare = root / f"work-{index}", root / f"repo-{index}.git"
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    git(root, "init", "--quiet", "--initial-branch=main", str(work))
    for n in range(5):
        (work / f"cm-{n}.yaml").write_text(
            f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{n}}}\ndata: {{n: '{n}'}}\n")
    commit(work, bare, "first")
    return work, bare


def commit(work: Path, bare: Path, message: str) -> None:
    (work / "marker").write_text(message)
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", message)
    git(work, "push", "--quiet", str(bare), "main")


def _counting_git(root: Path) -> tuple[Path, dict[str, str]]:
    """A ``git`` that logs its subcommand before running the real one, and the PATH using it."""
    real = shutil.which("git")
    assert real is not None
    bindir = root / "counting-bin"
    bindir.mkdir()
    log = root / "git-calls.log"
    log.touch()
    (bindir / "git").write_text(f'#!/bin/sh\necho "$1" >> {log}\nexec {real} "$@"\n')
    (bindir / "git").chmod(0o755)
    return log, {"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}


def _drain(log: Path) -> Counter[str]:
    counts = Counter(log.read_text().split())
    log.write_text("")
    return counts


async def _fetch_cost(root: Path, applications: int, repositories: int,
                      interval: float) -> list[Result]:
    repos = [_repository(root, i) for i in range(repositories)]
    log, path_env = _counting_git(root)
    saved_path = os.environ["PATH"]
    os.environ.update(path_env)
    config = OperatorConfig(delivery_dir=root / "delivery", git_interval=interval,
                            allow_local_sources=True, git_fetches_per_namespace=4)
    # Public repositories: the client would only be used to read a secretRef's Secret.
    sources = ApplicationSources(cast(AsyncClient, None), config)
    apps: list[tuple[tuple[str, str], dict[str, Any], HybridApplicationSpec]] = []
    for i in range(applications):
        spec = HybridApplicationSpec.model_validate({
            "source": {"repository": f"file://{repos[i % repositories][1]}", "revision": "main"},
            "placement": [{"cluster": "east"}]})
        apps.append(((f"tenant-{i % 10}", f"app-{i}"), {"metadata": {"annotations": {}}}, spec))

    async def resync_round() -> None:
        """Every application's resolve, as the workers run it (busy slots: come back)."""
        pending = list(apps)
        while pending:
            outcomes = await asyncio.gather(*(sources.resolve(k, b, s) for k, b, s in pending),
                                            return_exceptions=True)
            pending = [app for app, outcome in zip(pending, outcomes, strict=True)
                       if isinstance(outcome, Exception)]
            if pending:
                await asyncio.sleep(0.05)

    try:
        await resync_round()  # mirrors cloned: the first fetch of each repository
        cold = _drain(log)
        per_interval: list[int] = []
        round_seconds: list[float] = []
        intervals = 3
        for _ in range(intervals):
            ends = time.monotonic() + interval
            while time.monotonic() < ends:  # resyncs keep coming during the interval
                started = time.monotonic()
                await resync_round()
                round_seconds.append(time.monotonic() - started)
                await asyncio.sleep(interval / 4)
            calls = _drain(log)
            per_interval.append(calls["ls-remote"] + calls["fetch"])
        moved = max(1, repositories // 10)
        for work, bare in repos[:moved]:
            commit(work, bare, "moved")
        await asyncio.sleep(interval)
        await resync_round()
        after_push = _drain(log)
    finally:
        os.environ["PATH"] = saved_path
    mirrors = folder_bytes(root / "delivery" / "git" / "repos")
    originals = sum(folder_bytes(bare) for _, bare in repos)
    steady = sorted(per_interval)[len(per_interval) // 2]
    params = {"applications": applications, "repositories": repositories,
              "git_interval_s": interval, "intervals": intervals}
    return [
        Result("git_requests_per_interval", steady, "requests", float(applications),
               {**params, "cold_ls_remote": cold["ls-remote"], "cold_fetch": cold["fetch"],
                "per_interval": per_interval,
                "baseline": "one request per application and interval"},
               target=f"= {repositories} (one ls-remote per repository)"),
        Result("git_fetches_after_push", after_push["fetch"], "fetches", float(moved),
               {**params, "pushed_repositories": moved,
                "ls_remote": after_push["ls-remote"],
                "baseline": "repositories that were pushed to"},
               target="= pushed repositories"),
        Result("git_mirror_disk_bytes", mirrors, "bytes", float(originals),
               {**params, "baseline": "the bare repositories themselves"},
               target="<= 1.2x baseline"),
        Result("git_resync_round_seconds", sorted(round_seconds)[len(round_seconds) // 2], "s",
               None, {**params, "rounds": len(round_seconds),
                      "what": "resolve of every application, answered from the mirrors"}),
    ]


async def run(workdir: Path, scale: float) -> list[Result]:
    """``BENCH_GIT_CASES`` (comma-separated: ``fetch``, ``commit``; both by default) runs only
    some of the cases, e.g. commit to fleet alone while working on it."""
    cases = set(filter(None, os.environ.get("BENCH_GIT_CASES", "fetch,commit").split(",")))
    applications = max(50, int(1000 * scale))
    repositories = max(5, int(50 * scale))
    results: list[Result] = []
    if "fetch" in cases:
        results += await _fetch_cost(workdir / "fetch-cost", applications, repositories,
                                     interval=max(3.0, 10.0 * scale))
    if "commit" not in cases:
        return results
    try:
        results += await asyncio.to_thread(commit_fleet.run, workdir / "commit-fleet", scale)
    except (TimeoutError, OSError, subprocess.SubprocessError) as exc:
        # Say why in the table rather than lose the fetch-cost figures measured above.
        results.append(Result("commit_to_fleet_webhook_p50_s", None, "s",
                              note=f"did not complete: {type(exc).__name__}: {exc}"))
    return results

"""A refresh token shared by the applications one push refreshes (issue 19) shortens their
wait only within one namespace: a hostile tenant cannot make another tenant's refresh accept a
Git answer from before the push. Real git, the operator's own ApplicationSources."""

from __future__ import annotations

from pathlib import Path

from hybridcloud.controllers.app_sources import REFRESH_ANNOTATION
from tests.unit.test_refresh_per_push import app_body, resolve_app, sources_for
from tests.unit.test_render_git import commit, git


def _repository(tmp_path: Path) -> tuple[Path, str]:
    work, bare = tmp_path / "work", tmp_path / "shared.git"
    git(tmp_path, "init", "--bare", "--quiet", "--initial-branch=main", str(bare))
    git(tmp_path, "init", "--quiet", "--initial-branch=main", str(work))
    (work / "k8s").mkdir()
    commit(work, f"file://{bare}", "first.yaml")
    return work, f"file://{bare}"


async def test_a_refresh_token_another_namespace_saw_first_does_not_let_a_stale_answer_count(
        tmp_path: Path) -> None:
    """Tokens are shared per namespace only: a tenant that puts the token of a coming push on
    its own application early cannot make another tenant's refresh accept an answer from
    before that push."""
    work, url = _repository(tmp_path)
    sources = sources_for(tmp_path)
    token = "git-push:guessed"
    attacker = app_body("tenant-b", "early", url, token)
    sources.observe(("tenant-b", "early"), attacker)
    before = await resolve_app(sources, attacker)  # the server asked before the push
    pushed = commit(work, url, "pushed.yaml")
    victim = app_body("tenant-a", "shop", url, None)
    await resolve_app(sources, victim)
    victim["metadata"]["annotations"][REFRESH_ANNOTATION] = token
    sources.observe(("tenant-a", "shop"), victim)
    assert await resolve_app(sources, victim) == pushed != before

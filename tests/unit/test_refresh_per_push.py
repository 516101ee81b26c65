"""A Git push refreshes the applications tracking it with one ``ls-remote``, however spread out
the hook's annotation patches reach the operator (issue 19): applications of one namespace that
carry the push's refresh token for the same repository share the moment that token was first
seen. Real git; a ``git`` wrapper on PATH counts what runs."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from hybridcloud.controllers.app_sources import REFRESH_ANNOTATION, ApplicationSources
from hybridcloud.controllers.config import OperatorConfig
from hybridcloud.models.application import HybridApplicationSpec

from .test_git_fetch_cost import calls, counted, repositories  # noqa: F401  (fixture)
from .test_render_git import commit


def _app(namespace: str, name: str, url: str, token: str | None) -> dict[str, Any]:
    annotations = {REFRESH_ANNOTATION: token} if token else {}
    return {"metadata": {"namespace": namespace, "name": name, "annotations": annotations},
            "spec": {"source": {"repository": url, "revision": "main"},
                     "placement": [{"cluster": "east"}]}}


def _sources(tmp_path: Path) -> ApplicationSources:
    config = OperatorConfig(delivery_dir=tmp_path / "delivery", local_dir=tmp_path / "local",
                            allow_local_sources=True, git_interval=3600,
                            git_fetches_per_namespace=16)
    return ApplicationSources(object(), config)  # type: ignore[arg-type]  (no Secrets read)


async def _resolve(sources: ApplicationSources, body: dict[str, Any]) -> str:
    meta = body["metadata"]
    return await sources.resolve((meta["namespace"], meta["name"]), body,
                                 HybridApplicationSpec.model_validate(body["spec"]))


def _logged(log: Path, subcommand: str) -> None:
    """Return once the wrapper logged ``subcommand`` (the request has been sent)."""
    while subcommand not in log.read_text().split():
        time.sleep(0.01)


async def test_applications_refreshed_by_one_push_share_one_ls_remote_however_late_they_arrive(
        tmp_path: Path, counted: Path) -> None:  # noqa: F811
    [(work, url)] = repositories(tmp_path, 1)
    sources = _sources(tmp_path)
    apps = [_app("tenant-a", f"app-{i}", url, None) for i in range(10)]
    for body in apps:
        await _resolve(sources, body)  # mirrored and cached for the hour
    calls(counted)
    pushed = commit(work, url, "pushed.yaml")
    token = "git-push:one-request"
    for body in apps:
        body["metadata"]["annotations"][REFRESH_ANNOTATION] = token
    # The hook's first patch arrives and its pass starts asking the server ...
    sources.observe(("tenant-a", "app-0"), apps[0])
    first = asyncio.create_task(_resolve(sources, apps[0]))
    await asyncio.to_thread(_logged, counted, "ls-remote")
    # ... while the other nine patches of the same push are still arriving.
    for i, body in enumerate(apps[1:], start=1):
        sources.observe(("tenant-a", f"app-{i}"), body)
    assert await first == pushed
    answers = await asyncio.gather(*(_resolve(sources, body) for body in apps[1:]))
    assert set(answers) == {pushed}
    assert calls(counted)["ls-remote"] == 1, "one push, one request to the Git server"


async def test_a_refresh_token_another_namespace_saw_first_does_not_let_a_stale_answer_count(
        tmp_path: Path, counted: Path) -> None:  # noqa: F811
    """Tokens are shared per namespace only: a tenant that puts the token of a coming push on
    its own application early cannot make another tenant's refresh accept an answer from
    before that push."""
    [(work, url)] = repositories(tmp_path, 1)
    sources = _sources(tmp_path)
    token = "git-push:guessed"
    attacker = _app("tenant-b", "early", url, token)
    sources.observe(("tenant-b", "early"), attacker)
    before = await _resolve(sources, attacker)  # the server asked before the push
    pushed = commit(work, url, "pushed.yaml")
    victim = _app("tenant-a", "shop", url, None)
    await _resolve(sources, victim)
    victim["metadata"]["annotations"][REFRESH_ANNOTATION] = token
    sources.observe(("tenant-a", "shop"), victim)
    assert await _resolve(sources, victim) == pushed != before

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


def app_body(namespace: str, name: str, url: str, token: str | None) -> dict[str, Any]:
    annotations = {REFRESH_ANNOTATION: token} if token else {}
    return {"metadata": {"namespace": namespace, "name": name, "annotations": annotations},
            "spec": {"source": {"repository": url, "revision": "main"},
                     "placement": [{"cluster": "east"}]}}


def sources_for(tmp_path: Path) -> ApplicationSources:
    config = OperatorConfig(delivery_dir=tmp_path / "delivery", local_dir=tmp_path / "local",
                            allow_local_sources=True, git_interval=3600,
                            git_fetches_per_namespace=16)
    return ApplicationSources(object(), config)  # type: ignore[arg-type]  (no Secrets read)


async def resolve_app(sources: ApplicationSources, body: dict[str, Any]) -> str:
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
    sources = sources_for(tmp_path)
    apps = [app_body("tenant-a", f"app-{i}", url, None) for i in range(10)]
    for body in apps:
        await resolve_app(sources, body)  # mirrored and cached for the hour
    calls(counted)
    pushed = commit(work, url, "pushed.yaml")
    token = "git-push:one-request"
    for body in apps:
        body["metadata"]["annotations"][REFRESH_ANNOTATION] = token
    # The hook's first patch arrives and its pass starts asking the server ...
    sources.observe(("tenant-a", "app-0"), apps[0])
    first = asyncio.create_task(resolve_app(sources, apps[0]))
    await asyncio.to_thread(_logged, counted, "ls-remote")
    # ... while the other nine patches of the same push are still arriving.
    for i, body in enumerate(apps[1:], start=1):
        sources.observe(("tenant-a", f"app-{i}"), body)
    assert await first == pushed
    answers = await asyncio.gather(*(resolve_app(sources, body) for body in apps[1:]))
    assert set(answers) == {pushed}
    assert calls(counted)["ls-remote"] == 1, "one push, one request to the Git server"


async def test_a_recorded_push_refreshes_every_tracking_application_with_one_ls_remote(
        tmp_path: Path, counted: Path) -> None:  # noqa: F811
    """The webhook's push record (``delivery/gitpushes.py``) reaches the operator once, for all
    the applications that track it, in every namespace: each re-resolves within the hour it
    would otherwise trust its cached answer, and one ``ls-remote`` answers them all."""
    [(work, url)] = repositories(tmp_path, 1)
    sources = sources_for(tmp_path)
    apps = [app_body(f"tenant-{i % 3}", f"app-{i}", url, None) for i in range(9)]
    for body in apps:
        await resolve_app(sources, body)
    calls(counted)
    pushed = commit(work, url, "pushed.yaml")
    seen_at = time.monotonic()
    for body in apps:
        sources.push_arrived((body["metadata"]["namespace"], body["metadata"]["name"]),
                             "git-push:recorded", seen_at)
    answers = await asyncio.gather(*(resolve_app(sources, body) for body in apps))
    assert set(answers) == {pushed}
    assert calls(counted)["ls-remote"] == 1
    # Answered: the push is consumed, and the cached answer serves again without a request.
    assert await resolve_app(sources, apps[0]) == pushed
    assert calls(counted).get("ls-remote", 0) == 0


async def test_a_recorded_push_is_not_answered_from_before_it_was_seen(
        tmp_path: Path, counted: Path) -> None:  # noqa: F811
    [(work, url)] = repositories(tmp_path, 1)
    sources = sources_for(tmp_path)
    body = app_body("tenant-a", "shop", url, None)
    before = await resolve_app(sources, body)
    pushed = commit(work, url, "pushed.yaml")
    sources.push_arrived(("tenant-a", "shop"), "git-push:late", time.monotonic())
    assert await resolve_app(sources, body) == pushed != before

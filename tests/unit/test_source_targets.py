"""The manifests a placement target gets are handed out as one read-only list per inputs (tree,
components, values), so members can keep what they prepared from them across passes (issue 19);
other inputs get their own list, and an escaping path is refused however often it is asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybridcloud.delivery.git import GitCache, SourceError
from hybridcloud.delivery.source import SourceRenderer

from .test_render_git import git

WEB = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "example.com/web:1"}]
"""


@pytest.fixture
def source(tmp_path: Path) -> tuple[str, str]:
    work, bare = tmp_path / "work", tmp_path / "app.git"
    git(tmp_path, "init", "--bare", "--quiet", "--initial-branch=main", str(bare))
    git(tmp_path, "init", "--quiet", "--initial-branch=main", str(work))
    (work / "k8s").mkdir()
    (work / "k8s" / "web.yaml").write_text(WEB)
    git(work, "add", ".")
    git(work, "commit", "--quiet", "-m", "one")
    git(work, "push", "--quiet", str(bare), "main")
    return f"file://{bare}", git(work, "rev-parse", "HEAD")


async def test_the_same_inputs_get_the_same_list_and_other_values_their_own(
        source: tuple[str, str], tmp_path: Path) -> None:
    url, _ = source
    renderer = SourceRenderer(GitCache(tmp_path / "cache", allow_local=True))
    sha = await renderer.git.resolve(url, "main")

    async def manifests(values: dict[str, object]) -> list[object]:
        return list(await renderer.manifests(url, sha, "k8s", release="shop", namespace="shop",
                                             components=None, values=values, field="spec"))

    first = await renderer.manifests(url, sha, "k8s", release="shop", namespace="shop",
                                     components=None, values={"replicas": 3}, field="spec")
    again = await renderer.manifests(url, sha, "k8s", release="shop", namespace="shop",
                                     components=None, values={"replicas": 3}, field="spec")
    other = await renderer.manifests(url, sha, "k8s", release="shop", namespace="shop",
                                     components=None, values={"replicas": 5}, field="spec")
    assert again is first and other is not first
    assert [m.obj["spec"]["replicas"] for m in (*first, *other)] == [3, 5]
    assert (await manifests({"replicas": 3})) == list(first)


async def test_a_path_leaving_the_repository_is_refused_every_time(
        source: tuple[str, str], tmp_path: Path) -> None:
    url, sha = source
    cache = GitCache(tmp_path / "cache", allow_local=True)
    await cache.resolve(url, "main")
    assert (await cache.export(url, sha, "k8s")).name == "k8s"
    assert (await cache.export(url, sha, "k8s")).name == "k8s"  # the resolved path, kept
    for _ in range(2):
        with pytest.raises(SourceError, match="leaves the repository"):
            await cache.export(url, sha, "../../..")

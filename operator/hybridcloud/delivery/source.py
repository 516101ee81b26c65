"""From a resolved commit to the manifests for one placement target (components + values).

Exported trees are immutable per commit, so parsed plain-YAML sources, kustomize builds and
Helm renders are cached by (tree, inputs): a resync of a converged app re-reads nothing from
disk and runs no ``helm`` or ``kubectl`` process. Kustomize output takes ``values`` like plain
manifests (image tag, replicas, resources). The manifests a target gets (components chosen,
values applied) are cached too and handed out as the same read-only list each time, so a
member can keep what it prepared from them (``MemberCluster``) across passes: 500 applications
of one source were 500 copies per pass (issue 19's delivery-at-scale profile).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cachetools import LRUCache

from ..binaries import locate, resolve_bin_dir
from .git import GitCache
from .kustomize import is_kustomization, render_kustomization
from .render import (
    Manifest,
    Rendered,
    RenderError,
    RenderLimits,
    is_chart,
    load_directory,
    render_chart,
    select,
)
from .values import apply_values

_CACHED = 64
_TARGETS_CACHED = 1024  # (tree, components, values) combinations in use


class SourceRenderer:
    def __init__(self, git: GitCache, helm: Path | None = None,
                 kubectl: Path | None = None, *, limits: RenderLimits | None = None) -> None:
        self.git = git
        self.limits = limits or RenderLimits()
        self._tools: dict[str, Path] = {name: path for name, path in
                                        (("helm", helm), ("kubectl", kubectl)) if path}
        self._cache: LRUCache[tuple[str, ...], Rendered] = LRUCache(_CACHED)
        self._targets: LRUCache[tuple[Any, ...], list[Manifest]] = LRUCache(_TARGETS_CACHED)

    def tool(self, name: str, origin: str) -> Path:
        """``helm`` or ``kubectl`` (kustomize), found when a source first needs it."""
        if name not in self._tools:
            found = locate(name, resolve_bin_dir(None))
            if found is None:  # optional until a chart or kustomization shows up
                raise RenderError(origin, f"the {name} binary is not available to the "
                                  f"operator; set HYBRIDCLOUD_BIN_DIR or put {name} on PATH")
            self._tools[name] = found
        return self._tools[name]

    async def manifests(self, repository: str, sha: str, path: str, *, release: str,
                        namespace: str, components: tuple[str, ...] | None,
                        values: Mapping[str, Any], field: str) -> list[Manifest]:
        """Common manifests + ``components`` (None: all) of one placement target, with its
        ``values`` applied. Read-only: the same list is returned for the same inputs."""
        tree = await self.git.export(repository, sha, path)
        target = (str(tree), release, namespace, components, json.dumps(values, sort_keys=True))
        cached = self._targets.get(target)
        if cached is None:
            cached = self._targets[target] = await self._manifests(
                tree, repository, sha, release=release, namespace=namespace,
                components=components, values=values, field=field)
        return cached

    async def _manifests(self, tree: Path, repository: str, sha: str, *, release: str,
                         namespace: str, components: tuple[str, ...] | None,
                         values: Mapping[str, Any], field: str) -> list[Manifest]:
        if is_chart(tree):
            chart_values = dict(values)
            key: tuple[str, ...] = (str(tree), "helm", release, namespace,
                                    json.dumps(chart_values, sort_keys=True))
            rendered = self._cached(key) or self._remember(key, await render_chart(
                tree, release=release, namespace=namespace, values=chart_values,
                helm=self.tool("helm", "Chart.yaml:1"), limits=self.limits))
            return select(rendered, components, field=f"{field}.components")
        if is_kustomization(tree):
            key = (str(tree), "kustomize")
            rendered = self._cached(key) or self._remember(key, await render_kustomization(
                tree, self.git.tree(repository, sha),
                kubectl=self.tool("kubectl", "kustomization.yaml:1"), limits=self.limits))
        else:
            key = (str(tree), "yaml")
            rendered = self._cached(key) or self._remember(key, load_directory(tree, self.limits))
        chosen = select(rendered, components, field=f"{field}.components")
        return apply_values(chosen, values, field=f"{field}.values")

    def _cached(self, key: tuple[str, ...]) -> Rendered | None:
        return self._cache.get(key)

    def _remember(self, key: tuple[str, ...], rendered: Rendered) -> Rendered:
        self._cache[key] = rendered
        return rendered

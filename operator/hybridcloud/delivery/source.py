"""From a resolved commit to the manifests for one placement target (components + values).

Exported trees are immutable per commit, so parsed plain-YAML sources and Helm renders are
cached by (tree, inputs): a resync of a converged app re-reads nothing from disk and runs no
``helm`` process.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

from ..controlplane import find_binary, resolve_bin_dir
from ..reconcile.placement import Target
from .git import GitCache
from .render import Manifest, Rendered, RenderError, is_chart, load_directory, render_chart, select
from .values import apply_values

_CACHED = 64


class SourceRenderer:
    def __init__(self, git: GitCache, helm: Path | None = None) -> None:
        self.git = git
        self._helm = helm
        self._cache: OrderedDict[tuple[str, ...], Rendered] = OrderedDict()

    def helm(self) -> Path:
        if self._helm is None:
            try:
                self._helm = find_binary("helm", resolve_bin_dir(None))
            except Exception as exc:  # the binary is optional until a chart shows up
                raise RenderError("Chart.yaml:1", "the helm binary is not available to the "
                                  "operator; set HYBRIDCLOUD_BIN_DIR or put helm on PATH"
                                  ) from exc
        return self._helm

    async def manifests(self, repository: str, sha: str, path: str, *, release: str,
                        namespace: str, target: Target, field: str) -> list[Manifest]:
        """Common manifests + the target's components, with its values applied."""
        tree = await self.git.export(repository, sha, path)
        if is_chart(tree):
            values = dict(target.values)
            key: tuple[str, ...] = (str(tree), "helm", release, namespace,
                                    json.dumps(values, sort_keys=True))
            rendered = self._cached(key) or self._remember(key, await render_chart(
                tree, release=release, namespace=namespace, values=values, helm=self.helm()))
            return select(rendered, target.components, field=f"{field}.components")
        key = (str(tree), "yaml")
        rendered = self._cached(key) or self._remember(key, load_directory(tree))
        chosen = select(rendered, target.components, field=f"{field}.components")
        return apply_values(chosen, target.values, field=f"{field}.values")

    def _cached(self, key: tuple[str, ...]) -> Rendered | None:
        found = self._cache.get(key)
        if found is not None:
            self._cache.move_to_end(key)
        return found

    def _remember(self, key: tuple[str, ...], rendered: Rendered) -> Rendered:
        self._cache[key] = rendered
        while len(self._cache) > _CACHED:
            self._cache.popitem(last=False)
        return rendered

"""Helm charts are rendered only from what the repository holds.

``helm template`` of a tenant's chart must not reach another repository, the network or the
operator's files. Before helm runs: every dependency of ``Chart.yaml`` (or a v1 chart's
``requirements.yaml``) must be vendored under ``charts/`` — a ``repository`` URL is never
contacted, so a dependency that is not vendored is refused rather than fetched — and a
``file://`` dependency must stay inside the chart. No symlink in the chart may point outside it
(helm follows symlinks when it loads a chart). Errors name the file, line and field.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from .render import RenderError


def check_chart(root: Path) -> None:
    """Refuse remote or non-vendored dependencies and symlinks leaving ``root``."""
    root = root.resolve()
    _check_symlinks(root)
    for name in ("Chart.yaml", "requirements.yaml"):
        path = root / name
        if path.is_file():
            for index, dependency, line in _dependencies(path, name):
                _check_dependency(root, name, index, dependency, line)


def _check_symlinks(root: Path) -> None:
    for folder, directories, files in os.walk(root):
        for entry in (*directories, *files):
            path = Path(folder) / entry
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                raise RenderError(f"{path.relative_to(root)}:1",
                                  "symlink points outside the chart")


def _dependencies(path: Path, name: str) -> list[tuple[int, Any, int]]:
    try:
        node = yaml.compose(path.read_text(errors="replace"), Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise RenderError(f"{name}:1", f"invalid YAML: {exc}") from None
    if not isinstance(node, yaml.MappingNode):
        return []
    found: list[tuple[int, Any, int]] = []
    for key, value in node.value:
        if key.value == "dependencies" and isinstance(value, yaml.SequenceNode):
            for index, item in enumerate(value.value):
                data = yaml.safe_load(yaml.serialize(item)) if isinstance(
                    item, yaml.MappingNode) else None
                found.append((index, data, item.start_mark.line + 1))
    return found


def _check_dependency(root: Path, name: str, index: int, dependency: Any, line: int) -> None:
    field = f"{name}:{line}"
    if not isinstance(dependency, dict) or not isinstance(dependency.get("name"), str):
        raise RenderError(field, f"dependencies[{index}] must be a mapping with a name")
    chart = dependency["name"]
    repository = str(dependency.get("repository") or "")
    if repository.startswith("file://"):
        target = (root / repository.removeprefix("file://")).resolve()
        if not target.is_relative_to(root):
            raise RenderError(field, f"dependencies[{index}].repository {repository!r} leaves "
                              "the chart; vendor the dependency under charts/")
        return
    charts = root / "charts"
    vendored = (charts / chart).is_dir() or any(charts.glob(f"{chart}-*.tgz"))
    if not vendored:
        what = f"remote repository {repository!r}" if repository else "no repository"
        raise RenderError(field, f"dependencies[{index}] {chart!r} ({what}) is not vendored "
                          f"under charts/: dependencies are never downloaded; run `helm "
                          f"dependency update` and commit charts/")

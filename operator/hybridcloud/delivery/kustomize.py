"""Kustomize sources: ``kubectl kustomize`` of ``source.path``, confined to the repository.

Before anything runs, every kustomization reachable from ``source.path`` is read and each
``resources``/``components``/``bases`` entry is checked: remote references (URLs, ``git@…``,
``github.com/…``) are refused — the operator fetches sources only through its own git mirror,
with the app's credentials — and local ones must stay inside the repository, so an overlay can
never read another app's exported tree or the operator's files. Files a kustomization loads
itself (patches, generators) are held to its own directory by kustomize's default load
restrictor. Helm inflation (``helmCharts``) is refused: point ``source.path`` at the chart.

Rendered objects have no file of their own; errors and origins name the kustomization file,
relative to the repository root.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import yaml

from .render import (
    Manifest,
    Rendered,
    RenderError,
    check_unique,
    parse_documents,
    run_tool,
)

FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_REFERENCES = ("resources", "components", "bases")
_REMOTE = re.compile(r"^([a-z][a-z0-9+.-]*://|git@|[\w-]+(\.[\w-]+)*\.[a-z]{2,}/)", re.IGNORECASE)


def kustomization_file(directory: Path) -> Path | None:
    return next((directory / name for name in FILES if (directory / name).is_file()), None)


def is_kustomization(root: Path) -> bool:
    return kustomization_file(root) is not None


def _relative(path: Path, repository: Path) -> str:
    """Origins name files relative to the repository root (bases may sit beside
    source.path)."""
    path, repository = path.resolve(), repository.resolve()
    return str(path.relative_to(repository)) if path.is_relative_to(repository) else path.name


def check_references(root: Path, repository: Path) -> None:
    """Refuse remote references and local ones leaving ``repository`` (see the module doc)."""
    repository = repository.resolve()
    pending, seen = [root.resolve()], set()
    while pending:
        directory = pending.pop()
        if directory in seen:
            continue
        seen.add(directory)
        found = kustomization_file(directory)
        if found is None:
            continue  # a plain resource directory is kustomize's own error to report
        name = _relative(found, repository)
        for key, entry, line in _entries(found, name):
            origin = f"{name}:{line}"
            if key == "helmCharts":
                raise RenderError(origin, "helmCharts are not supported in kustomizations; "
                                  "point source.path at the chart instead")
            # "host.tld/…" is how kustomize spells a remote base; a local folder of that name
            # (it exists in the repository) is not one.
            if _REMOTE.match(entry) and not (directory / entry).exists():
                raise RenderError(origin, f"remote {key} entry {entry!r} is not supported; "
                                  "vendor it into the repository")
            target = (directory / entry).resolve()
            if not target.is_relative_to(repository):
                raise RenderError(origin, f"{key} entry {entry!r} leaves the repository")
            if target.is_dir():
                pending.append(target)


def _entries(path: Path, name: str) -> list[tuple[str, str, int]]:
    """(key, entry, line) for each reference in one kustomization file."""
    try:
        node = yaml.compose(path.read_text(errors="replace"), Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise RenderError(f"{name}:{mark.line + 1 if mark else 1}",
                          f"invalid YAML: {exc.problem or exc}") from None
    if not isinstance(node, yaml.MappingNode):
        raise RenderError(f"{name}:1", "a kustomization must be a mapping")
    entries: list[tuple[str, str, int]] = []
    for key_node, value in node.value:
        key = key_node.value
        if key == "helmCharts":
            entries.append((key, "", key_node.start_mark.line + 1))
        elif key in _REFERENCES and isinstance(value, yaml.SequenceNode):
            entries.extend((key, str(item.value), item.start_mark.line + 1)
                           for item in value.value if isinstance(item, yaml.ScalarNode))
    return entries


async def render_kustomization(root: Path, repository: Path, *, kubectl: Path,
                               limit: float = 120.0) -> Rendered:
    """``kubectl kustomize root`` after :func:`check_references`; components come from the
    ``app.kubernetes.io/component`` labels, as for charts."""
    found = kustomization_file(root)
    if found is None:
        raise RenderError("kustomization.yaml:1", "no kustomization file in source.path")
    name = _relative(found, repository)
    check_references(root, repository)
    with tempfile.TemporaryDirectory(prefix="kustomize-") as scratch:
        # A private HOME: kubectl reads no user configuration, plugins or caches.
        env = {"PATH": os.environ.get("PATH", ""), "HOME": scratch}
        code, out, err = await run_tool([str(kubectl), "kustomize", str(root)], env=env,
                                        limit=limit, origin=f"{name}:1", what="kustomize")
    if code != 0:
        text = err.decode(errors="replace").strip().removeprefix("error: ")
        first = text.splitlines()[0] if text else "no output"
        raise RenderError(f"{name}:1", f"kustomize failed: {_scrub(first, root)}")
    manifests: list[Manifest] = parse_documents(out.decode(errors="replace"),
                                                f"{name} (built)", None)
    check_unique(manifests)
    return Rendered(tuple(manifests), frozenset(m.component for m in manifests if m.component))


def _scrub(message: str, root: Path) -> str:
    """Report paths relative to source.path: the operator's directories are not the user's."""
    return message.replace(str(root.resolve()) + "/", "").replace(str(root.resolve()), ".")


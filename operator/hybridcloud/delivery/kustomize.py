"""Kustomize sources: ``kubectl kustomize`` of ``source.path``, confined to the repository.

Before anything runs, every kustomization reachable from ``source.path`` is read and every
path-bearing field is checked, wherever it sits: ``resources``, ``components``, ``bases``,
``crds``, ``configurations``, ``generators``/``transformers``/``validators`` (and the plugin
configs they name or inline), ``patches[].path``, ``patchesStrategicMerge``,
``patchesJson6902[].path``, ``replacements[].path``, ``openapi.path``, and the ``files``,
``envs`` and ``env`` of ``configMapGenerator``/``secretGenerator``. Any scheme (``https://``,
``file://``, ``git::``, ``s3:``…), ``//host/…``, ``git@…`` and, where kustomize would read a
remote base, ``host.tld/…`` is refused whether or not a local folder of that name exists — the
operator fetches sources only through its own git mirror, with the app's credentials. Absolute
paths are refused, and relative ones must stay inside the repository after symlinks are
resolved, so an overlay can never read another app's exported tree or the operator's files.
Helm inflation (``helmCharts``, ``HelmChartInflationGenerator``) is refused: point
``source.path`` at the chart. ``kubectl kustomize`` then runs without network or credentials
(:mod:`hybridcloud.delivery.sandbox`).

Rendered objects have no file of their own; errors and origins name the kustomization file
(relative to the repository root), line and field.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import yaml

from . import sandbox
from .render import (
    Manifest,
    ParseBudget,
    Rendered,
    RenderError,
    RenderLimits,
    check_unique,
    parse_documents,
    run_tool,
)

FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# Fields holding paths (or lists of paths) anywhere in a kustomization or plugin config.
PATH_FIELDS = frozenset({"resources", "components", "bases", "crds", "configurations",
                         "generators", "transformers", "validators", "path", "paths",
                         "patchesStrategicMerge", "files", "envs", "env"})
# Fields whose entries kustomize may load as a remote base ("github.com/org/repo/x").
_BASE_FIELDS = frozenset({"resources", "components", "bases", "generators", "transformers",
                          "validators"})
# Fields whose entries may be inline YAML (a plugin config, a patch) instead of a path.
_INLINE_FIELDS = frozenset({"generators", "transformers", "validators", "patchesStrategicMerge"})
_PLUGIN_FIELDS = frozenset({"generators", "transformers", "validators"})
# Fields holding labels, names and selectors, never paths ("env: prod" is a label there).
_NOT_PATHS = frozenset({"commonLabels", "commonAnnotations", "labels", "annotations", "images",
                        "replicas", "vars", "metadata", "target", "literals", "options",
                        "buildMetadata", "sortOptions", "select", "reject", "fieldSpecs"})
_HELM = frozenset({"helmCharts", "helmChartInflationGenerator", "helmGlobals"})
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:")
_HOST_LIKE = re.compile(r"^[\w-]+(\.[\w-]+)*\.[A-Za-z]{2,}(:\d+)?/")


def kustomization_file(directory: Path) -> Path | None:
    return next((directory / name for name in FILES if (directory / name).is_file()), None)


def is_kustomization(root: Path) -> bool:
    return kustomization_file(root) is not None


def _relative(path: Path, repository: Path) -> str:
    """Origins name files relative to the repository root (bases may sit beside
    source.path)."""
    path, repository = path.resolve(), repository.resolve()
    return str(path.relative_to(repository)) if path.is_relative_to(repository) else path.name


def check_entry(entry: str, key: str, directory: Path, repository: Path, origin: str) -> Path:
    """The local path ``entry`` of field ``key`` names, or a :class:`RenderError` when it is
    remote or leaves ``repository`` (already resolved)."""
    value = entry.partition("=")[2] if key == "files" and "=" in entry else entry
    if not value.strip():
        raise RenderError(origin, f"{key}: empty path")
    if _SCHEME.match(value) or value.startswith("//") or _SCP_LIKE.match(value) or (
            key in _BASE_FIELDS and _HOST_LIKE.match(value)):
        raise RenderError(origin, f"{key}: remote reference {value!r} is not allowed; "
                          "vendor it into the repository")
    if value.startswith("/"):
        raise RenderError(origin, f"{key}: absolute path {value!r} is not allowed (it leaves "
                          "the repository); use a path relative to the kustomization")
    target = (directory / value).resolve()
    if not target.is_relative_to(repository):
        raise RenderError(origin, f"{key}: {value!r} leaves the repository")
    return target


def check_references(root: Path, repository: Path) -> None:
    """Apply :func:`check_entry` to every path of every kustomization reachable from ``root``
    (see the module doc)."""
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
        for key, entry, line in _path_entries(_compose(found, name), name):
            origin = f"{name}:{line}"
            if key in _INLINE_FIELDS and "\n" in entry.strip():
                if key in _PLUGIN_FIELDS:  # an inline plugin config: check its paths too
                    _check_plugin_config(entry, origin, directory, repository)
                continue
            target = check_entry(entry, key, directory, repository, origin)
            if target.is_dir() and key in _BASE_FIELDS:
                pending.append(target)
            elif target.is_file() and key in _PLUGIN_FIELDS:
                plugin = _relative(target, repository)
                _check_plugin_config(target.read_text(errors="replace"), plugin, directory,
                                     repository)


def _check_plugin_config(text: str, origin: str, directory: Path, repository: Path) -> None:
    """A generator/transformer/validator config: its paths are read relative to the
    kustomization that names it."""
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise RenderError(origin, f"invalid YAML in plugin config: {exc}") from None
    for document in documents:
        if isinstance(document, yaml.MappingNode):
            kind = next((v.value for k, v in document.value if k.value == "kind"
                         and isinstance(v, yaml.ScalarNode)), "")
            if kind == "HelmChartInflationGenerator":
                raise RenderError(origin, "HelmChartInflationGenerator is not supported; point "
                                  "source.path at the chart instead")
        for key, entry, line in _path_entries(document, origin.split(":")[0]):
            where = origin if ":" in origin else f"{origin}:{line}"
            if "\n" not in entry.strip():
                check_entry(entry, key, directory, repository, where)


def _compose(path: Path, name: str) -> yaml.Node:
    try:
        node = yaml.compose(path.read_text(errors="replace"), Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise RenderError(f"{name}:{mark.line + 1 if mark else 1}",
                          f"invalid YAML: {exc.problem or exc}") from None
    if not isinstance(node, yaml.MappingNode):
        raise RenderError(f"{name}:1", "a kustomization must be a mapping")
    return node


def _path_entries(node: yaml.Node | None, name: str) -> list[tuple[str, str, int]]:
    """(field, entry, line) for every value of a path-bearing field anywhere under ``node``;
    helm inflation fields are refused here."""
    entries: list[tuple[str, str, int]] = []
    stack: list[tuple[yaml.Node, int]] = [(node, 0)] if node is not None else []
    seen: set[int] = set()
    while stack:
        current, depth = stack.pop()
        if id(current) in seen or depth > 100:
            continue
        seen.add(id(current))
        if isinstance(current, yaml.SequenceNode):
            stack.extend((child, depth + 1) for child in current.value)
            continue
        if not isinstance(current, yaml.MappingNode):
            continue
        for key_node, value in current.value:
            key = str(key_node.value)
            if key in _HELM:
                raise RenderError(f"{name}:{key_node.start_mark.line + 1}",
                                  f"{key} is not supported in kustomizations; point "
                                  "source.path at the chart instead")
            if key in _NOT_PATHS:
                continue
            if key in PATH_FIELDS and isinstance(value, yaml.ScalarNode):
                entries.append((key, str(value.value), value.start_mark.line + 1))
            elif key in PATH_FIELDS and isinstance(value, yaml.SequenceNode):
                for item in value.value:
                    if isinstance(item, yaml.ScalarNode):
                        entries.append((key, str(item.value), item.start_mark.line + 1))
                    else:
                        stack.append((item, depth + 1))
            else:
                stack.append((value, depth + 1))
    return entries


async def render_kustomization(root: Path, repository: Path, *, kubectl: Path,
                               limit: float = 120.0, limits: RenderLimits | None = None,
                               ) -> Rendered:
    """``kubectl kustomize root`` after :func:`check_references`; components come from the
    ``app.kubernetes.io/component`` labels, as for charts."""
    found = kustomization_file(root)
    if found is None:
        raise RenderError("kustomization.yaml:1", "no kustomization file in source.path")
    name = _relative(found, repository)
    check_references(root, repository)
    limits = limits or RenderLimits()
    with tempfile.TemporaryDirectory(prefix="kustomize-") as scratch:
        # A private HOME: kubectl reads no user configuration, plugins or caches.
        code, out, err = await run_tool([str(kubectl), "kustomize", str(root)],
                                        env=sandbox.environment(Path(scratch)), limit=limit,
                                        origin=f"{name}:1", what="kustomize",
                                        max_output=limits.max_output_bytes)
    if code != 0:
        text = err.decode(errors="replace").strip().removeprefix("error: ")
        first = text.splitlines()[0] if text else "no output"
        raise RenderError(f"{name}:1", f"kustomize failed: {_scrub(first, root)}")
    manifests: list[Manifest] = parse_documents(out.decode(errors="replace"),
                                                f"{name} (built)", None, ParseBudget(limits))
    check_unique(manifests)
    return Rendered(tuple(manifests), frozenset(m.component for m in manifests if m.component))


def _scrub(message: str, root: Path) -> str:
    """Report paths relative to source.path: the operator's directories are not the user's."""
    return message.replace(str(root.resolve()) + "/", "").replace(str(root.resolve()), ".")


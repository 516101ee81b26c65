"""Rendering a source directory into Kubernetes objects, each remembering the file and line it
came from.

Three layouts:

- **Plain YAML**: every ``*.yaml``/``*.yml``/``*.json`` under the directory. A file directly in
  it is *common* (goes to every placed cluster); a file under ``<component>/…`` belongs to that
  component. Outside component folders an object may name its component with the label
  ``app.kubernetes.io/component``. ``kind: List`` documents are expanded.
- **Helm chart** (the directory holds ``Chart.yaml``): ``helm template`` with the merged values as
  a values file; components are the ``app.kubernetes.io/component`` labels the chart sets.
- **Kustomization** (``kustomization.yaml``): see :mod:`hybridcloud.delivery.kustomize`.

Every failure is a :class:`RenderError` naming the file and line, so the condition tells the user
exactly where to look; nothing is applied when rendering fails. Sources are bounded
(:class:`RenderLimits`): YAML nodes with aliases counted every time they are used (an alias bomb
is refused before it is expanded), objects per source, and renderer output size.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import sandbox

COMPONENT_LABEL = "app.kubernetes.io/component"
_SETTING = "HYBRIDCLOUD_OPERATOR_"
_SUFFIXES = (".yaml", ".yml", ".json")
_HELM_SOURCE = re.compile(r"^# Source: (.+)$", re.MULTILINE)


class RenderError(Exception):
    """``origin`` is ``file:line`` (relative to source.path) or a values/placement field."""

    def __init__(self, origin: str, message: str) -> None:
        super().__init__(f"{origin}: {message}")
        self.origin = origin
        self.message = message


@dataclass(frozen=True)
class RenderLimits:
    """See the operator settings ``render_max_*``."""

    max_objects: int = 5000
    max_yaml_nodes: int = 2_000_000
    max_output_bytes: int = 64 * 2**20


@dataclass(frozen=True)
class Manifest:
    obj: dict[str, Any]
    origin: str  # "api/deployment.yaml:12"
    component: str | None  # None: common

    @property
    def identity(self) -> tuple[str, str, str | None, str]:
        """(group, kind, namespace as written, name): what must be unique in a source."""
        group = str(self.obj["apiVersion"]).rpartition("/")[0]
        meta = self.obj["metadata"]
        return group, str(self.obj["kind"]), meta.get("namespace"), str(meta["name"])


@dataclass(frozen=True)
class Rendered:
    manifests: tuple[Manifest, ...]
    components: frozenset[str]


# -- plain YAML ----------------------------------------------------------------------------------

def load_directory(root: Path, limits: RenderLimits | None = None) -> Rendered:
    """All manifests under ``root`` (plain YAML layout)."""
    manifests: list[Manifest] = []
    folders: set[str] = set()
    budget = ParseBudget(limits or RenderLimits())
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if not path.is_file() or path.suffix not in _SUFFIXES or \
                any(part.startswith(".") for part in relative.parts):
            continue
        folder = relative.parts[0] if len(relative.parts) > 1 else None
        if folder:
            folders.add(folder)
        manifests.extend(parse_documents(path.read_text(errors="replace"), str(relative), folder,
                                         budget))
    check_unique(manifests)
    labelled = {m.component for m in manifests if m.component}
    return Rendered(tuple(manifests), frozenset(folders | labelled))


class ParseBudget:
    """What is left of a source's :class:`RenderLimits` while its files are parsed."""

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        self.nodes = 0
        self.objects = 0

    def charge_nodes(self, node: yaml.Node, origin: str) -> None:
        self.nodes += expanded_size(node, self.limits.max_yaml_nodes - self.nodes)
        if self.nodes > self.limits.max_yaml_nodes:
            raise RenderError(origin, f"YAML expands to more than the limit {_SETTING}"
                              f"RENDER_MAX_YAML_NODES={self.limits.max_yaml_nodes} nodes "
                              "(aliases count every time they are used)")

    def charge_objects(self, count: int, origin: str) -> None:
        self.objects += count
        if self.objects > self.limits.max_objects:
            raise RenderError(origin, f"the source renders more objects than the limit "
                              f"{_SETTING}RENDER_MAX_OBJECTS={self.limits.max_objects}")


def expanded_size(node: yaml.Node, limit: int) -> int:
    """Nodes ``node`` stands for once every alias is expanded, counting stops past ``limit``.
    Shared nodes are measured once (memoised), so the count itself costs only the nodes
    written, never the expansion."""
    sizes: dict[int, int] = {}

    def size(current: yaml.Node, depth: int) -> int:
        known = sizes.get(id(current))
        if known is not None:
            return known
        if depth > 500:
            raise RecursionError
        total = 1
        if isinstance(current, yaml.SequenceNode):
            for child in current.value:
                total += size(child, depth + 1)
                if total > limit:
                    break
        elif isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                total += size(key, depth + 1) + size(value, depth + 1)
                if total > limit:
                    break
        sizes[id(current)] = total
        return total

    try:
        return size(node, 0)
    except RecursionError:
        return limit + 1


def parse_documents(text: str, name: str, folder: str | None,
                    budget: ParseBudget | None = None) -> list[Manifest]:
    """Objects in one YAML stream; errors carry ``name:line``."""
    found: list[Manifest] = []
    budget = budget or ParseBudget(RenderLimits())
    loader = yaml.SafeLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            line = node.start_mark.line + 1
            budget.charge_nodes(node, f"{name}:{line}")
            data = loader.construct_document(node)
            objects = _objects(data, f"{name}:{line}", folder)
            budget.charge_objects(len(objects), f"{name}:{line}")
            found.extend(objects)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{name}:{mark.line + 1}" if mark else name
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise RenderError(where, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise RenderError(name, f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return found


def _objects(data: Any, origin: str, folder: str | None) -> list[Manifest]:
    if data is None:
        return []
    if not isinstance(data, dict):
        raise RenderError(origin, f"expected a Kubernetes object (a mapping), found "
                          f"{type(data).__name__}")
    if data.get("kind") == "List" and isinstance(data.get("items"), list):
        return [m for item in data["items"] for m in _objects(item, origin, folder)]
    for field in ("apiVersion", "kind"):
        if not isinstance(data.get(field), str) or not data[field]:
            raise RenderError(origin, f"object has no {field}")
    meta = data.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        raise RenderError(origin, f"{data['kind']} has no metadata.name")
    if "generateName" in meta:
        raise RenderError(origin, "metadata.generateName cannot be kept in sync; use a name")
    labels = meta.get("labels") or {}
    if not isinstance(labels, dict):
        raise RenderError(origin, "metadata.labels must be a mapping")
    component = folder or (str(labels[COMPONENT_LABEL]) if labels.get(COMPONENT_LABEL) else None)
    return [Manifest(data, origin, component)]


def check_unique(manifests: Sequence[Manifest]) -> None:
    seen: dict[tuple[str, str, str | None, str], str] = {}
    for manifest in manifests:
        first = seen.setdefault(manifest.identity, manifest.origin)
        if first != manifest.origin:
            _, kind, _, name = manifest.identity
            raise RenderError(manifest.origin, f"{kind} {name} is also defined at {first}")


# -- Helm ------------------------------------------------------------------------------------------

def is_chart(root: Path) -> bool:
    return (root / "Chart.yaml").is_file()


async def render_chart(root: Path, *, release: str, namespace: str,
                       values: Mapping[str, Any], helm: Path, limit: float = 120.0,
                       limits: RenderLimits | None = None) -> Rendered:
    """``helm template`` the chart at ``root`` with ``values``, after :func:`chart.check_chart`;
    no repositories are contacted (see :mod:`sandbox`)."""
    from .chart import check_chart  # chart imports RenderError from here

    check_chart(root)
    limits = limits or RenderLimits()
    with tempfile.TemporaryDirectory(prefix="helm-") as scratch:
        values_file = Path(scratch) / "values.yaml"
        values_file.write_text(yaml.safe_dump(dict(values)))
        env = sandbox.environment(Path(scratch), {
            "HELM_CACHE_HOME": f"{scratch}/cache", "HELM_CONFIG_HOME": f"{scratch}/config",
            "HELM_DATA_HOME": f"{scratch}/data"})
        code, out, err = await run_tool(
            [str(helm), "template", release, str(root), "--namespace", namespace,
             "--values", str(values_file)], env=env, limit=limit, origin="Chart.yaml:1",
            what="helm template", max_output=limits.max_output_bytes)
    if code != 0:
        raise RenderError(*_helm_failure(err.decode(errors="replace")))
    manifests: list[Manifest] = []
    budget = ParseBudget(limits)
    for chunk in re.split(r"^---\s*$", out.decode(errors="replace"), flags=re.MULTILINE):
        source = _HELM_SOURCE.search(chunk)
        name = _chart_relative(source.group(1)) if source else "Chart.yaml"
        manifests.extend(parse_documents(chunk, name, None, budget))
    check_unique(manifests)
    return Rendered(tuple(manifests), frozenset(m.component for m in manifests if m.component))


async def run_tool(args: Sequence[str], *, env: Mapping[str, str], limit: float, origin: str,
                   what: str, max_output: int = RenderLimits.max_output_bytes,
                   ) -> tuple[int, bytes, bytes]:
    """Run a renderer (helm, kubectl) without stdin or network (:mod:`sandbox`); (exit code,
    stdout, stderr). Past ``limit`` seconds or ``max_output`` bytes of output it is killed and
    the render fails at ``origin``."""
    prefix = await asyncio.to_thread(sandbox.isolation)
    process = await asyncio.create_subprocess_exec(
        *prefix, *args, env=dict(env), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)

    async def read(stream: asyncio.StreamReader | None) -> bytes:
        chunks, size = [], 0
        while stream is not None and (chunk := await stream.read(65536)):
            size += len(chunk)
            if size > max_output:
                raise _OutputTooLargeError
            chunks.append(chunk)
        return b"".join(chunks)

    try:
        out, err = await asyncio.wait_for(
            asyncio.gather(read(process.stdout), read(process.stderr)), limit)
        await process.wait()
    except (TimeoutError, _OutputTooLargeError) as exc:
        process.kill()
        await process.wait()
        if isinstance(exc, _OutputTooLargeError):
            raise RenderError(origin, f"{what} output is larger than the limit {_SETTING}"
                              f"RENDER_MAX_OUTPUT_BYTES={max_output}") from None
        raise RenderError(origin, f"{what} timed out after {limit:.0f}s") from None
    return process.returncode or 0, out, err


class _OutputTooLargeError(Exception):
    pass


def _chart_relative(path: str) -> str:
    """helm prints ``<chart name>/templates/x.yaml``; report it relative to source.path."""
    return path.strip().partition("/")[2] or path.strip()


def _helm_failure(stderr: str) -> tuple[str, str]:
    text = stderr.strip().removeprefix("Error: ")
    found = re.search(r"\(([^():\s]+):(\d+)(?::\d+)?\)", text) or \
        re.search(r"([\w./-]+\.(?:ya?ml|tpl)):(\d+)", text)
    origin = f"{_chart_relative(found.group(1))}:{found.group(2)}" if found \
        else "Chart.yaml:1"
    return origin, f"helm template failed: {text.splitlines()[0] if text else 'no output'}"


# -- components -----------------------------------------------------------------------------

def select(rendered: Rendered, components: Iterable[str] | None, *, field: str) -> list[Manifest]:
    """Common manifests plus those of ``components`` (all when None)."""
    if components is None:
        return list(rendered.manifests)
    wanted = set(components)
    unknown = sorted(wanted - rendered.components)
    if unknown:
        known = ", ".join(sorted(rendered.components)) or "none"
        raise RenderError(field, f"component(s) {', '.join(unknown)} not found in the source "
                          f"(components: {known})")
    return [m for m in rendered.manifests if m.component is None or m.component in wanted]

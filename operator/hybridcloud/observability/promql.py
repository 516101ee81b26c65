"""Tenant scoping of PromQL, on the parser's AST rather than on text.

Prometheus parses the expression (``/api/v1/parse_query`` returns its AST as JSON); every vector
and matrix selector in that tree gets the scope's equality matchers (the tenant label, and the
cluster label for per-cluster queries) added, and the tree is printed back as PromQL. Added
matchers only narrow a selection: a tenant's own matchers on the same labels can select less,
never more, so an expression cannot reach series outside its scope however it is written. The
printer quotes every label value and name it emits; nothing of the input is pasted as text.

Constructs whose AST Prometheus reports only partially (duration arithmetic in ranges/offsets,
``anchored``/``smoothed`` selectors, ``fill`` modifiers) are refused rather than printed wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SET_OPERATORS = {"and", "or", "unless"}


class UnsupportedExpressionError(ValueError):
    """The expression uses a construct the scoper cannot print back faithfully."""


def _string(value: str) -> str:
    # A JSON string is a valid PromQL double-quoted string (same escapes); non-ASCII stays
    # UTF-8, as \u surrogate pairs would not survive Go's unquoting.
    return json.dumps(value, ensure_ascii=False)


def _label(name: str) -> str:
    return name if _IDENTIFIER.match(name) else _string(name)


def _duration(ms: int) -> str:
    return f"{int(ms)}ms"


def _refuse_extensions(node: Mapping[str, Any]) -> None:
    for key in ("rangeExpr", "offsetExpr", "stepExpr"):
        if node.get(key) is not None:
            raise UnsupportedExpressionError("duration arithmetic in ranges or offsets is not "
                                        "supported; write a plain duration")
    if node.get("anchored") or node.get("smoothed"):
        raise UnsupportedExpressionError("anchored/smoothed selectors are not supported")


def _modifiers(node: Mapping[str, Any]) -> str:
    text = ""
    if node.get("offset"):
        text += f" offset {_duration(node['offset'])}" if node["offset"] > 0 \
            else f" offset -{_duration(-node['offset'])}"
    if node.get("startOrEnd"):
        text += f" @ {node['startOrEnd']}()"
    elif node.get("timestamp") is not None:
        text += f" @ {node['timestamp'] / 1000:.3f}"
    return text


def _selector(node: Mapping[str, Any], scope: Mapping[str, str]) -> str:
    matchers = [f"{_label(m['name'])}{m['type']}{_string(m['value'])}"
                for m in node.get("matchers") or []]
    matchers += [f"{_label(name)}={_string(value)}" for name, value in sorted(scope.items())]
    return "{" + ",".join(matchers) + "}"


def render(node: Mapping[str, Any] | None, scope: Mapping[str, str]) -> str:
    """PromQL text of the AST ``node`` with ``scope``'s matchers on every selector."""
    if node is None:
        raise UnsupportedExpressionError("empty expression")
    kind = node.get("type")
    if kind == "vectorSelector":
        _refuse_extensions(node)
        return _selector(node, scope) + _modifiers(node)
    if kind == "matrixSelector":
        _refuse_extensions(node)
        return f"{_selector(node, scope)}[{_duration(node['range'])}]{_modifiers(node)}"
    if kind == "subquery":
        _refuse_extensions(node)
        step = _duration(node["step"]) if node.get("step") else ""
        return (f"({render(node['expr'], scope)})[{_duration(node['range'])}:{step}]"
                f"{_modifiers(node)}")
    if kind == "numberLiteral":
        return str(node["val"])
    if kind == "stringLiteral":
        return _string(node["val"])
    if kind == "parenExpr":
        return f"({render(node['expr'], scope)})"
    if kind == "unaryExpr":
        return f"{node['op']}({render(node['expr'], scope)})"
    if kind == "call":
        args = ", ".join(render(arg, scope) for arg in node.get("args") or [])
        return f"{node['func']['name']}({args})"
    if kind == "aggregation":
        grouping = ", ".join(_label(g) for g in node.get("grouping") or [])
        clause = f" without ({grouping})" if node.get("without") else \
            (f" by ({grouping})" if grouping else "")
        param = f"{render(node['param'], scope)}, " if node.get("param") is not None else ""
        return f"{node['op']}{clause} ({param}{render(node['expr'], scope)})"
    if kind == "binaryExpr":
        return _binary(node, scope)
    raise UnsupportedExpressionError(f"unsupported expression node {kind!r}")


def _binary(node: Mapping[str, Any], scope: Mapping[str, str]) -> str:
    op = node["op"]
    text = f"({render(node['lhs'], scope)}) {op}"
    if node.get("bool"):
        text += " bool"
    matching = node.get("matching")
    if matching:
        fills = matching.get("fillValues") or {}
        if any(v is not None for v in fills.values()):
            raise UnsupportedExpressionError("fill modifiers are not supported")
        labels = ", ".join(_label(name) for name in matching.get("labels") or [])
        if matching.get("on"):
            text += f" on ({labels})"
        elif labels:
            text += f" ignoring ({labels})"
        include = ", ".join(_label(name) for name in matching.get("include") or [])
        if op not in _SET_OPERATORS:
            if matching.get("card") == "many-to-one":
                text += f" group_left ({include})"
            elif matching.get("card") == "one-to-many":
                text += f" group_right ({include})"
    return f"{text} ({render(node['rhs'], scope)})"


def selectors(node: Any) -> list[Mapping[str, Any]]:
    """Every vector/matrix selector in an AST (to check a scoped expression)."""
    found: list[Mapping[str, Any]] = []
    if isinstance(node, Mapping):
        if node.get("type") in ("vectorSelector", "matrixSelector"):
            found.append(node)
        for value in node.values():
            found += selectors(value)
    elif isinstance(node, list):
        for value in node:
            found += selectors(value)
    return found


def confined(ast: Any, scope: Mapping[str, str]) -> bool:
    """Whether every selector of ``ast`` carries ``scope``'s equality matchers."""
    wanted = {(name, value) for name, value in scope.items()}
    return all(wanted <= {(m["name"], m["value"]) for m in s.get("matchers") or []
                          if m["type"] == "="} for s in selectors(ast))

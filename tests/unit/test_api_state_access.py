"""Routes get the app's backends (Kubernetes client, caches, Prometheus, Alertmanager, log store,
event hub, ...) only through the typed ``Annotated[..., Depends()]`` aliases of ``api/deps.py``,
never by reaching into the untyped ``request.app.state``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hybridcloud.api.routes

ROUTES = Path(hybridcloud.api.routes.__file__).parent


def _app_state_uses(source: str) -> list[int]:
    """Line numbers of ``<anything>.app.state`` and of ``getattr(<anything>.app, ...)``."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr == "state" and \
                isinstance(node.value, ast.Attribute) and node.value.attr == "app":
            lines.append(node.lineno)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id in {"getattr", "setattr", "hasattr"} and node.args and \
                isinstance(node.args[0], ast.Attribute) and node.args[0].attr in {"app", "state"}:
            lines.append(node.lineno)
    return sorted(lines)


@pytest.mark.parametrize("module", sorted(p.name for p in ROUTES.glob("*.py")))
def test_no_route_module_reads_app_state_directly(module: str) -> None:
    uses = _app_state_uses((ROUTES / module).read_text())
    assert not uses, (f"api/routes/{module} touches app.state on lines {uses}: add a typed "
                      "alias in api/deps.py and take it as a route parameter")


def test_the_check_finds_app_state_reads_and_getattr_on_the_app() -> None:
    # The check itself must be able to fail, or the test above proves nothing.
    source = ("def f(request):\n"
              "    a = request.app.state.kube\n"
              "    b = getattr(request.app.state, 'scoper', None)\n"
              "    c = getattr(request.app, 'state')\n"
              "    return request.url\n")
    assert _app_state_uses(source) == [2, 3, 3, 4]

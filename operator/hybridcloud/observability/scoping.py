"""Confine PromQL to a scope through Prometheus's parser (see ``promql.py``)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from .prometheus import PrometheusClient, QueryRejectedError
from .promql import UnsupportedExpressionError, confined, render

_REMEMBERED = 4096


class Scoper:
    """Scoped expressions, remembered: the catalogue's few expressions are parsed once per
    (cluster, tenant), so a metrics request costs one query per metric, as a direct one would."""

    def __init__(self, prometheus: PrometheusClient) -> None:
        self.prometheus = prometheus
        self._done: OrderedDict[tuple[str, tuple[tuple[str, str], ...]], str] = OrderedDict()

    async def scope(self, expression: str, scope: Mapping[str, str]) -> str:
        """``expression`` with ``scope``'s matchers on every selector.

        Raises :class:`QueryRejectedError` for a syntax error (Prometheus's message, with the
        position) and for constructs the printer refuses."""
        key = (expression, tuple(sorted(scope.items())))
        if key in self._done:
            self._done.move_to_end(key)
            return self._done[key]
        ast = await self.prometheus.parse(expression)
        try:
            scoped = render(ast, scope)
        except UnsupportedExpressionError as exc:
            raise QueryRejectedError(str(exc)) from exc
        # The printed expression is parsed again and checked: whatever the printer emitted,
        # it is only used when Prometheus reads it as confined to the scope.
        if not confined(await self.prometheus.parse(scoped), scope):
            raise QueryRejectedError("the expression could not be confined to the tenant's series")
        self._done[key] = scoped
        if len(self._done) > _REMEMBERED:
            self._done.popitem(last=False)
        return scoped

"""Cases 6 and 7: the REST API against the apiserver and against a bare FastAPI endpoint."""

from __future__ import annotations

from .env import Bench
from .report import Result


async def run(bench: Bench, scale: float) -> list[Result]:
    note = "REST API watch cache not landed yet (issue 5)"
    return [Result("rest_list_p50", None, "ms", None, note=note),
            Result("rest_get_ceiling", None, "req/s", None, note=note)]

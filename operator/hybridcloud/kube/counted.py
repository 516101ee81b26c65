"""``rest_client_requests_total`` for the platform's httpx-based Kubernetes clients.

client-go counts every request its REST client sends; the dashboards built on that metric expect
reads, watches and writes alike, to the management apiserver and to every member. The lean wire
client (``wire.py``) counts its own requests; lightkube clients, and the raw httpx clients that
reach member apiservers and kubelets, are counted here by a response event hook on the httpx
client underneath, so no call site has to remember it. A watch is counted when its response
starts, as client-go does. A request that got no answer is not counted (its error is raised
and logged where it is handled), as in ``wire.py``.

Every factory that builds such a client passes it through :func:`counted` or
:func:`counted_http`.
"""

from __future__ import annotations

import httpx2
from lightkube import AsyncClient

from ..observability.operator_metrics import REST_REQUESTS


async def _count(response: httpx2.Response) -> None:
    request = response.request
    REST_REQUESTS.labels(str(response.status_code), request.method,
                         request.url.netloc.decode("ascii")).inc()


def counted_http(http: httpx2.AsyncClient) -> httpx2.AsyncClient:
    """``http`` with every response it receives counted (idempotent)."""
    hooks = http.event_hooks
    if _count not in hooks["response"]:
        http.event_hooks = {**hooks, "response": [*hooks["response"], _count]}
    return http


def counted(client: AsyncClient) -> AsyncClient:
    """The lightkube client ``client`` with every response counted.

    lightkube builds its httpx client itself and takes no hooks; its generic client keeps it
    as ``_client._client`` (the same private path ``cache.py`` streams watches through, pinned
    by the ``lightkube<1.1`` bound)."""
    counted_http(client._client._client)
    return client

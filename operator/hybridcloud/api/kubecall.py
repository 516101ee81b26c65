"""Calls to the Kubernetes API from request handlers: an unreachable or failing apiserver is
503 SERVICE_UNAVAILABLE (with Retry-After), never a 500."""

from __future__ import annotations

from typing import Any

import httpx
import httpx2
from lightkube.core.exceptions import ApiError

from .errors import APIError


async def kube_call(call: Any) -> Any:
    """Await a Kubernetes call, mapping an unreachable apiserver to SERVICE_UNAVAILABLE."""
    try:
        return await call
    except (httpx.TransportError, httpx2.TransportError, TimeoutError) as exc:
        raise APIError("SERVICE_UNAVAILABLE", "the Kubernetes API is unreachable; retry later",
                       headers={"Retry-After": "5"}) from exc
    except ApiError as exc:
        if exc.status.code is not None and exc.status.code >= 500:
            raise APIError("SERVICE_UNAVAILABLE", "the Kubernetes API is unavailable; retry later",
                           headers={"Retry-After": "5"}) from exc
        raise

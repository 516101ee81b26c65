"""Reading ``pods/log`` from a given time on, over the member's own credential.

lightkube's ``log()`` offers ``sinceSeconds`` and ``tailLines`` but neither ``sinceTime`` (an
absolute resume point) nor ``limitBytes`` (a bound on one response), and its client has no
public raw-request method, so the log shipper reads the endpoint with a small HTTP client of
its own. The connection and the user come from the same kubeconfig through lightkube's public
config helpers (as ``member_probe`` does), so both clients talk to the same member as the same
user. Errors carry the HTTP status only: a member's response body never reaches a log.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx2
from lightkube import KubeConfig
from lightkube.config.client_adapter import user_auth, verify_cluster

from .counted import counted_http


class PodLogError(Exception):
    """The member refused or could not serve the log (``code`` 0: it was not reached)."""

    def __init__(self, code: int, what: str) -> None:
        super().__init__(f"{what}: HTTP {code}" if code else what)
        self.code = code


class PodLogReader:
    def __init__(self, config: KubeConfig, timeout: float = 30.0) -> None:
        """``config`` must come from ``kube.kubeconfig_policy.safe_kube_config``."""
        single = config.get()
        if single is None or single.user is None:
            raise ValueError("the member credential names no user")
        self._http = counted_http(httpx2.AsyncClient(
            base_url=single.cluster.server.rstrip("/"),
            verify=verify_cluster(single.cluster, single.user, single.abs_file),
            auth=user_auth(single.user), timeout=httpx2.Timeout(timeout)))

    async def close(self) -> None:
        await self._http.aclose()

    async def read(self, namespace: str, pod: str, container: str, *, since_time: str | None,
                   limit_bytes: int) -> bytes:
        """At most ``limit_bytes`` of the container's log, each line prefixed with its
        RFC 3339 timestamp, from ``since_time`` (RFC 3339, whole seconds) on."""
        params: dict[str, Any] = {"container": container, "timestamps": "true",
                                  "limitBytes": str(limit_bytes)}
        if since_time is not None:
            params["sinceTime"] = since_time
        path = f"/api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(pod, safe='')}/log"
        try:
            response = await self._http.get(path, params=params)
        except httpx2.HTTPError as exc:
            raise PodLogError(0, f"log of {namespace}/{pod} unreachable "
                                 f"({type(exc).__name__})") from None
        if response.status_code != 200:
            raise PodLogError(response.status_code, f"log of {namespace}/{pod}")
        return response.content

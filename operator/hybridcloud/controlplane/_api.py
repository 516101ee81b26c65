"""A minimal HTTPS client for the apiserver, used for readiness probes and fake nodes.

Readiness is polled over plain REST rather than by shelling out to kubectl: one TLS
connection reused every 100 ms costs far less than forking a Go binary each time.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx


def tls_context(ca: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """Verify servers against ``ca`` and, if given, present ``cert``/``key`` as client."""
    context = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key) if key is not None else None)
    return context


def api_client(server: str, ca: Path, cert: Path, key: Path, timeout: float = 5.0) -> httpx.Client:
    """An httpx client for ``server`` authenticated with a client certificate."""
    return httpx.Client(
        base_url=server,
        verify=tls_context(ca, cert, key),
        timeout=timeout,
        headers={"Accept": "application/json"},
    )


def probe_ok(client: httpx.Client, url: str) -> bool:
    """True when GET ``url`` answers 200; connection errors count as "not yet"."""
    try:
        return client.get(url).status_code == httpx.codes.OK
    except httpx.TransportError:
        return False

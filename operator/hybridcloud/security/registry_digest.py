"""Manifest digests asked of the registry over the distribution API.

Scan results are cached by manifest digest: a tag is resolved first (one HEAD request, with an
anonymous bearer token where the registry asks for one) and an image already scanned under that
digest is not scanned again. Registries named in ``insecure`` are spoken to over plain HTTP (a
local registry in development and tests); every other one over HTTPS.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket

import httpx

from .image_refs import DIGEST, ImageRef

_REGISTRY_API_HOST = {"docker.io": "registry-1.docker.io"}
_MANIFEST_TYPES = ", ".join((
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
))


class RegistryUnreachableError(RuntimeError):
    """The registry did not answer, or refused to name the image's digest."""


class RegistryRefusedError(RuntimeError):
    """The registry's name leads to an address the platform does not let scans contact."""


def _host(registry: str) -> str:
    if registry.startswith("["):  # [v6]:port
        return registry[1:].partition("]")[0]
    return registry.rpartition(":")[0] if registry.count(":") == 1 else registry


async def check_registry_address(registry: str, allowed: frozenset[str]) -> None:
    """Refuse a registry whose name resolves to a non-public address (loopback, private,
    link-local such as the cloud metadata service, shared, reserved) unless the platform's
    operator listed it in ``allowed``: image names come from tenants (scan targets and their
    workloads), and the scanner must not become their way into the platform's own network.
    Checked right before the registry is contacted; a name that resolves nowhere is left to
    fail as unreachable."""
    if registry in allowed:
        return
    host = _host(_REGISTRY_API_HOST.get(registry, registry))
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, None,
                                                             type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
        if not address.is_global:
            raise RegistryRefusedError(
                f"registry {registry} resolves to a non-public address; scans only contact "
                "public registries and the ones the platform lists in "
                "HYBRIDCLOUD_OPERATOR_SCANNER_PRIVATE_REGISTRIES")


async def resolve_digest(ref: ImageRef, insecure: frozenset[str], wait: float) -> str:
    """The manifest digest the registry serves for ``ref`` now."""
    if ref.digest:
        return ref.digest
    scheme = "http" if ref.registry in insecure else "https"
    host = _REGISTRY_API_HOST.get(ref.registry, ref.registry)
    url = f"{scheme}://{host}/v2/{ref.repository}/manifests/{ref.tag}"
    headers = {"Accept": _MANIFEST_TYPES}
    try:
        async with httpx.AsyncClient(timeout=wait, follow_redirects=True) as http:
            answer = await http.head(url, headers=headers)
            if answer.status_code == 401:
                token = await _anonymous_token(http, answer.headers.get("WWW-Authenticate", ""))
                if token:
                    headers["Authorization"] = f"Bearer {token}"
                    answer = await http.head(url, headers=headers)
    except httpx.HTTPError as exc:
        raise RegistryUnreachableError(
            f"registry {ref.registry} unreachable: {type(exc).__name__}") from exc
    digest = str(answer.headers.get("Docker-Content-Digest", ""))
    if answer.status_code != 200 or not DIGEST.match(digest):
        raise RegistryUnreachableError(
            f"registry {ref.registry} answered {answer.status_code} for {ref.text}")
    return digest


async def _anonymous_token(http: httpx.AsyncClient, challenge: str) -> str:
    """Follow a ``Bearer realm=…,service=…,scope=…`` challenge without credentials."""
    if not challenge.lower().startswith("bearer "):
        return ""
    params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    realm = params.pop("realm", "")
    if not realm.startswith("https://"):
        return ""  # never hand even an anonymous request to a plain-HTTP token endpoint
    answer = await http.get(realm, params=params)
    if answer.status_code != 200:
        return ""
    body = answer.json()
    return str(body.get("token") or body.get("access_token") or "")

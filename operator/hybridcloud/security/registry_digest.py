"""Manifest digests asked of the registry over the distribution API.

Scan results are cached by manifest digest: a tag is resolved first (one HEAD request, with an
anonymous bearer token where the registry asks for one) and an image already scanned under that
digest is not scanned again. Registries named in ``insecure`` are spoken to over plain HTTP (a
local registry in development and tests); every other one over HTTPS.
"""

from __future__ import annotations

import re

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

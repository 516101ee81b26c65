"""POST /v1/hooks/git: push webhooks from GitHub, GitLab and Gitea refresh exactly the
applications that track the pushed repository and branch (or tag).

Unauthenticated on purpose, like Argo CD's and Flux's receivers: a Git host cannot hold a
Kubernetes token. Instead every request must be signed with the platform's secret for its
provider (``HYBRIDCLOUD_API_GIT_HOOK_SECRETS_DIR``, see ``delivery/githooks.py``). In order:

1. a bucket per client address (``git-hook:address:*``, the default tier) and, before the
   signature is checked, the auth-failure bucket of that address (429 once spent);
2. the payload cap ``HYBRIDCLOUD_API_GIT_HOOK_MAX_BODY_BYTES`` (413);
3. the signature (401 ``UNAUTHORIZED``, the same message whether the provider is unknown, not
   configured, or the signature wrong; a failure spends from the auth-failure bucket);
4. a payload signed and received before (within ``git_hook_replay_seconds``) is acknowledged
   and does nothing; events other than pushes are acknowledged with 204;
5. the refresh annotation is set, with the API's own credential, on every application that
   tracks the push (the API's ClusterRole already has ``patch`` on multiclusterapplications),
   ``PATCHES_AT_ONCE`` at a time over a lean aiohttp connection (``kube/wire.py``, opened by
   ``api/app.py``): through lightkube's httpx client the 100 patches of a push were 60% of the
   API's busy samples and took 3-5 s on a loaded machine, and every application waits for its
   own (issue 19's commit-to-fleet timeline); over aiohttp they cost about a third of that.

The answer never says whether or how many applications matched: a tenant holding the secret
learns nothing about other tenants' applications. The payload's commit SHAs are never used: the
operator asks the Git server itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import aiohttp
import httpx2
from fastapi import APIRouter, Request, Response
from lightkube.core.exceptions import ApiError
from pydantic import BaseModel

from ... import GROUP, VERSION
from ...delivery.githooks import (
    REFRESH_ANNOTATION,
    SIGNATURE_HEADER,
    InvalidPayloadError,
    Provider,
    is_push,
    parse_push,
    provider_of,
    signature_valid,
    tracks,
)
from ...kube.wire import MERGE_PATCH, KubeWire, object_path
from ...models import MultiClusterApplication
from ..deps import (
    CachesDep,
    GitHookPayloadsDep,
    GitHookWireDep,
    SettingsDep,
    charge,
    client_address,
    kube_call,
    record_failure,
    refuse_if_failing,
)
from ..errors import APIError
from ..settings import Settings
from ._common import errors

log = logging.getLogger(__name__)
router = APIRouter(tags=["hooks"])
PATCHES_AT_ONCE = 32  # also the connections of the wire api/app.py opens for them


class HookAccepted(BaseModel):
    status: str  # "accepted", or "duplicate" for a payload received before


def _secret(settings: Settings, provider: Provider) -> bytes | None:
    if not settings.git_hook_secrets_dir:
        return None
    try:
        secret = (Path(settings.git_hook_secrets_dir) / provider.value).read_bytes().strip()
    except OSError:
        return None
    return secret or None


def _unauthorized(provider: Provider | None) -> APIError:
    header = SIGNATURE_HEADER[provider] if provider else "X-Hub-Signature-256"
    return APIError("UNAUTHORIZED", f"the webhook signature ({header}) is missing or invalid",
                    {"header": header})


async def _refresh(wire: KubeWire, applications: list[dict[str, Any]], token: str) -> None:
    """Set the refresh annotation on each application; a vanished one is skipped."""
    slots = asyncio.Semaphore(PATCHES_AT_ONCE)
    patch = {"metadata": {"annotations": {REFRESH_ANNOTATION: token}}}

    async def one(app: dict[str, Any]) -> None:
        meta = app["metadata"]
        path = object_path(f"{GROUP}/{VERSION}", MultiClusterApplication.PLURAL,
                           meta["namespace"], meta["name"])
        async with slots:
            try:
                await kube_call(_unreachable_as_transport_error(
                    wire.request("PATCH", path, patch, content_type=MERGE_PATCH)))
            except ApiError as exc:
                if exc.status.code == 404:
                    return
                # Anything else (RBAC taken away, admission) is the platform's problem: say
                # "try again" without details of another tenant's object.
                log.warning("git hook: cannot refresh %s/%s: HTTP %s", meta["namespace"],
                            meta["name"], exc.status.code)
                raise APIError("SERVICE_UNAVAILABLE", "applications cannot be refreshed now; "
                               "retry later", headers={"Retry-After": "5"}) from None
    await asyncio.gather(*(one(app) for app in applications))


async def _unreachable_as_transport_error(call: Any) -> Any:
    """aiohttp's connection errors as the httpx ones ``kube_call`` answers 503 for."""
    try:
        return await call
    except aiohttp.ClientError as exc:  # ClientResponseError is not raised: ApiError is
        raise httpx2.TransportError(str(exc)) from exc


@router.post("/v1/hooks/git", operation_id="receiveGitPush", status_code=202,
             response_model=HookAccepted, summary="Git push webhook (GitHub, GitLab, Gitea)",
             responses={204: {"description": "Signed, but not a push event: ignored."},
                        **errors()},
             openapi_extra={"security": [], "requestBody": {"required": True, "content": {
                 "application/json": {"schema": {"type": "object"}}}}})
async def receive_git_push(request: Request, settings: SettingsDep, caches: CachesDep,
                           wire: GitHookWireDep, recent: GitHookPayloadsDep) -> Response:
    address = client_address(request)
    charge(request, f"git-hook:address:{address}", settings.default_tier)
    failures = [f"auth-failure:git-hook:{address}"]
    refuse_if_failing(request, failures)
    body = await request.body()
    if len(body) > settings.git_hook_max_body_bytes:
        raise APIError("PAYLOAD_TOO_LARGE", f"request body: {len(body)} bytes exceed the limit "
                       f"of {settings.git_hook_max_body_bytes} bytes",
                       {"field": "body", "limit_bytes": settings.git_hook_max_body_bytes})
    headers = {key.lower(): value for key, value in request.headers.items()}
    provider = provider_of(headers)
    if provider is None or not signature_valid(provider, headers, body,
                                               _secret(settings, provider)):
        record_failure(request, failures)
        raise _unauthorized(provider)
    if not is_push(provider, headers):
        return Response(status_code=204)
    try:
        push = parse_push(provider, json.loads(body))
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        field = exc.field if isinstance(exc, InvalidPayloadError) else "body"
        message = str(exc) if isinstance(exc, InvalidPayloadError) else "body: not valid JSON"
        raise APIError("INVALID_REQUEST", message, {"field": field}) from None
    digest = hashlib.sha256(provider.value.encode() + b"\0" + body).hexdigest()
    if recent.seen_before(digest, settings.git_hook_replay_seconds):
        return _answer("duplicate")
    matching = [app for app in caches.applications
                if tracks(push, str(_source(app).get("repository", "")),
                          str(_source(app).get("revision", "HEAD")))]
    await _refresh(wire, matching, f"git-push:{request.state.request_id}")
    log.info("git hook (%s): push of %s to %s refreshed %d application(s)", provider.value,
             push.ref, sorted(push.repositories)[0], len(matching))
    return _answer("accepted")


def _source(app: dict[str, Any]) -> dict[str, Any]:
    source = (app.get("spec") or {}).get("source")
    return source if isinstance(source, dict) else {}


def _answer(status: str) -> Response:
    return Response(HookAccepted(status=status).model_dump_json(), status_code=202,
                     media_type="application/json")

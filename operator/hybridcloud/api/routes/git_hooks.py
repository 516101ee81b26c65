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
5. when any application tracks the push, the push is added to the push record (one ConfigMap
   in the member-credentials namespace, see ``delivery/gitpushes.py``) over a lean aiohttp
   connection (``kube/wire.py``, opened by ``api/app.py``): one write per push, after which the
   operator refreshes every application that tracks it at once. Setting the refresh annotation
   on each application instead cost 100 patches for 100 applications and, on a quiet machine,
   up to 1.5 s before the last one reached the operator (issue 19's commit-to-fleet timeline).

The answer never says whether or how many applications matched: a tenant holding the secret
learns nothing about other tenants' applications. The payload's commit SHAs are never used: the
operator asks the Git server itself.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import httpx2
from fastapi import APIRouter, Request, Response
from lightkube.core.exceptions import ApiError
from pydantic import BaseModel

from ...delivery.githooks import (
    SIGNATURE_HEADER,
    InvalidPayloadError,
    Provider,
    Push,
    is_push,
    parse_push,
    provider_of,
    signature_valid,
    tracked_by,
)
from ...delivery.gitpushes import RECORD_LABEL, RECORD_NAME, with_push
from ...kube.wire import KubeWire, object_path
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
RECORD_CONNECTIONS = 4  # of the wire api/app.py opens: two requests per push
RECORD_ATTEMPTS = 5  # writes of the push record lost to another replica's before giving up


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


async def _record(wire: KubeWire, namespace: str, push: Push, token: str) -> None:
    """Add ``push`` to the push record (created on first use); a write lost to a concurrent
    one (another API replica) is read and tried again."""
    path = object_path("v1", "configmaps", namespace, RECORD_NAME)
    for _ in range(RECORD_ATTEMPTS):
        try:
            current: dict[str, Any] | None = await _call(wire.request("GET", path))
        except ApiError as exc:
            if exc.status.code != 404:
                raise _cannot_record(exc) from None
            current = None
        try:
            if current is None:
                await _call(wire.request("POST", object_path("v1", "configmaps", namespace), {
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": RECORD_NAME, "namespace": namespace,
                                 "labels": {RECORD_LABEL: "true"}},
                    "data": with_push(None, token, push)}))
            else:  # a PUT with the resourceVersion read: a concurrent write makes it a 409
                current["data"] = with_push(current.get("data"), token, push)
                await _call(wire.request("PUT", path, current))
            return
        except ApiError as exc:
            if exc.status.code != 409:
                raise _cannot_record(exc) from None
    raise _cannot_record(None)


def _cannot_record(exc: ApiError | None) -> APIError:
    # RBAC taken away, the namespace missing, endless conflicts: the platform's problem. Say
    # "try again" (Git hosts redeliver) without the apiserver's words.
    log.warning("git hook: cannot write the push record: %s",
                f"HTTP {exc.status.code}" if exc is not None else "conflicting writes")
    return APIError("SERVICE_UNAVAILABLE", "the push cannot be recorded now; retry later",
                    headers={"Retry-After": "5"})


async def _call(call: Any) -> Any:
    return await kube_call(_unreachable_as_transport_error(call))


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
    # Recorded only when some application tracks the push (from the API's cache): a signed
    # sender pushing to repositories nobody deploys causes no writes.
    matching = sum(1 for app in caches.applications if tracked_by(push, app))
    if matching:
        try:
            # Made here, never from a header: the caller's X-Request-ID could repeat a token
            # and make the operator take a new push for one it handled.
            await _record(wire, settings.member_credentials_namespace, push,
                          f"git-push:{uuid.uuid4().hex}")
        except APIError:
            recent.forget(digest)
            raise
    log.info("git hook (%s): push of %s to %s tracked by %d application(s)", provider.value,
             push.ref, sorted(push.repositories)[0], matching)
    return _answer("accepted")


def _answer(status: str) -> Response:
    return Response(HookAccepted(status=status).model_dump_json(), status_code=202,
                     media_type="application/json")

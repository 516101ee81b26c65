"""POST /oauth/token: the OAuth 2.0 client-credentials grant (see ``api/oauth.py``).

Failures use the platform's standard error body (``details.oauth_error`` carries the RFC 6749
error: invalid_request, unsupported_grant_type, invalid_client, unauthorized_client).

Every request spends from a bucket per client address (``oauth:address:*``, the default tier: a
secret check costs an scrypt). Bad client secrets also spend from the auth-failure buckets of
the address and of the client ID; once either is empty, requests are refused with 429 before the
secret is checked, so a client ID cannot be brute-forced from many addresses either.

Tokens are never minted for ServiceAccounts of ``kube-*`` namespaces or of the platform's own
(``HYBRIDCLOUD_API_PLATFORM_NAMESPACE``, the OAuth namespace): a registration naming one gets 403.
"""

from __future__ import annotations

import asyncio
import datetime
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from lightkube.core.exceptions import ApiError
from lightkube.models.authentication_v1 import TokenRequestSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ServiceAccountToken
from pydantic import BaseModel

from ..deps import (
    CachesDep,
    KubeDep,
    SettingsDep,
    charge,
    client_address,
    kube_call,
    record_failure,
    refuse_if_failing,
)
from ..errors import APIError
from ..oauth import find_client, may_mint_for, verify_client_secret
from ._common import errors

router = APIRouter(tags=["oauth"])

_FORM = {"application/x-www-form-urlencoded": {"schema": {
    "type": "object", "required": ["grant_type", "client_id", "client_secret"],
    "properties": {"grant_type": {"type": "string", "enum": ["client_credentials"]},
                   "client_id": {"type": "string"}, "client_secret": {"type": "string"},
                   "scope": {"type": "string"}}}}}


class Token(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105  (the RFC 6749 token type)
    expires_in: int


def _invalid(message: str, oauth_error: str, code: str = "INVALID_REQUEST",
             field: str | None = None) -> APIError:
    details: dict[str, Any] = {"oauth_error": oauth_error}
    if field:
        details["field"] = field
    return APIError(code, message, details)


@router.post("/oauth/token", operation_id="issueToken", response_model=Token,
             responses=errors(), openapi_extra={"requestBody": {"required": True,
                                                                "content": _FORM}})
async def issue_token(request: Request, settings: SettingsDep, kube: KubeDep,
                      caches: CachesDep) -> Token:
    address = client_address(request)
    charge(request, f"oauth:address:{address}", settings.default_tier)
    if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"):
        raise _invalid("use Content-Type: application/x-www-form-urlencoded", "invalid_request")
    try:
        form = parse_qs((await request.body()).decode(), strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise _invalid("the body is not valid form data", "invalid_request") from exc
    fields = {key: values[0] for key, values in form.items() if values}
    for name in ("grant_type", "client_id", "client_secret"):
        if not fields.get(name):
            raise _invalid(f"{name}: field required", "invalid_request", field=name)
    if fields["grant_type"] != "client_credentials":
        raise _invalid("grant_type: only client_credentials is supported",
                       "unsupported_grant_type", field="grant_type")
    if len(fields["client_id"]) > 253:
        raise _invalid("client_id: at most 253 characters", "invalid_request", field="client_id")
    failures = [f"auth-failure:oauth-address:{address}",
                f"auth-failure:oauth-client:{fields['client_id']}"]
    refuse_if_failing(request, failures)
    client = find_client(caches.oauth_clients, fields["client_id"])
    # Verify even for unknown clients, so timing does not reveal which client IDs exist.
    stored = client.secret_hash if client else "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$" \
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    valid = await asyncio.to_thread(verify_client_secret, fields["client_secret"], stored)
    if client is None or not valid:
        record_failure(request, failures)
        raise _invalid("invalid client credentials", "invalid_client", code="UNAUTHORIZED")
    if not may_mint_for(client.namespace, settings):
        raise _invalid(f"service_account: client {client.client_id!r} is registered for a "
                       f"ServiceAccount of namespace {client.namespace!r}; tokens are only "
                       "issued for ServiceAccounts of tenant namespaces",
                       "unauthorized_client", code="FORBIDDEN", field="service_account")
    spec = TokenRequestSpec(audiences=[], expirationSeconds=settings.oauth_token_seconds)
    body = ServiceAccountToken(metadata=ObjectMeta(name=client.account,
                                                   namespace=client.namespace), spec=spec)
    try:
        answer = await kube_call(kube.create(
            body, name=client.account, namespace=client.namespace))
    except ApiError as exc:
        if exc.status.code == 404:
            raise _invalid("the client's ServiceAccount does not exist", "invalid_client",
                           code="UNAUTHORIZED") from exc
        raise
    status = answer.status
    if status is None or not status.token:
        raise APIError("SERVICE_UNAVAILABLE", "no token was issued; retry later")
    lifetime = settings.oauth_token_seconds
    if status.expirationTimestamp is not None:
        remaining = status.expirationTimestamp - datetime.datetime.now(datetime.UTC)
        lifetime = max(0, int(remaining.total_seconds()))
    return Token(access_token=status.token, expires_in=lifetime)


"""/v1/webhooks: WebhookSubscription objects in the tenant namespace (docs/webhooks.md).

The webhook ID is the object's name. The signing secret goes into a Secret the subscription
names (owned by it); it is never returned, logged or put in status. That Secret is written with
the caller's own bearer token, so Kubernetes RBAC decides whether the caller may write Secrets
there and the API itself holds no rights on tenants' Secrets. URLs are checked here (form,
scheme, and the addresses the host resolves to now) and again by the operator before every
delivery. Pings and redeliveries are requests to the operator, made through annotations on the
subscription: the operator is the only process that calls receivers.
"""

from __future__ import annotations

import base64
import contextlib
import secrets as token_source
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from lightkube import AsyncClient
from lightkube.config.kubeconfig import SingleConfig
from lightkube.config.models import User
from lightkube.core.exceptions import ApiError
from lightkube.models.meta_v1 import ObjectMeta, OwnerReference
from lightkube.resources.core_v1 import Secret
from lightkube.types import PatchType
from pydantic import BaseModel, Field

from ... import API_VERSION
from ...events.dispatcher import PING_ANNOTATION, REDELIVER_PREFIX, delivery_id
from ...events.signing import MAX_SECRET_BYTES, MIN_SECRET_BYTES
from ...events.urls import UnsafeURLError, URLPolicy, resolve
from ...kube.cache import WatchCache
from ...kube.counted import counted
from ...kube.resources import WebhookSubscriptionResource
from ...models.common import DNS_SUBDOMAIN
from ...models.webhook import MAX_URL_LENGTH, SECRET_KEY, EventType, WebhookSubscription
from ..deps import AuthDep, CachesDep, CallerDep, KubeDep, SettingsDep, TenantDep, kube_call
from ..errors import APIError, from_kube
from ..settings import Settings
from ._common import caught_up, errors

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
PLURAL = WebhookSubscription.PLURAL
WebhookId = Annotated[str, Path(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN,
                                description="Webhook ID (the WebhookSubscription's name).")]
Url = Annotated[str, Field(min_length=8, max_length=MAX_URL_LENGTH)]
SecretText = Annotated[str, Field(min_length=MIN_SECRET_BYTES, max_length=MAX_SECRET_BYTES)]
Events = Annotated[list[EventType], Field(min_length=1, max_length=len(EventType))]


class WebhookCreate(BaseModel):
    url: Url
    events: Events
    secret: SecretText
    active: bool = True


class WebhookPatch(BaseModel):
    url: Url | None = None
    events: Events | None = None
    secret: SecretText | None = None
    active: bool | None = None


class Webhook(BaseModel):
    id: str
    url: str
    events: list[str]
    active: bool
    created_at: str | None
    delivered: int
    failed: int
    last_delivery: str | None


class WebhookList(BaseModel):
    webhooks: list[Webhook]
    total: int


class Delivery(BaseModel):
    id: str
    event_id: str
    event: str
    status: str
    attempts: int
    status_code: int | None
    duration_ms: int | None
    error: str | None
    next_retry: str | None
    timestamp: str


class DeliveryList(BaseModel):
    webhook_id: str
    deliveries: list[Delivery]


class Requested(BaseModel):
    webhook_id: str
    delivery_id: str
    status: str


def _view(obj: dict[str, Any]) -> Webhook:
    spec, status = obj["spec"], obj.get("status") or {}
    return Webhook(id=obj["metadata"]["name"], url=spec["url"], events=list(spec["events"]),
                   active=spec.get("active", True),
                   created_at=obj["metadata"].get("creationTimestamp"),
                   delivered=int(status.get("delivered") or 0),
                   failed=int(status.get("failed") or 0), last_delivery=status.get("lastDelivery"))


async def _cache(caches: Any) -> WatchCache:
    cache: WatchCache | None = caches.webhooks
    if cache is None or not await cache.wait_synced(5.0):
        raise APIError("SERVICE_UNAVAILABLE", "webhook subscriptions are not loaded yet; retry",
                       headers={"Retry-After": "5"})
    return cache


def _found(cache: WatchCache, namespace: str, webhook_id: str) -> dict[str, Any]:
    obj = cache.get(namespace, webhook_id)
    if obj is None:
        raise APIError("NOT_FOUND", f"Webhook with ID '{webhook_id}' not found",
                       {"webhook_id": webhook_id})
    return obj


async def _checked_url(settings: Settings, url: str) -> str:
    policy = URLPolicy.of(allow_http=settings.webhook_allow_http,
                          allow_private=settings.webhook_allow_private,
                          blocked_cidrs=settings.webhook_blocked_cidrs)
    try:
        await resolve(url, policy)
    except UnsafeURLError as exc:
        raise APIError("INVALID_REQUEST", f"url: {exc}", {"field": "url"}) from None
    return url


def _secret_name(webhook_id: str) -> str:
    return f"{webhook_id}-webhook-secret"[:253]


@contextlib.asynccontextmanager
async def _as_caller(request: Request, kube: AsyncClient) -> AsyncIterator[AsyncClient]:
    """A client of the same apiserver as ``kube``, authenticated with the caller's bearer
    token."""
    token = request.headers.get("authorization", "").partition(" ")[2].strip()
    base: SingleConfig = kube.config
    client = counted(AsyncClient(config=SingleConfig(
        context_name=base.context_name, context=base.context, cluster=base.cluster,
        user=User(token=token), fname=base.fname), field_manager="hybridcloud-api"))
    try:
        yield client
    finally:
        await client.close()


def _secret(namespace: str, name: str, value: str, owner: dict[str, Any]) -> Secret:
    meta = owner["metadata"]
    return Secret(
        metadata=ObjectMeta(name=name, namespace=namespace, ownerReferences=[OwnerReference(
            apiVersion=API_VERSION, kind=WebhookSubscription.KIND, name=meta["name"],
            uid=meta["uid"], controller=True, blockOwnerDeletion=False)]),
        type="Opaque", data={SECRET_KEY: base64.b64encode(value.encode()).decode()})


@router.post("", operation_id="createWebhook", status_code=201, response_model=Webhook,
             responses=errors(403, 409))
async def create_webhook(body: WebhookCreate, request: Request, caller: CallerDep,
                         auth: AuthDep, caches: CachesDep, namespace: TenantDep,
                         kube: KubeDep, settings: SettingsDep) -> Webhook:
    await auth.require(caller, "create", PLURAL, namespace)
    await auth.require(caller, "create", "secrets", namespace, group="")
    cache = await _cache(caches)
    await _checked_url(settings, body.url)
    name = f"wh-{token_source.token_hex(5)}"
    manifest = {"apiVersion": API_VERSION, "kind": WebhookSubscription.KIND,
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"url": body.url, "events": [str(e) for e in dict.fromkeys(body.events)],
                         "secretRef": _secret_name(name), "active": body.active}}
    try:  # the manifest's metadata names the namespace
        created = (await kube_call(kube.create(
            WebhookSubscriptionResource.from_dict(manifest)))).to_dict()
    except ApiError as exc:
        raise from_kube(exc) from exc
    try:
        async with _as_caller(request, kube) as own:
            await kube_call(own.create(_secret(namespace, _secret_name(name), body.secret,
                                               created)))
    except (ApiError, APIError) as exc:
        # Never leave a subscription without its secret behind a failed request.
        await kube.delete(WebhookSubscriptionResource, name, namespace=namespace)
        raise (from_kube(exc) if isinstance(exc, ApiError) else exc) from None
    await caught_up(cache, created, settings.consistency_timeout)
    return _view(created)


@router.get("", operation_id="listWebhooks", response_model=WebhookList, responses=errors(403))
async def list_webhooks(caller: CallerDep, auth: AuthDep, caches: CachesDep,
                        namespace: TenantDep) -> WebhookList:
    await auth.require(caller, "list", PLURAL, namespace)
    found = [_view(o) for o in (await _cache(caches)).items(namespace)]
    return WebhookList(webhooks=found, total=len(found))


@router.get("/{webhook_id}", operation_id="getWebhook", response_model=Webhook,
            responses=errors(403, 404))
async def get_webhook(webhook_id: WebhookId, caller: CallerDep, auth: AuthDep,
                      caches: CachesDep, namespace: TenantDep) -> Webhook:
    await auth.require(caller, "get", PLURAL, namespace)
    return _view(_found(await _cache(caches), namespace, webhook_id))


@router.patch("/{webhook_id}", operation_id="updateWebhook", response_model=Webhook,
              responses=errors(403, 404, 409))
async def update_webhook(webhook_id: WebhookId, body: WebhookPatch, request: Request,
                         caller: CallerDep, auth: AuthDep, caches: CachesDep,
                         namespace: TenantDep, kube: KubeDep,
                         settings: SettingsDep) -> Webhook:
    await auth.require(caller, "patch", PLURAL, namespace)
    cache = await _cache(caches)
    obj = _found(cache, namespace, webhook_id)
    spec: dict[str, Any] = {}
    if body.url is not None:
        spec["url"] = await _checked_url(settings, body.url)
    if body.events is not None:
        spec["events"] = [str(e) for e in dict.fromkeys(body.events)]
    if body.active is not None:
        spec["active"] = body.active
    if body.secret is not None:
        await auth.require(caller, "patch", "secrets", namespace, group="")
        secret_name = obj["spec"]["secretRef"]
        secret = _secret(namespace, secret_name, body.secret, obj)
        try:
            async with _as_caller(request, kube) as own:
                await kube_call(own.patch(Secret, secret_name, secret, namespace=namespace,
                                          patch_type=PatchType.APPLY, force=True))
        except ApiError as exc:
            raise from_kube(exc) from exc
    if not spec:
        return _view(obj)
    try:
        updated = (await kube_call(kube.patch(
            WebhookSubscriptionResource, webhook_id, {"spec": spec}, namespace=namespace,
            patch_type=PatchType.MERGE))).to_dict()
    except ApiError as exc:
        raise from_kube(exc, not_found=APIError("NOT_FOUND", "webhook not found")) from exc
    await caught_up(cache, updated, settings.consistency_timeout)
    return _view(updated)


@router.delete("/{webhook_id}", operation_id="deleteWebhook", status_code=204,
               responses=errors(403, 404))
async def delete_webhook(webhook_id: WebhookId, request: Request, caller: CallerDep,
                         auth: AuthDep, caches: CachesDep, namespace: TenantDep,
                         kube: KubeDep) -> None:
    await auth.require(caller, "delete", PLURAL, namespace)
    obj = _found(await _cache(caches), namespace, webhook_id)
    try:
        await kube_call(kube.delete(WebhookSubscriptionResource, webhook_id,
                                    namespace=namespace))
    except ApiError as exc:
        if exc.status.code != 404:
            raise from_kube(exc) from exc
    # The Secret is owned by the subscription (garbage-collected with it); removed now too
    # when the caller may, so the signing key does not outlive its webhook.
    with contextlib.suppress(ApiError):
        async with _as_caller(request, kube) as own:
            await kube_call(own.delete(Secret, obj["spec"]["secretRef"], namespace=namespace))


async def _annotate(kube: AsyncClient, namespace: str, webhook_id: str, key: str,
                    value: str) -> None:
    try:
        await kube_call(kube.patch(
            WebhookSubscriptionResource, webhook_id, {"metadata": {"annotations": {key: value}}},
            namespace=namespace, patch_type=PatchType.MERGE))
    except ApiError as exc:
        raise from_kube(exc, not_found=APIError("NOT_FOUND", "webhook not found")) from exc


@router.post("/{webhook_id}/ping", operation_id="pingWebhook", status_code=202,
             response_model=Requested, responses=errors(403, 404))
async def ping_webhook(webhook_id: WebhookId, caller: CallerDep, auth: AuthDep,
                       caches: CachesDep, namespace: TenantDep, kube: KubeDep) -> Requested:
    await auth.require(caller, "patch", PLURAL, namespace)
    obj = _found(await _cache(caches), namespace, webhook_id)
    nonce = token_source.token_hex(8)
    await _annotate(kube, namespace, webhook_id, PING_ANNOTATION, nonce)
    return Requested(webhook_id=webhook_id, status="queued",
                     delivery_id=delivery_id(obj["metadata"]["uid"], "ping", nonce))


@router.get("/{webhook_id}/deliveries", operation_id="listWebhookDeliveries",
            response_model=DeliveryList, responses=errors(403, 404))
async def list_deliveries(webhook_id: WebhookId, caller: CallerDep, auth: AuthDep,
                          caches: CachesDep, namespace: TenantDep) -> DeliveryList:
    await auth.require(caller, "get", PLURAL, namespace)
    obj = _found(await _cache(caches), namespace, webhook_id)
    return DeliveryList(webhook_id=webhook_id, deliveries=[Delivery(
        id=d["id"], event_id=d["eventId"], event=d["event"], status=d["state"],
        attempts=d["attempts"], status_code=d.get("statusCode"), duration_ms=d.get("durationMs"),
        error=d.get("error"), next_retry=d.get("nextRetry"), timestamp=d["time"])
        for d in (obj.get("status") or {}).get("deliveries") or []])


@router.post("/{webhook_id}/deliveries/{delivery_id}/redeliver", operation_id="redeliverWebhook",
             status_code=202, response_model=Requested, responses=errors(403, 404))
async def redeliver(webhook_id: WebhookId, delivery: Annotated[str, Path(
        alias="delivery_id", min_length=1, max_length=64, pattern=r"^[a-f0-9]+$")],
        caller: CallerDep, auth: AuthDep, caches: CachesDep, namespace: TenantDep,
        kube: KubeDep) -> Requested:
    await auth.require(caller, "patch", PLURAL, namespace)
    obj = _found(await _cache(caches), namespace, webhook_id)
    records = (obj.get("status") or {}).get("deliveries") or []
    record = next((d for d in records if d["id"] == delivery), None)
    if record is None or not record.get("payload"):
        raise APIError("NOT_FOUND", f"Delivery '{delivery}' not found (or no longer kept)",
                       {"webhook_id": webhook_id, "delivery_id": delivery})
    nonce = token_source.token_hex(8)
    await _annotate(kube, namespace, webhook_id, REDELIVER_PREFIX + delivery, nonce)
    return Requested(webhook_id=webhook_id, status="queued",
                     delivery_id=delivery_id(obj["metadata"]["uid"], record["eventId"], nonce))

"""The WebhookSubscription custom resource and the transition record the other kinds carry.

A subscription lives in the tenant's namespace (so it can be kept in Git like any other object)
and names a Secret in the same namespace holding the signing secret: the secret itself is never
part of the object, the REST answers or the status. The operator writes the status: the
delivery cursor (how far each watched object's transitions have been delivered) and the most
recent delivery attempts. See ``docs/webhooks.md`` for the design.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from pydantic import Field

from .common import DNS_SUBDOMAIN, KubeModel, cel, list_map, with_rules


class EventType(StrEnum):
    CLUSTER_CREATED = "cluster.created"
    CLUSTER_UPDATED = "cluster.updated"
    CLUSTER_SCALED = "cluster.scaled"
    CLUSTER_READY = "cluster.ready"
    CLUSTER_FAILED = "cluster.failed"
    CLUSTER_DELETED = "cluster.deleted"
    APPLICATION_DEPLOYED = "application.deployed"
    APPLICATION_UPDATED = "application.updated"
    APPLICATION_DEGRADED = "application.degraded"
    APPLICATION_FAILED = "application.failed"
    APPLICATION_DELETED = "application.deleted"


SECRET_KEY = "secret"  # noqa: S105 - a data key name, not a secret
"""Data key of the signing secret in the Secret a subscription names."""
MAX_URL_LENGTH = 2048


class Transition(KubeModel):
    """One domain transition of the object, recorded in the same status write that made it
    happen, so a restarted operator can still deliver it (bounded to the last few)."""

    seq: int = Field(ge=1, description="Per-object sequence number, increasing by one.")
    type: EventType = Field(description="Event type, e.g. cluster.ready.")
    time: str = Field(max_length=40, description="When the transition happened (RFC 3339).")
    phase: str | None = Field(default=None, max_length=32,
                              description="The object's phase after the transition.")
    revision: str | None = Field(default=None, max_length=100,
                                 description="Applications: the source revision deployed.")


class WebhookSubscriptionSpec(KubeModel):
    """Where to deliver which events, signed with the secret of ``secretRef``."""

    model_config = with_rules(
        cel("self.url.startsWith('https://') || self.url.startsWith('http://')",
            "url must be an https:// (or, where the platform allows it, http://) URL",
            field_path=".url"),
        cel("self.events.all(e, self.events.exists_one(f, f == e))",
            "events must not repeat", field_path=".events"),
    )

    url: str = Field(min_length=8, max_length=MAX_URL_LENGTH,
                     description="Receiver URL (https://; http:// only where the platform "
                     "allows it). Addresses on loopback, link-local (cloud metadata) and the "
                     "cluster's own ranges are refused unless the platform allows them.")
    events: list[EventType] = Field(min_length=1, max_length=len(EventType),
                                    description="Event types delivered to this receiver.")
    secret_ref: str = Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN,
                            description="Secret in the same namespace whose data key `secret` "
                            "is the HMAC-SHA256 signing key.")
    active: bool = Field(default=True, description="Deliver events (false: pause).")


class CursorEntry(KubeModel):
    """How far one watched object's transitions are delivered to this subscription."""

    uid: str = Field(max_length=64, description="The object's UID.")
    kind: str = Field(max_length=64, description="HybridCluster or MultiClusterApplication.")
    name: str = Field(max_length=253, description="The object's name.")
    seq: int = Field(ge=0, description="Last transition delivered (or given up on).")
    detail: str | None = Field(default=None, max_length=100,
                               description="Provider (clusters), kept for the deleted event.")


class DeliveryRecord(KubeModel):
    """One event's delivery to this receiver (all its attempts)."""

    id: str = Field(max_length=64, description="Delivery ID.")
    event_id: str = Field(max_length=64, description="Event ID (the same for duplicates).")
    event: str = Field(max_length=64, description="Event type.")
    state: str = Field(max_length=16, description="pending, succeeded or failed.")
    attempts: int = Field(ge=0, description="Attempts so far.")
    status_code: int | None = Field(default=None, description="Last HTTP status code.")
    duration_ms: int | None = Field(default=None, ge=0, description="Last attempt's duration.")
    error: str | None = Field(default=None, max_length=300, description="Last error.")
    next_retry: str | None = Field(default=None, max_length=40,
                                   description="When the next attempt is due (RFC 3339).")
    time: str = Field(max_length=40, description="When the delivery started (RFC 3339).")
    payload: str | None = Field(default=None, max_length=8192,
                                description="The event body, kept for redelivery.")


class WebhookSubscriptionStatus(KubeModel):
    """Written by the operator: delivery progress, written in batches."""

    cursor: list[CursorEntry] | None = Field(
        default=None, max_length=20000, description="Per watched object delivery cursor.",
        json_schema_extra=list_map("uid"))
    deliveries: list[DeliveryRecord] | None = Field(
        default=None, max_length=50, description="Most recent deliveries, newest first.")
    delivered: int | None = Field(default=None, ge=0, description="Events delivered.")
    failed: int | None = Field(default=None, ge=0, description="Deliveries given up on.")
    last_delivery: str | None = Field(default=None, max_length=40,
                                      description="Time of the last successful delivery.")
    last_ping: str | None = Field(default=None, max_length=64,
                                  description="The last ping request carried out.")


class WebhookSubscription(KubeModel):
    """A webhook receiver of the namespace's cluster and application events, signed with
    HMAC-SHA256 and delivered at least once."""

    KIND: ClassVar[str] = "WebhookSubscription"
    PLURAL: ClassVar[str] = "webhooksubscriptions"
    SHORT_NAMES: ClassVar[list[str]] = ["whs", "webhooks"]

    api_version: str = Field(default="platform.example.com/v1", alias="apiVersion")
    kind: str = Field(default="WebhookSubscription")
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: WebhookSubscriptionSpec
    status: WebhookSubscriptionStatus | None = None

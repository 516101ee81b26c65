"""GET /v1/alerts: the tenant's alerts, firing ones from Alertmanager and pending ones from the
rule evaluator, in the contract's shape. ``?namespace=`` is both the contract's namespace filter
and the API's tenant selector (an alert's ``namespace`` is its tenant's). Only alerts carrying
the caller's tenant label are returned (the platform forces that label on every tenant rule,
``observability/rules.py``); the caller needs ``list`` on ``prometheusrules`` there."""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from ...observability import rules
from ...observability.alertmanager import AlertmanagerClient
from ...observability.prometheus import BackendUnavailableError
from ..deps import AlertmanagerDep, AuthDep, CallerDep, ScoperDep, SettingsDep, TenantDep
from ..settings import Settings
from ._common import errors
from .metrics import scoper, unavailable

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])


class Alert(BaseModel):
    id: str
    name: str
    state: str
    severity: str | None
    description: str | None
    cluster: str | None
    namespace: str
    started_at: str | None
    labels: dict[str, str]
    annotations: dict[str, str]


class AlertList(BaseModel):
    alerts: list[Alert]


def _alertmanager(found: AlertmanagerClient | None) -> AlertmanagerClient:
    if found is None:
        raise unavailable("alerts are not available on this server (no Alertmanager "
                          "configured)")
    return found


def _alert(labels: dict[str, str], annotations: dict[str, str], *, state: str,
           ident: str, started: str | None, settings: Settings, namespace: str) -> Alert:
    return Alert(id=ident, name=labels.get("alertname", ""), state=state,
                 severity=labels.get("severity"),
                 description=annotations.get("description") or annotations.get("summary"),
                 cluster=labels.get(settings.metrics_cluster_label),
                 namespace=namespace, started_at=started,
                 labels=labels, annotations=annotations)


def _pending_id(labels: dict[str, str]) -> str:
    # Alertmanager names an alert by its fingerprint; a pending one has not reached it yet, so
    # it is named by its labels, stably across calls.
    text = "\0".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@router.get("", operation_id="listAlerts", response_model=AlertList, responses=errors(403))
async def list_alerts(
    caller: CallerDep, auth: AuthDep, namespace: TenantDep, settings: SettingsDep,
    alertmanager: AlertmanagerDep, prometheus: ScoperDep,
    state: Annotated[Literal["firing", "pending"] | None, Query()] = None,
    severity: Annotated[str | None, Query(max_length=32)] = None,
    cluster: Annotated[str | None, Query(max_length=253)] = None,
) -> AlertList:
    await auth.require(caller, "list", rules.PLURAL, namespace, group=rules.GROUP)
    tenant = {settings.metrics_tenant_label: namespace}
    found: list[Alert] = []
    try:
        if state in (None, "firing"):
            for item in await _alertmanager(alertmanager).alerts(tenant):
                status = (item.get("status") or {}).get("state")
                if status != "active":
                    continue  # silenced or inhibited: not shown as firing
                found.append(_alert(item.get("labels") or {}, item.get("annotations") or {},
                                    state="firing", ident=str(item.get("fingerprint", "")),
                                    started=item.get("startsAt"), settings=settings,
                                    namespace=namespace))
        if state in (None, "pending"):
            for item in await scoper(prometheus).prometheus.alerts():
                labels = item.get("labels") or {}
                if item.get("state") != "pending" or \
                        labels.get(settings.metrics_tenant_label) != namespace:
                    continue
                found.append(_alert(labels, item.get("annotations") or {}, state="pending",
                                    ident=_pending_id(labels), started=item.get("activeAt"),
                                    settings=settings, namespace=namespace))
    except BackendUnavailableError as exc:
        raise unavailable("the alerting backend is unavailable") from exc
    chosen = [a for a in found
              if (severity is None or a.severity == severity)
              and (cluster is None or a.cluster == cluster)]
    return AlertList(alerts=sorted(chosen, key=lambda a: (a.started_at or "", a.id)))

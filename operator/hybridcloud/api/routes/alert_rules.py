"""/v1/alert-rules: tenant alert rules stored as PrometheusRule objects in the tenant namespace
(see ``observability/rules.py``). Kubernetes RBAC on ``prometheusrules``
(``monitoring.coreos.com``) in that namespace decides who may read or write them. The expression
is parsed by Prometheus and confined to the tenant before anything is stored: a syntax error is
a 400 naming ``expression`` with Prometheus's position. Without the PrometheusRule CRD (or
without a Prometheus to validate against) the endpoints answer 503."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from pydantic import BaseModel, ConfigDict, Field

from ...observability import rules
from ...observability.prometheus import BackendUnavailableError, QueryRejectedError
from ...observability.scoping import Scoper
from ...observability.templates import template_problem
from ..deps import AuthDep, CallerDep, KubeDep, ScoperDep, SettingsDep, TenantDep, kube_call
from ..errors import APIError, from_kube
from ..rule_sync import PrometheusRuleResource, reserved_labels
from ..settings import Settings
from ._common import errors
from .metrics import invalid, scoper, unavailable

router = APIRouter(prefix="/v1/alert-rules", tags=["alerts"])
RuleId = Annotated[str, Path(min_length=1, max_length=63,
                             pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]


class AlertRuleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=63, pattern=r"^[A-Za-z][A-Za-z0-9_]*$",
                      description="Alert name (the alertname label).")
    description: str = Field(default="", max_length=2048)
    expression: str = Field(min_length=1, max_length=8192, description="PromQL; it only ever "
                            "reads the series of the tenant's own clusters.")
    duration: str | None = Field(default=None, pattern=rules.DURATION.pattern, max_length=32,
                                 description="How long the expression must hold (for).")
    severity: Literal["critical", "warning", "info"]
    labels: dict[str, Annotated[str, Field(max_length=1024)]] = Field(default_factory=dict,
                                                                      max_length=32)
    annotations: dict[str, Annotated[str, Field(max_length=4096)]] = Field(
        default_factory=dict, max_length=32)


class AlertRule(BaseModel):
    """A stored rule as REST shows it (also rules written with kubectl, so unconstrained)."""

    id: str
    name: str
    description: str
    expression: str
    duration: str | None
    severity: str
    labels: dict[str, str]
    annotations: dict[str, str]
    created_at: str | None = None


class AlertRuleList(BaseModel):
    alert_rules: list[AlertRule]
    total: int


async def _checked(body: AlertRuleBody, settings: Settings, prometheus: Scoper | None,
                   namespace: str) -> None:
    identifier = rules.rule_id(body.name)
    rule = rules.manifest(namespace, identifier, body.model_dump())["spec"]["groups"][0][
        "rules"][0]
    reserved = reserved_labels(settings) | {"severity"}
    for name in sorted(body.labels):
        if not rules.LABEL_NAME.match(name) or name in reserved:
            raise invalid(f"labels.{name}", "not an allowed label name (reserved or invalid)")
    if template_problem(body.description):
        raise invalid("description", "templates are not allowed here")
    problem = rules.rule_problem(rule, reserved_labels(settings))
    if problem:
        field, _, message = problem.partition(": ")
        raise invalid(field, message)
    try:
        await scoper(prometheus).scope(body.expression, {settings.metrics_tenant_label: namespace})
    except QueryRejectedError as exc:
        raise APIError("INVALID_REQUEST", f"expression: {exc.message}",
                       {"field": "expression", "position": exc.position}) from exc
    except BackendUnavailableError as exc:
        raise unavailable("the expression cannot be validated now") from exc


def _kube_error(exc: ApiError, identifier: str) -> APIError:
    """An apiserver answer as the contract's error; a 404 without an object name means the
    PrometheusRule kind itself is missing."""
    details = exc.status.details
    if exc.status.code == 404 and (details is None or not details.name):
        return APIError("SERVICE_UNAVAILABLE", "alert rules are not available on this server "
                        "(the PrometheusRule CRD is not installed)", {"resource": rules.PLURAL})
    return from_kube(exc, not_found=APIError(
        "NOT_FOUND", f"alert rule {identifier!r} not found", {"id": identifier}))


def _rule(obj: dict[str, Any]) -> AlertRule:
    return AlertRule.model_validate(rules.view(obj))


@router.post("", operation_id="createAlertRule", status_code=201, response_model=AlertRule,
             responses=errors(403, 409))
async def create_alert_rule(body: AlertRuleBody, caller: CallerDep, auth: AuthDep,
                            namespace: TenantDep, kube: KubeDep, settings: SettingsDep,
                            prometheus: ScoperDep) -> AlertRule:
    await auth.require(caller, "create", rules.PLURAL, namespace, group=rules.GROUP)
    await _checked(body, settings, prometheus, namespace)
    identifier = rules.rule_id(body.name)
    manifest = rules.manifest(namespace, identifier, body.model_dump())
    try:
        created = await kube_call(kube.create(
            PrometheusRuleResource.from_dict(manifest)))  # its metadata names the namespace
    except ApiError as exc:
        raise _kube_error(exc, identifier) from exc
    return _rule(created.to_dict())


@router.get("", operation_id="listAlertRules", response_model=AlertRuleList,
            responses=errors(403))
async def list_alert_rules(caller: CallerDep, auth: AuthDep, namespace: TenantDep,
                           kube: KubeDep) -> AlertRuleList:
    await auth.require(caller, "list", rules.PLURAL, namespace, group=rules.GROUP)
    found: list[AlertRule] = []
    try:
        for item in await kube_call(_listing(kube, namespace)):
            found.append(_rule(item.to_dict()))
    except ApiError as exc:
        raise _kube_error(exc, "") from exc
    return AlertRuleList(alert_rules=found, total=len(found))


async def _listing(kube: AsyncClient, namespace: str) -> Any:
    """The namespace's REST-visible rules, read in full (transport errors become 503)."""
    return [item async for item in kube.list(
        PrometheusRuleResource, namespace=namespace, labels={rules.RULE_LABEL: "true"})]


async def _get(kube: AsyncClient, namespace: str, identifier: str) -> dict[str, Any]:
    try:
        obj = await kube_call(kube.get(
            PrometheusRuleResource, identifier, namespace=namespace))
    except ApiError as exc:
        raise _kube_error(exc, identifier) from exc
    found: dict[str, Any] = obj.to_dict()
    if (found["metadata"].get("labels") or {}).get(rules.RULE_LABEL) != "true":
        raise APIError("NOT_FOUND", f"alert rule {identifier!r} not found", {"id": identifier})
    return found


@router.get("/{rule_id}", operation_id="getAlertRule", response_model=AlertRule,
            responses=errors(403, 404))
async def get_alert_rule(rule_id: RuleId, caller: CallerDep, auth: AuthDep,
                         namespace: TenantDep, kube: KubeDep) -> AlertRule:
    await auth.require(caller, "get", rules.PLURAL, namespace, group=rules.GROUP)
    return _rule(await _get(kube, namespace, rule_id))


@router.put("/{rule_id}", operation_id="replaceAlertRule", response_model=AlertRule,
            responses=errors(403, 404, 409))
async def replace_alert_rule(rule_id: RuleId, body: AlertRuleBody, caller: CallerDep,
                             auth: AuthDep, namespace: TenantDep, kube: KubeDep,
                             settings: SettingsDep, prometheus: ScoperDep) -> AlertRule:
    await auth.require(caller, "update", rules.PLURAL, namespace, group=rules.GROUP)
    await _checked(body, settings, prometheus, namespace)
    current = await _get(kube, namespace, rule_id)
    manifest = rules.manifest(namespace, rule_id, body.model_dump())
    manifest["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
    try:
        replaced = await kube_call(kube.replace(
            PrometheusRuleResource.from_dict(manifest)))  # its metadata names the namespace
    except ApiError as exc:
        raise _kube_error(exc, rule_id) from exc
    return _rule(replaced.to_dict())


@router.delete("/{rule_id}", operation_id="deleteAlertRule", status_code=204,
               responses=errors(403, 404))
async def delete_alert_rule(rule_id: RuleId, caller: CallerDep, auth: AuthDep,
                            namespace: TenantDep, kube: KubeDep) -> None:
    await auth.require(caller, "delete", rules.PLURAL, namespace, group=rules.GROUP)
    await _get(kube, namespace, rule_id)
    try:
        await kube_call(kube.delete(
            PrometheusRuleResource, rule_id, namespace=namespace))
    except ApiError as exc:
        raise _kube_error(exc, rule_id) from exc

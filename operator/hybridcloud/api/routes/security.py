"""Security API: admission policies as SecurityPolicy objects in the tenant namespace.

* ``GET/POST /v1/security/policies``, ``GET/PATCH/DELETE /v1/security/policies/{policy_id}`` —
  the ID is the SecurityPolicy's name; RBAC on ``securitypolicies`` in the tenant namespace
  decides, exactly like the other routes. Before anything is stored the policy is compiled and
  its ``ValidatingAdmissionPolicy`` is created with ``dryRun=All`` on the management cluster:
  the kube-apiserver's own CEL compiler judges raw CEL (400 naming ``rules.cel[i]``).
* Scans and vulnerability reports: :mod:`.scans`.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.generic_resource import create_global_resource
from lightkube.types import PatchType

from ... import API_VERSION
from ...kube.cache import WatchCache
from ...kube.resources import SecurityPolicyResource
from ...models import SecurityPolicy, SecurityPolicySpec
from ...models.common import DNS_LABEL
from ...security import compiler, decisions
from ..deps import (
    AuthDep,
    CachesDep,
    CallerDep,
    KubeDep,
    SecurityPoliciesDep,
    SettingsDep,
    TenantDep,
    kube_call,
)
from ..errors import APIError, from_kube
from ..security_schemas import (
    PolicyCreate,
    PolicyList,
    PolicyPatch,
    PolicyView,
    policy_spec,
    policy_view,
)
from ._common import caught_up, errors

router = APIRouter(tags=["security"])
PLURAL = SecurityPolicy.PLURAL
PolicyId = Annotated[str, Path(min_length=1, max_length=63, pattern=DNS_LABEL,
                               description="Policy ID (the SecurityPolicy's name).")]
_AdmissionPolicy = create_global_resource(
    "admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy",
    "validatingadmissionpolicies")


def _not_found(policy_id: str) -> APIError:
    return APIError("NOT_FOUND", f"Security policy with ID '{policy_id}' not found",
                    {"policy_id": policy_id})


def _policy_or_404(policies: WatchCache, namespace: str, policy_id: str) -> dict[str, Any]:
    found = policies.get(namespace, policy_id)
    if found is None:
        raise _not_found(policy_id)
    return found


def _check_targets(caches: Any, namespace: str, spec: SecurityPolicySpec) -> None:
    """The tenant may only police member namespaces its applications may write to."""
    refused = decisions.namespace_refusals(caches.tenants.rules_for(namespace),
                                           spec.targets.namespaces)
    if refused:
        field = refused[0].split(":", 1)[0].removeprefix("spec.")
        raise APIError("FORBIDDEN", refused[0].removeprefix("spec."),
                       {"field": field, "refused": refused})


async def _validate_cel(kube: AsyncClient, namespace: str, name: str,
                        spec: SecurityPolicySpec) -> None:
    """Let the management kube-apiserver compile every expression (dry run: nothing stored)."""
    compiled = compiler.compile_policy(namespace, name, "dry-run", spec)
    rules = [v.rule for v in compiler.validations(spec.rules)]
    probe = dict(compiled.policy)
    probe["metadata"] = {"name": f"hybridcloud-validate-{uuid.uuid4().hex[:12]}"}
    try:
        await kube_call(kube.create(_AdmissionPolicy.from_dict(probe), dry_run=True))
    except ApiError as exc:
        if exc.status.code in (400, 422):
            causes = (exc.status.details.causes if exc.status.details else None) or []
            for cause in causes:
                where = str(cause.field or "")
                if where.startswith("spec.validations["):
                    index = int(where.split("[", 1)[1].split("]", 1)[0])
                    field = f"rules.{rules[index]}" if index < len(rules) else "rules"
                    raise APIError("INVALID_REQUEST", f"{field}: {cause.message}",
                                   {"field": field}) from exc
            raise APIError("INVALID_REQUEST", f"rules: {exc.status.message}",
                           {"field": "rules"}) from exc
        if exc.status.code == 403:
            raise APIError("SERVICE_UNAVAILABLE", "CEL cannot be validated: this API may not "
                           "dry-run admission policies (check its RBAC)",
                           headers={"Retry-After": "30"}) from exc
        raise from_kube(exc) from exc


@router.get("/v1/security/policies", operation_id="listSecurityPolicies",
            response_model=PolicyList, responses=errors(403))
async def list_policies(caller: CallerDep, auth: AuthDep, namespace: TenantDep,
                        policies: SecurityPoliciesDep) -> PolicyList:
    await auth.require(caller, "list", PLURAL, namespace)
    views = [policy_view(p) for p in policies.items(namespace)]
    return PolicyList(policies=views, total=len(views))


@router.post("/v1/security/policies", operation_id="createSecurityPolicy", status_code=201,
             response_model=PolicyView, responses=errors(403, 409))
async def create_policy(body: PolicyCreate, caller: CallerDep, auth: AuthDep,
                        caches: CachesDep, namespace: TenantDep, kube: KubeDep,
                        settings: SettingsDep, policies: SecurityPoliciesDep) -> PolicyView:
    await auth.require(caller, "create", PLURAL, namespace)
    spec = policy_spec(body)
    _check_targets(caches, namespace, spec)
    await _validate_cel(kube, namespace, body.name, spec)
    manifest = {"apiVersion": API_VERSION, "kind": SecurityPolicy.KIND,
                "metadata": {"name": body.name, "namespace": namespace},
                "spec": spec.to_kube()}
    try:
        created = await kube_call(kube.create(  # its metadata names the namespace
            SecurityPolicyResource.from_dict(manifest)))
    except ApiError as exc:
        raise from_kube(exc) from exc
    obj: dict[str, Any] = created.to_dict()
    await caught_up(policies, obj, settings.consistency_timeout)
    return policy_view(obj)


@router.get("/v1/security/policies/{policy_id}", operation_id="getSecurityPolicy",
            response_model=PolicyView, responses=errors(403, 404))
async def get_policy(policy_id: PolicyId, caller: CallerDep, auth: AuthDep,
                     namespace: TenantDep, policies: SecurityPoliciesDep) -> PolicyView:
    await auth.require(caller, "get", PLURAL, namespace)
    return policy_view(_policy_or_404(policies, namespace, policy_id))


@router.patch("/v1/security/policies/{policy_id}", operation_id="updateSecurityPolicy",
              response_model=PolicyView, responses=errors(403, 404, 409))
async def update_policy(policy_id: PolicyId, body: PolicyPatch, caller: CallerDep,
                        auth: AuthDep, caches: CachesDep, namespace: TenantDep, kube: KubeDep,
                        settings: SettingsDep, policies: SecurityPoliciesDep) -> PolicyView:
    await auth.require(caller, "patch", PLURAL, namespace)
    current = _policy_or_404(policies, namespace, policy_id)
    spec = policy_spec(body, current.get("spec"))
    _check_targets(caches, namespace, spec)
    if body.rules is not None:
        await _validate_cel(kube, namespace, policy_id, spec)
    # Replace the whole spec, guarded by the version read (a concurrent edit is a 409).
    ops = [{"op": "replace", "path": "/metadata/resourceVersion",
            "value": current["metadata"]["resourceVersion"]},
           {"op": "replace", "path": "/spec", "value": spec.to_kube()}]
    try:
        updated = await kube_call(kube.patch(
            SecurityPolicyResource, policy_id, ops, namespace=namespace,
            patch_type=PatchType.JSON))
    except ApiError as exc:
        raise from_kube(exc, not_found=_not_found(policy_id)) from exc
    obj: dict[str, Any] = updated.to_dict()
    await caught_up(policies, obj, settings.consistency_timeout)
    return policy_view(obj)


@router.delete("/v1/security/policies/{policy_id}", operation_id="deleteSecurityPolicy",
               status_code=202, response_model=PolicyView, responses=errors(403, 404))
async def delete_policy(policy_id: PolicyId, caller: CallerDep, auth: AuthDep,
                        namespace: TenantDep, kube: KubeDep,
                        policies: SecurityPoliciesDep) -> PolicyView:
    await auth.require(caller, "delete", PLURAL, namespace)
    current = _policy_or_404(policies, namespace, policy_id)
    try:
        await kube_call(kube.delete(SecurityPolicyResource, policy_id, namespace=namespace))
    except ApiError as exc:
        raise from_kube(exc, not_found=_not_found(policy_id)) from exc
    view = policy_view(current)
    view.status = "deleting"
    return view


"""What the AKS fake accepts: ARM error bodies and the validation rules AKS applies to a request.

The messages imitate the real service's wording so tests can check that the adapter passes the
provider's explanation through to the user.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tests.fakes.server import Response

# Minor version → the patch release AKS resolves it to, as `az aks get-versions` would list.
SUPPORTED_VERSIONS = {"1.29": "1.29.14", "1.30": "1.30.10", "1.31": "1.31.6", "1.32": "1.32.2"}

VM_SIZE = re.compile(r"^Standard_[A-Za-z0-9_]+$")
LINUX_POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
TAINT = re.compile(r"^[^=:\s]+(=[^=:\s]*)?:(NoSchedule|PreferNoSchedule|NoExecute)$")
FORBIDDEN_TAG_CHARACTERS = set("<>%&\\?/")
IN_PROGRESS_STATES = {"Creating", "Updating", "Upgrading", "Scaling", "Deleting"}


def arm_error(status: int, code: str, message: str,
              headers: Mapping[str, str] | None = None) -> Response:
    """An Azure Resource Manager error response: ``{"error": {"code", "message"}}``."""
    return Response(status, {"error": {"code": code, "message": message}}, dict(headers or {}))


def resolve_version(requested: str) -> str | None:
    """The full patch version AKS would run for ``requested`` ("1.30" or "1.30.10"), or None."""
    parts = requested.split(".")
    minor = ".".join(parts[:2])
    latest = SUPPORTED_VERSIONS.get(minor)
    if latest is None or len(parts) > 3:
        return None
    if len(parts) == 3:
        # Every patch up to the newest one of the minor is still offered.
        return requested if int(parts[2]) <= int(latest.split(".")[2]) else None
    return latest


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


# api-versions the fake serves, per resource provider: ARM refuses any other. Container
# Service: the version of its async-operation URLs and the one the pinned SDK speaks (add the
# next one when the SDK moves on); Resources: the one the adapter uses for resource groups.
API_VERSIONS = {"Microsoft.ContainerService": ("2017-08-31", "2026-08-01"),
                "Microsoft.Resources": ("2021-04-01", "2022-09-01")}


def check_api_version(path: str, version: str | None) -> Response | None:
    """ARM's api-version check: missing, or not one the resource provider publishes."""
    if not version:
        return arm_error(400, "MissingApiVersionParameter", "The api-version query parameter "
                         "(?api-version=) is required for all requests.")
    namespace = "Microsoft.ContainerService" if "/Microsoft.ContainerService/" in path \
        else "Microsoft.Resources"
    supported = API_VERSIONS[namespace]
    if version not in supported:
        return arm_error(400, "NoRegisteredProviderFound",
                         f"No registered resource provider found for API version '{version}' "
                         f"of '{namespace}'. The supported api-versions are "
                         f"'{', '.join(supported)}'.")
    return None


# The minor new clusters get when the request names none (not the newest, as on AKS).
DEFAULT_MINOR = "1.31"


def kubernetes_versions() -> dict[str, Any]:
    """``locations/{location}/kubernetesVersions``: every minor with its patches, one default."""
    return {"values": [{
        "version": minor, "isDefault": minor == DEFAULT_MINOR, "isPreview": False,
        "capabilities": {"supportPlan": ["KubernetesOfficial"]},
        "patchVersions": {patch: {"upgrades": [
            later for later in SUPPORTED_VERSIONS.values()
            if 0 <= version_key(later)[1] - version_key(patch)[1] <= 1 and later != patch]}}}
        for minor, patch in SUPPORTED_VERSIONS.items()]}


def skipped_minor(current: str, target: str) -> Response | None:
    """AKS upgrades one minor version at a time; skipping one is refused."""
    have, want = version_key(current)[:2], version_key(target)[:2]
    if want[0] == have[0] and want[1] <= have[1] + 1:
        return None
    allowed = [v for v in SUPPORTED_VERSIONS.values()
               if version_key(v)[0] == have[0] and version_key(v)[1] == have[1] + 1]
    return arm_error(400, "OperationNotAllowed",
                     f"Upgrading Kubernetes version {current} to {target} is not allowed. "
                     f"Available upgrades: {allowed}. Please see https://aka.ms/aks-supported-"
                     "k8s-ext for supported versions.")


def unsupported_version(version: str, location: str) -> Response:
    return arm_error(400, "K8sVersionNotSupported",
                     f"Version {version} is not supported in this region {location}. Please use "
                     "[az aks get-versions] command to get the supported version list in this "
                     "region.")


def vcpus(vm_size: str) -> int:
    """vCPUs of a VM size, read from its name (Standard_D4s_v3 → 4) as the SKU tables would."""
    match = re.match(r"^Standard_[A-Za-z]+(\d+)", vm_size)
    return int(match.group(1)) if match else 2


def validate_tags(tags: Mapping[str, Any] | None) -> Response | None:
    for key in tags or {}:
        if set(key) & FORBIDDEN_TAG_CHARACTERS:
            return arm_error(400, "InvalidTagNameCharacters",
                             f"The tag names '{key}' have reserved characters '<,>,%,&,\\,?,/' "
                             "or control characters.")
    return None


def validate_pool(name: str, props: Mapping[str, Any], location: str) -> Response | None:
    """AKS's checks of one agent pool (from agentPoolProfiles or the agentPools API)."""
    if not LINUX_POOL_NAME.match(name):
        return arm_error(400, "InvalidParameter",
                         f"The value of parameter agentPoolProfile.name is invalid: '{name}'. "
                         "Agent pool names must start with a lowercase letter, have max length "
                         "of 12, and only have characters a-z0-9.")
    vm_size = props.get("vmSize")
    if not isinstance(vm_size, str) or not VM_SIZE.match(vm_size):
        return arm_error(400, "VMSizeNotSupported",
                         f"The VM size of {vm_size} is not supported for creation of VMs and "
                         f"Virtual Machine Scale Set with your subscription in location "
                         f"'{location}'.")
    count = props.get("count", 1)
    if not isinstance(count, int) or not 0 <= count <= 1000:
        return arm_error(400, "InvalidParameter",
                         f"The value of parameter agentPoolProfile.count is invalid: {count}.")
    if props.get("enableAutoScaling"):
        low, high = props.get("minCount"), props.get("maxCount")
        if not isinstance(low, int) or not isinstance(high, int) or not low <= count <= high:
            return arm_error(400, "InvalidParameter",
                             "When enableAutoScaling is true, minCount and maxCount are required "
                             "and count must be within [minCount, maxCount].")
    elif props.get("minCount") is not None or props.get("maxCount") is not None:
        return arm_error(400, "InvalidParameter",
                         "minCount and maxCount can only be set when enableAutoScaling is true.")
    disk = props.get("osDiskSizeGB")
    if disk is not None and not 30 <= disk <= 2048:
        return arm_error(400, "InvalidParameter",
                         f"The value of parameter osDiskSizeGB is invalid: {disk}; it must be "
                         "between 30 and 2048.")
    for taint in props.get("nodeTaints") or []:
        if not TAINT.match(taint):
            return arm_error(400, "InvalidParameter",
                             f"Taint '{taint}' is invalid; taints must be in the format "
                             "key=value:Effect.")
    version = props.get("orchestratorVersion")
    if version is not None and resolve_version(version) is None:
        return arm_error(400, "AgentPoolK8sVersionNotSupported",
                         f"Version {version} is not supported in this region {location}.")
    return validate_tags(props.get("tags"))


def operation_in_progress(name: str, state: str) -> Response:
    return arm_error(409, "OperationNotAllowed",
                     f"Operation is not allowed because there's an in progress "
                     f"{state.lower()} operation on managed cluster '{name}'. Please wait for it "
                     "to finish before starting a new operation.")


def quota_exceeded(name: str, group: str, location: str, limit: int, usage: int,
                   required: int) -> Response:
    return arm_error(400, "QuotaExceeded",
                     f"Preflight validation check for resource(s) for container service {name} "
                     f"in resource group {group} failed. Message: Operation could not be "
                     "completed as it results in exceeding approved Total Regional Cores quota. "
                     f"Additional details - Deployment Model: Resource Manager, Location: "
                     f"{location}, Current Limit: {limit}, Current Usage: {usage}, Additional "
                     f"Required: {required}, (Minimum) New Limit Required: {usage + required}.")

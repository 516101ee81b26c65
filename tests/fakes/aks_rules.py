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

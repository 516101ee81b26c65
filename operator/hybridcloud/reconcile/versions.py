"""Kubernetes version arithmetic for the cluster decisions (pure)."""

from __future__ import annotations

import re

_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")


def version_tuple(version: str) -> tuple[int, ...]:
    """(major, minor[, patch]) of "v1.28.5", "1.28" or GKE's "1.28.15-gke.1020000"."""
    match = _VERSION.match(version)
    return tuple(int(part) for part in match.groups() if part is not None) if match else ()


def minor_of(version: str) -> str:
    """ "1.28" for "v1.28.5" (or GKE's "1.28.15-gke.1020000"); "" when it is no version."""
    return ".".join(str(part) for part in version_tuple(version)[:2])


def same_minor_or_patch(desired: str, observed: str) -> bool:
    """A desired "1.28" is satisfied by an observed "1.28.5"."""
    want, have = version_tuple(desired), version_tuple(observed)
    return have[: len(want)] == want


def upgrade_step(desired: str, observed: str) -> str:
    """The next version to upgrade to: ``desired`` itself when it is at most one minor version
    ahead, else the next minor version (AKS refuses to skip minors, GKE and EKS control
    planes move one minor per upgrade)."""
    want, have = version_tuple(desired), version_tuple(observed)
    if len(want) >= 2 and len(have) >= 2 and want[0] == have[0] and want[1] > have[1] + 1:
        return f"{have[0]}.{have[1] + 1}"
    return desired

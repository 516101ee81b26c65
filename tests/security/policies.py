"""TenantPolicy objects for the attacker suite: the platform operator's side of a test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lightkube import Client
from lightkube.core.exceptions import ApiError

from hybridcloud.kube.resources import TenantPolicyResource


@contextmanager
def tenant_policy(kube: Client, namespace: str, **spec: Any) -> Iterator[str]:
    """A TenantPolicy naming ``namespace``, deleted afterwards (it is cluster-scoped, so it would
    otherwise outlive the test's namespace)."""
    name = f"policy-{namespace}-{uuid.uuid4().hex[:4]}"
    kube.create(TenantPolicyResource.from_dict({
        "apiVersion": "platform.example.com/v1", "kind": "TenantPolicy",
        "metadata": {"name": name}, "spec": {"namespaces": [namespace], **spec}}))
    try:
        yield name
    finally:
        try:
            kube.delete(TenantPolicyResource, name)
        except ApiError as exc:
            if exc.status.code != 404:
                raise

"""The provider credentials of a HybridCluster: the tenant's ``spec.credentialsRef`` Secret
(which must opt in with ``credential-type: cloud``) or the platform's default Secret, cached
briefly so a rotated Secret is picked up without a read per pass."""

from __future__ import annotations

import base64

import yaml
from cachetools import TTLCache
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Secret

from ..kube.references import (
    CLOUD_CREDENTIALS,
    InvalidReferenceError,
    read_credential_secret,
    read_named,
)
from ..providers.base import PermanentError, TransientError
from ..reconcile.cluster import ClusterView
from .config import OperatorConfig

TTL_SECONDS = 30.0
CACHED = 1024


class CloudCredentials:
    def __init__(self, client: AsyncClient, config: OperatorConfig) -> None:
        self.client = client
        self.config = config
        self._credentials: TTLCache[tuple[str, str, str | None], dict[str, str]] = TTLCache(
            CACHED, TTL_SECONDS)

    async def load(self, view: ClusterView) -> dict[str, str]:
        """The provider credentials: the tenant's ``spec.credentialsRef`` Secret (which must
        opt in with ``credential-type: cloud``) or the platform's default Secret."""
        ref = view.spec.credentials_ref
        namespace = view.namespace if ref else self.config.credentials_namespace
        name = ref.name if ref else f"hybridcloud-{view.spec.provider}-credentials"
        item = ref.key if ref else None
        cache_key = (namespace, name, item)
        cached = self._credentials.get(cache_key)
        if cached is not None:
            return cached
        field = "spec.credentialsRef.name"
        try:
            secret = await (
                read_credential_secret(self.client, namespace, name, field=field,
                                       credential_type=CLOUD_CREDENTIALS) if ref else
                read_named(self.client, Secret, namespace, name, field=field))
        except InvalidReferenceError as exc:
            raise PermanentError(exc.message, reason=exc.reason) from None
        except ApiError as exc:
            if exc.status.code == 404:
                raise PermanentError(
                    f"credentials Secret {namespace}/{name} not found; create it or set "
                    "spec.credentialsRef", reason="CredentialsNotFound") from exc
            raise TransientError(f"cannot read credentials Secret {namespace}/{name}") from exc
        data = {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}
        if item is not None:
            if item not in data:
                raise PermanentError(f"credentials Secret {namespace}/{name} has no key {item!r}",
                                     reason="CredentialsNotFound")
            parsed = yaml.safe_load(data[item])
            if not isinstance(parsed, dict):
                raise PermanentError(f"key {item!r} of Secret {namespace}/{name} must hold a "
                                     "YAML or JSON mapping", reason="InvalidCredentials")
            data = {str(k): str(v) for k, v in parsed.items()}
        self._credentials[cache_key] = data
        return data

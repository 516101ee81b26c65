"""Reading a namespaced object a tenant named (a Secret, a ConfigMap): the one way to do it.

A tenant's reference is hostile input. lightkube puts the name into the URL path and the HTTP
client normalises ``..`` segments, so a ``secretRef.name`` of ``../../other/secrets/x`` would read
another namespace's Secret with the platform's own permissions. :func:`read_named` therefore

* refuses a name that is not a DNS subdomain (and a namespace that is not a DNS label) before
  any request is made, and
* checks that what came back is the object asked for (kind, namespace, name), so no path trick
  or proxy can substitute another one.

:func:`read_credential_secret` adds the opt-in: a Secret is used as a credential only when its
owner labelled it ``platform.example.com/credential-type: <type>``. Without that label a caller
allowed only to create applications could make the platform send any Secret of the namespace
(a confused deputy) to a host of its choosing.

Error messages name the field and the object asked for, never a Secret's keys or values: they
end up in conditions and Events that other people read.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from lightkube import AsyncClient
from lightkube.core.resource import Resource, api_info
from lightkube.resources.core_v1 import Secret

from .. import GROUP
from ..models.common import DNS_LABEL, DNS_SUBDOMAIN

CREDENTIAL_TYPE_LABEL = f"{GROUP}/credential-type"
GIT_CREDENTIALS = "git"
CLOUD_CREDENTIALS = "cloud"

_NAME = re.compile(DNS_SUBDOMAIN)
_NAMESPACE = re.compile(DNS_LABEL)
R = TypeVar("R", bound=Resource)


class InvalidReferenceError(Exception):
    """A reference the platform refuses to follow; ``str()`` is safe to show the tenant."""

    reason = "InvalidReference"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class CredentialsNotAllowedError(InvalidReferenceError):
    """The Secret exists but did not opt in to being used as this kind of credential."""

    reason = "CredentialsNotAllowed"


def is_object_name(name: object) -> bool:
    return isinstance(name, str) and len(name) <= 253 and _NAME.fullmatch(name) is not None


def check_name(name: object, field: str) -> str:
    """``name`` if it is a valid object name, else an error naming ``field``."""
    if not is_object_name(name):
        raise InvalidReferenceError(field, f"{field}: {name!r} is not a valid object name "
                                    "(lowercase letters, digits, '-' and '.', at most 253 "
                                    "characters)")
    return str(name)


async def read_named(client: AsyncClient, resource: type[R], namespace: str, name: str, *,
                     field: str) -> R:
    """The object ``namespace/name`` of ``resource``, checked to be exactly that object.

    ``field`` is the tenant's field the name came from (``spec.source.secretRef.name``); it
    starts every error message. Errors of the request itself (404, 403) propagate as
    lightkube's ``ApiError`` for the caller to phrase.
    """
    check_name(name, field)
    if not (len(namespace) <= 63 and _NAMESPACE.fullmatch(namespace)):
        # Never tenant input (it is the referring object's own namespace); a bug if reached.
        raise InvalidReferenceError(field, f"{field}: namespace {namespace!r} is invalid")
    obj: Any = await client.get(resource, name=name, namespace=namespace)
    kind = api_info(resource).resource.kind
    meta = getattr(obj, "metadata", None)
    if getattr(obj, "kind", None) != kind or meta is None or meta.namespace != namespace \
            or meta.name != name:
        raise InvalidReferenceError(field, f"{field}: the Kubernetes API answered with another "
                                    f"object than {kind} {namespace}/{name}; it was not used")
    result: R = obj
    return result


async def read_credential_secret(client: AsyncClient, namespace: str, name: str, *, field: str,
                                 credential_type: str) -> Secret:
    """The Secret ``namespace/name``, only if labelled ``credential-type: credential_type``."""
    secret = await read_named(client, Secret, namespace, name, field=field)
    labels = (secret.metadata.labels if secret.metadata else None) or {}
    if labels.get(CREDENTIAL_TYPE_LABEL) != credential_type:
        raise CredentialsNotAllowedError(
            field, f"{field}: Secret {name} is not allowed as {credential_type} credentials: "
            f"it lacks the label {CREDENTIAL_TYPE_LABEL}={credential_type} (its owner adds the "
            "label to let the platform use it)")
    return secret

"""OAuth 2.0 client credentials (RFC 6749 §4.4) on top of Kubernetes ServiceAccounts.

A client is registered by a platform administrator as a Secret in the OAuth namespace
(``HYBRIDCLOUD_API_OAUTH_NAMESPACE``, default ``hybridcloud-system``) labelled
``platform.example.com/oauth-client=true`` with the keys:

* ``client_id`` — the public identifier;
* ``client_secret_hash`` — ``scrypt$<n>$<r>$<p>$<salt>$<hash>`` (or
  ``pbkdf2_sha256$<iterations>$<salt>$<hash>``), base64 salt and hash; never the secret itself.
  ``python -m hybridcloud.api.oauth`` prints one for a secret read from stdin;
* ``service_account`` — ``<namespace>/<name>`` the client acts as (its RBAC is the client's);
* ``tier`` — optional rate-limit tier: basic, professional or enterprise.

Keeping registrations in one administrators' namespace matters: whoever can write a registration
can mint tokens for the ServiceAccount it names.

``POST /oauth/token`` checks the secret against the hash and mints an access token for the
ServiceAccount with the TokenRequest API, so the token expires (``expires_in``) and every other
endpoint authenticates it with TokenReview like any Kubernetes token. Registrations are read from
a watch cache, so the endpoint sends no LIST per request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import sys
from dataclasses import dataclass
from typing import Any

from .. import GROUP
from ..kube.cache import WatchCache
from .settings import Settings, Tier

CLIENT_LABEL = f"{GROUP}/oauth-client"
_SCRYPT = (2**14, 8, 1)


def hash_client_secret(secret: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    n, r, p = _SCRYPT
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return (f"scrypt${n}${r}${p}${base64.b64encode(salt).decode()}$"
            f"{base64.b64encode(digest).decode()}")


def verify_client_secret(secret: str, encoded: str) -> bool:
    """Constant-time check of ``secret`` against a stored hash; malformed hashes never match."""
    try:
        scheme, *fields = encoded.split("$")
        if scheme == "scrypt" and len(fields) == 5:
            n, r, p = (int(f) for f in fields[:3])
            if n > 2**20 or r > 32 or p > 16:  # refuse hashes that would exhaust memory
                return False
            salt, expected = base64.b64decode(fields[3]), base64.b64decode(fields[4])
            actual = hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p,
                                    dklen=len(expected), maxmem=2**27)
        elif scheme == "pbkdf2_sha256" and len(fields) == 3:
            iterations = int(fields[0])
            if iterations > 5_000_000:
                return False
            salt, expected = base64.b64decode(fields[1]), base64.b64decode(fields[2])
            actual = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, iterations,
                                         dklen=len(expected))
        else:
            return False
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


@dataclass(frozen=True)
class Registration:
    client_id: str
    secret_hash: str
    namespace: str
    account: str
    tier: Tier | None


def _decoded(secret: dict[str, Any]) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            values[key] = base64.b64decode(value).decode().strip()
        except (ValueError, UnicodeDecodeError):
            continue
    return values


def registration(secret: dict[str, Any]) -> Registration | None:
    data = _decoded(secret)
    namespace, _, account = data.get("service_account", "").partition("/")
    if not (data.get("client_id") and data.get("client_secret_hash") and namespace and account):
        return None
    try:
        tier = Tier(data["tier"].lower()) if data.get("tier") else None
    except ValueError:
        tier = None
    return Registration(data["client_id"], data["client_secret_hash"], namespace, account, tier)


def find_client(cache: WatchCache, client_id: str) -> Registration | None:
    """The registration for ``client_id``; None when unknown or ambiguous (registered twice)."""
    found = [r for r in (registration(s) for s in cache) if r and r.client_id == client_id]
    return found[0] if len(found) == 1 else None


# Kubernetes' own namespaces; kube-* is reserved for the system by convention.
_SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")


def may_mint_for(namespace: str, settings: Settings) -> bool:
    """Whether /oauth/token may mint tokens for a ServiceAccount of ``namespace``: only tenant
    namespaces, never the system's or the platform's (their accounts hold the platform's own
    powers; whoever can write a registration must not be able to borrow them)."""
    return not (namespace in _SYSTEM_NAMESPACES or namespace.startswith("kube-")
                or namespace in (settings.platform_namespace, settings.oauth_namespace))


_TIER_ORDER = [Tier.BASIC, Tier.PROFESSIONAL, Tier.ENTERPRISE]


def registered_tier(cache: WatchCache, namespace: str, account: str) -> Tier | None:
    """The highest tier of the registrations acting as ServiceAccount ``namespace/account``."""
    tiers = [r.tier for r in (registration(s) for s in cache)
             if r and r.tier and r.namespace == namespace and r.account == account]
    return max(tiers, key=_TIER_ORDER.index) if tiers else None


if __name__ == "__main__":  # pragma: no cover - operator convenience
    print(hash_client_secret(sys.stdin.readline().rstrip("\n")))

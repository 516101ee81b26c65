"""Google authentication as the GKE fake sees it.

Requests carry ``Authorization: Bearer <token>``. A token is accepted when the fake issued it
(static access tokens handed to tests, or tokens from the OAuth token endpoint), or when it is a
self-signed service-account JWT whose RS256 signature verifies against a registered key — the
way google-auth calls Google APIs with a service-account key.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from typing import Any
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.fakes.server import Request, Response

UNAUTHENTICATED = ("Request had invalid authentication credentials. Expected OAuth 2 access "
                   "token, login cookie or other valid authentication credential.")


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


class FakeGoogleAuth:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}  # token -> expiry (epoch seconds)
        self._service_accounts: dict[str, rsa.RSAPublicKey] = {}

    def issue_token(self, ttl: float = 3600.0) -> str:
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = time.time() + ttl
        return token

    def service_account_key(self, token_uri: str, email: str = "hc-operator@demo.iam"
                            ".gserviceaccount.com", *, registered: bool = True) -> dict[str, str]:
        """A service-account key file (JSON) whose public half the fake trusts if registered."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if registered:
            with self._lock:
                self._service_accounts[email] = key.public_key()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        return {"type": "service_account", "project_id": "demo", "private_key_id": "k1",
                "private_key": pem, "client_email": email, "client_id": "1",
                "token_uri": token_uri}

    # -- checks ------------------------------------------------------------------------
    def authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return False
        token = header.removeprefix("Bearer ")
        with self._lock:
            expiry = self._tokens.get(token)
        if expiry is not None:
            return expiry > time.time()
        claims = self._verified_jwt(token)
        return claims is not None and "scope" in claims

    def _verified_jwt(self, token: str) -> dict[str, Any] | None:
        """Claims of a JWT signed by a registered service account and not expired, else None."""
        try:
            header_b64, payload_b64, signature_b64 = token.split(".")
            claims: dict[str, Any] = json.loads(_b64decode(payload_b64))
            with self._lock:
                public_key = self._service_accounts.get(str(claims.get("iss")))
            if public_key is None or float(claims.get("exp", 0)) < time.time():
                return None
            public_key.verify(_b64decode(signature_b64), f"{header_b64}.{payload_b64}".encode(),
                              padding.PKCS1v15(), hashes.SHA256())
        except (ValueError, InvalidSignature):
            return None
        return claims

    # -- OAuth token endpoint (JWT-bearer grant) ----------------------------------------
    def token_endpoint(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        claims = self._verified_jwt(form.get("assertion", ""))
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" \
                or claims is None:
            return Response(400, {"error": "invalid_grant",
                                  "error_description": "Invalid JWT Signature."})
        return Response(200, {"access_token": self.issue_token(3600), "expires_in": 3599,
                              "token_type": "Bearer"})

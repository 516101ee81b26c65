"""A wire-level fake of the Keystone v3 identity API, enough for keystoneauth to authenticate.

It serves the version discovery documents keystoneauth reads (``GET /`` and ``GET /v3``) and
``POST /v3/auth/tokens`` for the ``password`` and ``application_credential`` methods. A successful
authentication returns an ``X-Subject-Token`` and a service catalog whose endpoints point at the
other fakes (for example ``container-infra`` → the fake Magnum). Other fakes ask
:meth:`FakeKeystone.is_valid` whether the ``X-Auth-Token`` they received was issued here, and tests
call :meth:`FakeKeystone.revoke_all` to make every issued token expire at once.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.server import FakeServer, Request, Response

PROJECT_ID = "6f1e0c2a9d3b4c5e8f7a1b2c3d4e5f60"
USER_ID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"

UNAUTHORIZED = {"error": {"code": 401, "title": "Unauthorized",
                          "message": "The request you have made requires authentication."}}


@dataclass
class Account:
    username: str = "demo"
    password: str = "s3cr3t-Passw0rd"
    project_name: str = "demo"
    user_domain_name: str = "Default"
    project_domain_name: str = "Default"
    application_credentials: dict[str, str] = field(default_factory=dict)  # id → secret


def disable_nagle(server: FakeServer) -> None:
    """Answer without the ~40 ms Nagle/delayed-ACK stall per request.

    The shared server writes headers and body separately; with Nagle's algorithm on, every
    keep-alive request waits for the client's delayed ACK, which makes SDK-heavy tests 30x slower.
    """
    assert server._httpd is not None, "start the server first"
    server._httpd.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]


class FakeKeystone:
    """Keystone v3 on its own loopback server; ``catalog`` maps service type → endpoint URL."""

    def __init__(self, account: Account | None = None, region: str = "RegionOne") -> None:
        self.account = account or Account()
        self.region = region
        self.catalog: dict[str, str] = {}
        self.server = FakeServer()
        self._tokens: set[str] = set()
        self._lock = threading.Lock()
        self._register()

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> str:
        url = self.server.start()
        disable_nagle(self.server)
        return url

    def stop(self) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def auth_url(self) -> str:
        return f"{self.url}/v3"

    # -- token book-keeping ----------------------------------------------------------------
    def is_valid(self, token: str | None) -> bool:
        with self._lock:
            return token is not None and token in self._tokens

    def revoke_all(self) -> None:
        """Expire every token, as after a Keystone restart with new fernet keys."""
        with self._lock:
            self._tokens.clear()

    @property
    def tokens_issued(self) -> int:
        return self.server.count("POST", r"^/v3/auth/tokens$")

    # -- routes --------------------------------------------------------------------------
    def _version(self) -> dict[str, object]:
        return {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
                "links": [{"rel": "self", "href": f"{self.url}/v3/"}],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.identity-v3+json"}]}

    def _register(self) -> None:
        route = self.server.route

        @route("GET", r"/?")
        def versions(_: Request) -> Response:
            return Response(300, {"versions": {"values": [self._version()]}})

        @route("GET", r"/v3/?")
        def version(_: Request) -> Response:
            return Response(200, {"version": self._version()})

        @route("POST", r"/v3/auth/tokens")
        def issue_token(request: Request) -> Response:
            identity = (request.json() or {}).get("auth", {}).get("identity", {})
            method = self._authenticate(identity)
            if method is None:
                return Response(401, UNAUTHORIZED)
            token = "gAAAAA" + secrets.token_urlsafe(48)
            with self._lock:
                self._tokens.add(token)
            return Response(201, {"token": self._token_body(method)},
                            headers={"X-Subject-Token": token})

    def _authenticate(self, identity: dict[str, Any]) -> str | None:
        methods = identity.get("methods") or []
        account = self.account
        if "password" in methods:
            user = (identity.get("password") or {}).get("user", {})
            domain = user.get("domain", {}).get("name", "Default")
            if (user.get("name") == account.username and user.get("password") == account.password
                    and domain == account.user_domain_name):
                return "password"
        if "application_credential" in methods:
            credential = identity.get("application_credential") or {}
            expected = account.application_credentials.get(credential.get("id", ""))
            if expected is not None and credential.get("secret") == expected:
                return "application_credential"
        return None

    def _token_body(self, method: str) -> dict[str, object]:
        now = datetime.now(UTC)
        domain = {"id": "default", "name": self.account.project_domain_name}
        catalog = [
            {"type": service_type, "name": service_type, "id": uuid.uuid4().hex,
             "endpoints": [{"id": uuid.uuid4().hex, "interface": interface,
                            "region": self.region, "region_id": self.region, "url": url}
                           for interface in ("public", "internal", "admin")]}
            for service_type, url in {"identity": self.auth_url, **self.catalog}.items()
        ]
        return {
            "methods": [method],
            "user": {"id": USER_ID, "name": self.account.username,
                     "domain": {"id": "default", "name": self.account.user_domain_name},
                     "password_expires_at": None},
            "project": {"id": PROJECT_ID, "name": self.account.project_name, "domain": domain},
            "roles": [{"id": uuid.uuid4().hex, "name": "member"}],
            "audit_ids": [secrets.token_urlsafe(16)],
            "issued_at": now.isoformat().replace("+00:00", "Z"),
            "expires_at": (now + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
            "is_domain": False,
            "catalog": catalog,
        }

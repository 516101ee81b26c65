"""Azure AD's client-credentials token endpoint and AKS's cluster credentials, for the AKS fake.

:class:`FakeDirectory` answers ``POST /{tenant}/oauth2/v2.0/token`` the way Azure AD does for a
service principal (``invalid_client``/AADSTS7000215 for a wrong secret) and checks the bearer
tokens ARM receives. :class:`ClusterCredentials` keeps one CA per fake and issues kubeconfigs like
``listClusterUserCredential``: the cluster's CA, a client certificate signed by it and a token.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.fakes.aks_rules import arm_error
from tests.fakes.server import Request, Response

INVALID_TOKEN_CHALLENGE = ('Bearer authorization_uri="https://login.microsoftonline.com/common", '
                           'error="invalid_token", error_description="The access token is '
                           'invalid."')


class FakeDirectory:
    """One Azure AD tenant with one service principal (client id + secret)."""

    def __init__(self, tenant_id: str, client_id: str, client_secret: str,
                 token_lifetime: int = 3600) -> None:
        self.tenant_id, self.client_id, self.client_secret = tenant_id, client_id, client_secret
        self.token_lifetime = token_lifetime
        self.token_requests = 0
        self._tokens: dict[str, float] = {}  # access token → expiry (epoch seconds)
        self._lock = threading.Lock()

    def issue(self) -> str:
        token = f"eyJ0eXAiOiJKV1QifQ.fake.{secrets.token_urlsafe(24)}"
        with self._lock:
            self._tokens[token] = time.time() + self.token_lifetime
        return token

    def revoke_all(self) -> None:
        """Invalidate every issued token, as a password reset or token expiry would."""
        with self._lock:
            self._tokens.clear()

    def handle_token(self, request: Request) -> Response:
        with self._lock:
            self.token_requests += 1
        form = {key: values[0] for key, values in parse_qs(request.body.decode()).items()}
        if request.params["tenant"] != self.tenant_id:
            return _aad_error(400, "invalid_request", 90002,
                              f"AADSTS90002: Tenant '{request.params['tenant']}' not found. "
                              "Check to make sure you have the correct tenant ID.")
        if form.get("grant_type") != "client_credentials" or not form.get("scope"):
            return _aad_error(400, "invalid_request", 900144,
                              "AADSTS900144: The request body must contain the following "
                              "parameter: 'grant_type' and 'scope'.")
        if form.get("client_id") != self.client_id:
            return _aad_error(400, "unauthorized_client", 700016,
                              f"AADSTS700016: Application with identifier "
                              f"'{form.get('client_id')}' was not found in the directory "
                              f"'{self.tenant_id}'.")
        if form.get("client_secret") != self.client_secret:
            return _aad_error(401, "invalid_client", 7000215,
                              "AADSTS7000215: Invalid client secret provided. Ensure the secret "
                              "being sent in the request is the client secret value, not the "
                              f"client secret ID, for a secret added to app '{self.client_id}'.")
        return Response(200, {"token_type": "Bearer", "expires_in": self.token_lifetime,
                              "ext_expires_in": self.token_lifetime,
                              "access_token": self.issue()})

    def reject(self, authorization: str | None) -> Response | None:
        """The ARM 401 for a missing or unknown bearer token, or None when the token is valid."""
        if not authorization or not authorization.startswith("Bearer "):
            return arm_error(401, "AuthenticationFailed",
                             "Authentication failed. The 'Authorization' header is missing.")
        with self._lock:
            expiry = self._tokens.get(authorization.removeprefix("Bearer "))
        if expiry is None or expiry < time.time():
            return arm_error(401, "InvalidAuthenticationToken",
                             "The access token is invalid.",
                             {"WWW-Authenticate": INVALID_TOKEN_CHALLENGE})
        return None


def _aad_error(status: int, error: str, code: int, description: str) -> Response:
    return Response(status, {"error": error, "error_description": description,
                             "error_codes": [code], "timestamp": datetime.now(UTC).isoformat(),
                             "trace_id": secrets.token_hex(8)})


@dataclass(frozen=True)
class HostedPlane:
    """A real Kubernetes control plane that the fake says runs a managed cluster: the
    credentials it hands out for that cluster reach and authenticate to this plane."""

    server: str  # https URL of its kube-apiserver
    ca_pem: bytes  # the CA that signed the apiserver's serving certificate
    client_ca_pem: bytes  # the CA the apiserver trusts for client certificates, and its key
    client_ca_key_pem: bytes


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


class ClusterCredentials:
    """A CA shared by the fake's clusters; every credential request gets a fresh client cert."""

    def __init__(self, client_cert_validity: timedelta = timedelta(days=30)) -> None:
        self.client_cert_validity = client_cert_validity
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca")])
        now = datetime.now(UTC)
        self.ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(minutes=5))
                   .not_valid_after(now + timedelta(days=3650))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(self._key, hashes.SHA256()))
        self.issued_tokens: list[str] = []

    def _client_certificate(self, hosted: HostedPlane | None = None,
                            ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        issuer, signer = self.ca, self._key
        if hosted is not None:  # the real control plane's client CA signs, so it trusts it
            issuer = x509.load_pem_x509_certificate(hosted.client_ca_pem)
            loaded = serialization.load_pem_private_key(hosted.client_ca_key_pem, None)
            assert isinstance(loaded, ec.EllipticCurvePrivateKey), "an EC client CA key"
            signer = loaded
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                             x509.NameAttribute(NameOID.COMMON_NAME, "masterclient")])
        certificate = (x509.CertificateBuilder().subject_name(subject)
                       .issuer_name(issuer.subject).public_key(key.public_key())
                       .serial_number(x509.random_serial_number())
                       .not_valid_before(now - timedelta(minutes=5))
                       .not_valid_after(now + self.client_cert_validity)
                       .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                                      critical=False)
                       .sign(signer, hashes.SHA256()))
        return certificate, key

    def kubeconfig(self, cluster: str, user: str, server: str,
                   hosted: HostedPlane | None = None) -> str:
        """``listClusterUserCredential``'s kubeconfig; for a cluster ``hosted`` on a real
        control plane, its endpoint, its CA and a client certificate it accepts."""
        certificate, key = self._client_certificate(hosted)
        ca_pem = hosted.ca_pem if hosted is not None else _pem(self.ca)
        server = hosted.server if hosted is not None else server
        key_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())
        token = secrets.token_hex(32)
        self.issued_tokens.append(token)
        document = {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": cluster, "cluster": {
                "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                "server": server}}],
            "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user}}],
            "current-context": cluster,
            "users": [{"name": user, "user": {
                "client-certificate-data": base64.b64encode(_pem(certificate)).decode(),
                "client-key-data": base64.b64encode(key_pem).decode(),
                "token": token}}],
        }
        return yaml.safe_dump(document, sort_keys=True)

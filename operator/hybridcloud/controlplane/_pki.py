"""Certificates and keys for a throw-away local cluster.

Everything uses EC P-256: generating it takes well under a millisecond, whereas RSA keys
dominate start-up time on small CI machines. Go's TLS stack and the kube-apiserver's
service-account signer (ES256) accept it.

Two CAs are created on purpose: the *server* CA only vouches for serving certificates and the
*client* CA only for client identities. Sharing one CA would let anyone holding a serving
certificate authenticate to the apiserver.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Names the apiserver is reached by from the host and, via the `kubernetes` Service, from pods.
_APISERVER_DNS_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
SERVICE_CIDR = "10.0.0.0/24"
# The apiserver allocates the first address of the service range to the `kubernetes` Service.
KUBERNETES_SERVICE_IP = "10.0.0.1"

_CA_LIFETIME = datetime.timedelta(days=3650)
_LEAF_LIFETIME = datetime.timedelta(days=365)
# Tolerate small clock differences between this process and the components.
_BACKDATE = datetime.timedelta(hours=1)


@dataclass(frozen=True)
class CertKey:
    """A certificate together with its private key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        # "EC PRIVATE KEY" (SEC1) is the form every Kubernetes key loader accepts.
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )

    def write(self, cert_path: Path, key_path: Path) -> None:
        cert_path.write_bytes(self.cert_pem())
        write_secret(key_path, self.key_pem())


def write_secret(path: Path, data: bytes) -> None:
    """Write ``data`` readable by the owner only, even for the instant after creation."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str, organizations: Sequence[str] = ()) -> x509.Name:
    # Kubernetes maps O= to groups; each group must be its own attribute.
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def new_ca(common_name: str) -> CertKey:
    """Create a self-signed CA that may sign leaf certificates only."""
    key = _new_key()
    name = _name(common_name)
    now = _now()
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertKey(cert, key)


def _issue(
    ca: CertKey,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    sans: Sequence[x509.GeneralName] = (),
) -> CertKey:
    key = _new_key()
    now = _now()
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _LEAF_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return CertKey(builder.sign(ca.key, hashes.SHA256()), key)


def issue_serving_cert(
    ca: CertKey, common_name: str, dns_names: Sequence[str], ips: Sequence[str]
) -> CertKey:
    """Issue a TLS server certificate valid for the given DNS names and IP addresses."""
    sans: list[x509.GeneralName] = [x509.DNSName(dns) for dns in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    return _issue(ca, _name(common_name), ExtendedKeyUsageOID.SERVER_AUTH, sans)


def issue_apiserver_cert(ca: CertKey, ips: Sequence[str] = ("127.0.0.1",)) -> CertKey:
    """Issue the apiserver's serving certificate for loopback and in-cluster names."""
    return issue_serving_cert(
        ca, "kube-apiserver", _APISERVER_DNS_NAMES, [*ips, KUBERNETES_SERVICE_IP]
    )


def issue_client_cert(ca: CertKey, user: str, groups: Sequence[str] = ()) -> CertKey:
    """Issue a client certificate the apiserver maps to ``user`` in ``groups``."""
    if not user:
        raise ValueError("user must not be empty")
    return _issue(ca, _name(user, groups), ExtendedKeyUsageOID.CLIENT_AUTH)


@dataclass(frozen=True)
class ClusterPKI:
    """Every credential a local cluster needs, written to ``directory``.

    The CAs stay in memory too so that more client certificates can be issued later.
    """

    directory: Path
    server_ca: CertKey
    client_ca: CertKey
    admin: CertKey

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def client_ca_cert(self) -> Path:
        return self.directory / "client-ca.crt"

    @property
    def client_ca_key(self) -> Path:
        return self.directory / "client-ca.key"

    @property
    def apiserver_cert(self) -> Path:
        return self.directory / "apiserver.crt"

    @property
    def apiserver_key(self) -> Path:
        return self.directory / "apiserver.key"

    @property
    def admin_cert(self) -> Path:
        return self.directory / "admin.crt"

    @property
    def admin_key(self) -> Path:
        return self.directory / "admin.key"

    @property
    def service_account_key(self) -> Path:
        return self.directory / "sa.key"

    @property
    def service_account_pub(self) -> Path:
        return self.directory / "sa.pub"

    def serving_cert_for(self, component: str) -> tuple[Path, Path]:
        """Write a loopback serving certificate for a secondary component (kcm, scheduler).

        Giving them certificates from our CA, instead of letting them self-sign, lets health
        probes verify TLS like any other client would.
        """
        pair = issue_serving_cert(self.server_ca, component, ["localhost"], ["127.0.0.1"])
        cert, key = self.directory / f"{component}.crt", self.directory / f"{component}.key"
        pair.write(cert, key)
        return cert, key


def create_cluster_pki(directory: Path) -> ClusterPKI:
    """Generate and write the CAs, apiserver/admin certificates and service-account keys."""
    directory.mkdir(parents=True, exist_ok=True)
    server_ca = new_ca("hybridcloud-server-ca")
    client_ca = new_ca("hybridcloud-client-ca")
    admin = issue_client_cert(client_ca, "admin", ["system:masters"])
    pki = ClusterPKI(directory, server_ca, client_ca, admin)

    pki.ca_cert.write_bytes(server_ca.cert_pem())
    write_secret(directory / "ca.key", server_ca.key_pem())
    client_ca.write(pki.client_ca_cert, pki.client_ca_key)
    issue_apiserver_cert(server_ca).write(pki.apiserver_cert, pki.apiserver_key)
    admin.write(pki.admin_cert, pki.admin_key)

    # The signing key signs bound service-account tokens; the apiserver verifies them with the
    # public half, which is what --service-account-key-file is meant to hold.
    sa_key = _new_key()
    write_secret(
        pki.service_account_key,
        sa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ),
    )
    pki.service_account_pub.write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return pki

"""Admin client credentials for a Magnum cluster and the kubeconfig that carries them.

Magnum has no kubeconfig API: like ``openstack coe cluster config``, the adapter has the
cluster CA sign a fresh admin client certificate for a key that never leaves the operator.
"""

from __future__ import annotations

import base64
from datetime import UTC

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hybridcloud.providers.base import Kubeconfig


def admin_key_and_csr() -> tuple[str, str]:
    """A new private key and a CSR for it as ``admin`` in ``system:masters`` (both PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, "admin"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters")])
    ).sign(key, hashes.SHA256())
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    return key_pem, csr.public_bytes(serialization.Encoding.PEM).decode()


def admin_kubeconfig(name: str, server: str, ca_pem: str, cert_pem: str,
                     key_pem: str) -> Kubeconfig:
    """The kubeconfig for the signed certificate, expiring with it."""
    expires = x509.load_pem_x509_certificate(cert_pem.encode()).not_valid_after_utc
    user = f"{name}-admin"
    text = yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": name, "cluster": {
            "server": server, "certificate-authority-data": _b64(ca_pem)}}],
        "users": [{"name": user, "user": {"client-certificate-data": _b64(cert_pem),
                                          "client-key-data": _b64(key_pem)}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": user}}],
        "current-context": name,
    }, sort_keys=False)
    return Kubeconfig(text, expires_at=expires.astimezone(UTC))


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()

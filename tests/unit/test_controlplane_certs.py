"""Certificate generation and port allocation for the local control plane (no binaries)."""

from __future__ import annotations

import base64
import errno
import ipaddress
import socket
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hybridcloud.controlplane._kubeconfig import write_kubeconfig
from hybridcloud.controlplane._net import bound_socket, free_ports
from hybridcloud.controlplane._pki import (
    create_cluster_pki,
    issue_apiserver_cert,
    issue_client_cert,
    new_ca,
)


def _sans(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = set(ext.get_values_for_type(x509.DNSName))
    ips = {str(ip) for ip in ext.get_values_for_type(x509.IPAddress)}
    return dns, ips


def _attrs(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in cert.subject.get_attributes_for_oid(oid)]


def _usages(cert: x509.Certificate) -> list[x509.ObjectIdentifier]:
    return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def test_apiserver_cert_covers_loopback_in_cluster_names_and_kubernetes_service_ip() -> None:
    cert = issue_apiserver_cert(new_ca("server-ca")).cert
    dns, ips = _sans(cert)
    assert {
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    } <= dns
    assert {"127.0.0.1", "10.0.0.1"} <= ips
    assert _usages(cert) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_cluster_admin_cert_is_in_system_masters_group() -> None:
    admin = issue_client_cert(new_ca("client-ca"), "admin", ["system:masters"]).cert
    assert _attrs(admin, NameOID.COMMON_NAME) == ["admin"]
    assert _attrs(admin, NameOID.ORGANIZATION_NAME) == ["system:masters"]
    assert _usages(admin) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_user_cert_maps_user_to_cn_and_each_group_to_its_own_organization() -> None:
    cert = issue_client_cert(new_ca("client-ca"), "alice", ["dev", "ops"]).cert
    assert _attrs(cert, NameOID.COMMON_NAME) == ["alice"]
    assert _attrs(cert, NameOID.ORGANIZATION_NAME) == ["dev", "ops"]


def test_user_cert_without_groups_has_no_organization() -> None:
    cert = issue_client_cert(new_ca("client-ca"), "bob").cert
    assert _attrs(cert, NameOID.ORGANIZATION_NAME) == []


def test_empty_user_name_is_rejected() -> None:
    with pytest.raises(ValueError, match="user"):
        issue_client_cert(new_ca("client-ca"), "")


def test_leaf_cert_verifies_against_its_issuing_ca_only() -> None:
    ca, other = new_ca("ca"), new_ca("other")
    leaf = issue_client_cert(ca, "alice").cert
    leaf.verify_directly_issued_by(ca.cert)
    with pytest.raises((ValueError, InvalidSignature)):
        leaf.verify_directly_issued_by(other.cert)


def test_ca_is_self_signed_and_may_sign_but_leaves_may_not() -> None:
    ca = new_ca("ca")
    ca.cert.verify_directly_issued_by(ca.cert)
    assert ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    leaf = issue_client_cert(ca, "alice").cert
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_cluster_pki_keeps_serving_and_client_trust_separate(tmp_path: Path) -> None:
    pki = create_cluster_pki(tmp_path)
    apiserver = x509.load_pem_x509_certificate(pki.apiserver_cert.read_bytes())
    admin = x509.load_pem_x509_certificate(pki.admin_cert.read_bytes())
    server_ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    client_ca = x509.load_pem_x509_certificate(pki.client_ca_cert.read_bytes())
    apiserver.verify_directly_issued_by(server_ca)
    admin.verify_directly_issued_by(client_ca)
    assert server_ca.subject != client_ca.subject


def test_cluster_pki_writes_private_keys_readable_by_owner_only(tmp_path: Path) -> None:
    pki = create_cluster_pki(tmp_path)
    for key in (pki.admin_key, pki.apiserver_key, pki.client_ca_key, pki.service_account_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    assert b"PUBLIC KEY" in pki.service_account_pub.read_bytes()


def test_kubeconfig_embeds_ca_and_client_certificate(tmp_path: Path) -> None:
    ca, client_ca = new_ca("ca"), new_ca("client-ca")
    creds = issue_client_cert(client_ca, "alice", ["dev"])
    path = write_kubeconfig(
        tmp_path / "kc",
        cluster="c1",
        server="https://127.0.0.1:6443",
        ca_pem=ca.cert_pem(),
        user="alice",
        credentials=creds,
    )
    config = yaml.safe_load(path.read_text())
    assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    embedded = base64.b64decode(config["users"][0]["user"]["client-certificate-data"])
    assert x509.load_pem_x509_certificate(embedded) == creds.cert
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_free_ports_are_distinct_loopback_ports_that_can_be_bound() -> None:
    ports = free_ports(8)
    assert len(set(ports)) == 8
    for port in ports:
        assert 0 < port < 65536
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_bound_socket_holds_its_port_so_no_one_else_can_take_it() -> None:
    with bound_socket() as held:
        host, port = held.getsockname()[:2]
        assert host == "127.0.0.1" and 0 < port < 65536
        with socket.socket() as other, pytest.raises(OSError, match="in use") as taken:
            other.bind(("127.0.0.1", port))
        assert taken.value.errno == errno.EADDRINUSE


def test_free_ports_of_zero_is_empty_and_negative_is_rejected() -> None:
    assert free_ports(0) == []
    with pytest.raises(ValueError, match="count"):
        free_ports(-1)


def test_kubernetes_service_ip_is_first_address_of_service_cidr() -> None:
    from hybridcloud.controlplane._pki import KUBERNETES_SERVICE_IP, SERVICE_CIDR

    network = ipaddress.ip_network(SERVICE_CIDR)
    assert ipaddress.ip_address(KUBERNETES_SERVICE_IP) == network.network_address + 1

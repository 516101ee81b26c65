"""HTTPS receivers: the operator trusts a private CA through
``HYBRIDCLOUD_OPERATOR_WEBHOOK_CA_BUNDLE`` and verifies each receiver's certificate and name.

Three real receiver processes serve HTTPS on loopback: one with a certificate for ``localhost``
from the trusted test CA, one whose certificate comes from a CA nobody trusts, and one with a
trusted certificate for another name. Only the first gets deliveries; the others leave failed
deliveries whose error says which TLS check failed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lightkube import Client

from hybridcloud.controlplane import ControlPlane
from hybridcloud.controlplane._pki import CertKey, issue_serving_cert, new_ca
from hybridcloud.kube.resources import HybridClusterResource

from .harness import OperatorProcess, eventually
from .test_webhooks import cluster, subscribe, wait_for
from .test_webhooks import http as http  # the REST client fixture, re-exported for pytest
from .webhook_support import OPERATOR_ENV, SECRET, receiver

pytestmark = pytest.mark.integration


def pem_pair(directory: Path, name: str, cert: CertKey) -> tuple[Path, Path]:
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert.write(cert_path, key_path)
    return cert_path, key_path


@pytest.fixture
def trusted_ca(tmp_path: Path) -> CertKey:
    ca = new_ca("webhook test CA")
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem())
    return ca


@pytest.fixture
def operator(management: ControlPlane, namespace: str, tmp_path: Path,
             trusted_ca: CertKey) -> Iterator[OperatorProcess]:
    process = OperatorProcess(management.kubeconfig, namespace, tmp_path, env={
        **OPERATOR_ENV, "HYBRIDCLOUD_BENCH_PROVIDER_DIR": str(tmp_path / "instant"),
        "HYBRIDCLOUD_OPERATOR_WEBHOOK_ALLOW_HTTP": "false",
        "HYBRIDCLOUD_OPERATOR_WEBHOOK_CA_BUNDLE": str(tmp_path / "ca.pem")})
    process.start()
    yield process
    process.close()


def test_https_receivers_are_verified_against_the_configured_ca_and_their_name(
        http: httpx.Client, kube: Client, namespace: str, operator: OperatorProcess,
        tmp_path: Path, trusted_ca: CertKey) -> None:
    good = pem_pair(tmp_path, "good", issue_serving_cert(trusted_ca, "localhost",
                                                         ["localhost"], []))
    stranger = pem_pair(tmp_path, "stranger", issue_serving_cert(
        new_ca("nobody trusts this CA"), "localhost", ["localhost"], []))
    elsewhere = pem_pair(tmp_path, "elsewhere", issue_serving_cert(
        trusted_ca, "hooks.example.com", ["hooks.example.com"], []))
    with receiver(tmp_path, tls=good, host="localhost") as trusted, \
            receiver(tmp_path, tls=stranger, host="localhost") as untrusted, \
            receiver(tmp_path, tls=elsewhere, host="localhost") as mismatched:
        hooks = {name: subscribe(http, target.url, ["cluster.ready"]) for name, target in
                 (("trusted", trusted), ("untrusted", untrusted),
                  ("mismatched", mismatched))}
        kube.create(HybridClusterResource.from_dict(cluster("secure")), namespace=namespace)
        (ready,) = wait_for(trusted, operator, ["cluster.ready"])
        assert ready["verified"] and ready["body"]["data"]["name"] == "secure"

        def failed(webhook: str) -> dict[str, Any] | None:
            listing = http.get(f"/v1/webhooks/{webhook}/deliveries")
            assert listing.status_code == 200, listing.text
            return next((d for d in listing.json()["deliveries"] if d["status"] == "failed"),
                        None)
        refused = {name: eventually(lambda hook=hooks[name]: failed(hook), timeout=40,
                                    message=lambda: operator.tail(30))
                   for name in ("untrusted", "mismatched")}
        assert not untrusted.records() and not mismatched.records(), "no request got through"

    untrusted_error = refused["untrusted"]["error"]
    assert untrusted_error.startswith("TLS verification failed: "), untrusted_error
    assert "unable to get local issuer certificate" in untrusted_error
    mismatch_error = refused["mismatched"]["error"]
    assert mismatch_error.startswith("TLS verification failed: "), mismatch_error
    assert "localhost" in mismatch_error and "mismatch" in mismatch_error.lower()
    for delivery in refused.values():
        assert delivery["status_code"] is None and delivery["attempts"] >= 2
        assert SECRET not in str(delivery)
    assert SECRET not in operator.log.read_text()

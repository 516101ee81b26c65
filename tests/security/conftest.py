"""Fixtures for the attacker suite; the session fixtures (management control plane, members,
namespaces) come from ``tests/conftest.py``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hybridcloud.controlplane._pki import issue_serving_cert, new_ca

from .attacker import RecordingServer, recording_server


@pytest.fixture
def attacker() -> Iterator[RecordingServer]:
    """A host the hostile tenant controls; it records every request it receives."""
    with recording_server() as server:
        yield server


@pytest.fixture(scope="session")
def attacker_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(CA bundle, certificate, key) of the attacker's HTTPS host on 127.0.0.1. An operator
    started with ``HYBRIDCLOUD_OPERATOR_GIT_CA_BUNDLE`` set to the bundle would complete a TLS
    handshake with it, so only the guard under test stands between a credential and the attacker."""
    root = tmp_path_factory.mktemp("attacker-tls")
    ca = new_ca("attacker CA")
    (root / "ca.crt").write_bytes(ca.cert_pem())
    issue_serving_cert(ca, "attacker", ["localhost"], ["127.0.0.1"]).write(root / "tls.crt",
                                                                            root / "tls.key")
    return root / "ca.crt", root / "tls.crt", root / "tls.key"


@pytest.fixture
def https_attacker(attacker_ca: tuple[Path, Path, Path]) -> Iterator[RecordingServer]:
    """The attacker's host over HTTPS (certificate from ``attacker_ca``)."""
    with recording_server(tls=(attacker_ca[1], attacker_ca[2])) as server:
        yield server

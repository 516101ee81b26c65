"""The API process started by the tests survives the race between choosing a free port and
the process binding it (parallel test workers take ports too)."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from hybridcloud.controlplane import ControlPlane
from hybridcloud.controlplane._net import free_ports

from . import api_support
from .api_support import api_process as start_api_process

pytestmark = pytest.mark.integration


def test_an_api_process_that_loses_its_port_is_started_again_on_new_ports(
        management: ControlPlane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    thief = socket.socket()
    thief.bind(("127.0.0.1", 0))  # bound, not listening: nothing answers /readyz on it
    stolen = int(thief.getsockname()[1])
    picks: list[list[int]] = []

    def choose(count: int) -> list[int]:
        ports = free_ports(count)
        if not picks:
            ports[0] = stolen
        picks.append(ports)
        return ports

    monkeypatch.setattr(api_support, "free_ports", choose)
    log = tmp_path / "api.log"
    try:
        with start_api_process(log, lambda _: {
                "HYBRIDCLOUD_API_KUBECONFIG": str(management.kubeconfig)}) as (base, _):
            assert base == f"http://127.0.0.1:{picks[1][0]}" and len(picks) == 2
            assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
    finally:
        thief.close()
    assert "a port was taken; retrying on new ports" in log.read_text()

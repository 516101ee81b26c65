"""A member cluster that answers a byte at a time must not hold an API request (and its worker)
forever: every member call has a deadline for the whole call, not only per network read."""

from __future__ import annotations

import base64
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml
from lightkube import Client

from hybridcloud.api.settings import Settings, Tier
from hybridcloud.controlplane import ControlPlane

from ..integration.api_support import (
    bearer,
    eventually,
    identity,
    register_member,
    serve,
    set_cluster_status,
)
from ..integration.test_api_contract import assert_error, cluster_body

pytestmark = pytest.mark.integration

DEADLINE = 2.0


@contextmanager
def trickling_server(tls: tuple[Path, Path]) -> Iterator[str]:
    """An HTTPS server that starts a 200 answer and then sends one byte every half second: each
    read finishes quickly, the response never does. Yields its URL."""
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls)

    def trickle(plain: socket.socket) -> None:
        try:
            plain.settimeout(10)
            connection = context.wrap_socket(plain, server_side=True)
        except OSError:
            plain.close()
            return
        with connection:
            try:
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                   b"Transfer-Encoding: chunked\r\n\r\n")
                while not stop.wait(0.5):
                    connection.sendall(b"1\r\n \r\n")
            except OSError:  # the API gave up and closed the connection: what we want
                return

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=trickle, args=(connection,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def kubeconfig_for(server: str, ca: Path) -> str:
    ca_data = base64.b64encode(ca.read_bytes()).decode()
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "member",
        "clusters": [{"name": "member", "cluster": {"server": server,
                                                    "certificate-authority-data": ca_data}}],
        "users": [{"name": "member", "user": {"token": "member-token"}}],
        "contexts": [{"name": "member", "context": {"cluster": "member", "user": "member"}}]})


def test_a_trickling_member_costs_at_most_the_member_deadline(
        management: ControlPlane, kube: Client, namespace: str,
        attacker_ca: tuple[Path, Path, Path]) -> None:
    token = identity(kube, namespace, "tenant")
    settings = Settings(kubeconfig=str(management.kubeconfig), default_tier=Tier.ENTERPRISE,
                        member_timeout=DEADLINE)
    with trickling_server((attacker_ca[1], attacker_ca[2])) as member, serve(settings) as base, \
            httpx.Client(base_url=base, headers=bearer(token), timeout=30) as http:
        assert http.post("/v1/clusters", json=cluster_body("slow")).status_code == 201
        register_member(kube, namespace, "slow", kubeconfig_for(member, attacker_ca[0]))
        set_cluster_status(kube, namespace, "slow", "Active", ready=True)
        eventually(lambda: http.get("/v1/clusters/slow").json()["status"] == "active")
        started = time.monotonic()
        response = http.get("/v1/clusters/slow/workloads")
        elapsed = time.monotonic() - started
        details = assert_error(response, 503, "SERVICE_UNAVAILABLE")
        assert details == {"cluster_id": "slow", "timeout_seconds": DEADLINE}
        assert "did not answer within 2s" in response.json()["error"]["message"]
        assert int(response.headers["Retry-After"]) > 0
        assert elapsed < DEADLINE + 3, f"the request took {elapsed:.1f}s"
        assert "member-token" not in response.text

"""Webhook test helpers: a receiver process, the operator's webhook settings, tenants allowed to
write the signing Secret."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lightkube import Client
from lightkube.models.rbac_v1 import PolicyRule

from hybridcloud.api.settings import Settings, Tier
from hybridcloud.controlplane._net import free_ports

from .api_support import grant, identity

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-webhook-key-for-tests"

# Receivers on loopback over http: the tests allow what production refuses.
OPERATOR_ENV = {
    "HYBRIDCLOUD_OPERATOR_WEBHOOK_ALLOW_HTTP": "true",
    "HYBRIDCLOUD_OPERATOR_WEBHOOK_ALLOW_PRIVATE": "true",
    "HYBRIDCLOUD_OPERATOR_WEBHOOK_BACKOFF_BASE": "0.2",
    "HYBRIDCLOUD_OPERATOR_WEBHOOK_BACKOFF_MAX": "1",
    "HYBRIDCLOUD_OPERATOR_WEBHOOK_RETRY_PERIOD": "8",
    "HYBRIDCLOUD_OPERATOR_WEBHOOK_ATTEMPT_TIMEOUT": "2",
    "HYBRIDCLOUD_OPERATOR_WEBHOOK_FLUSH_INTERVAL": "0.3",
    "PYTHONPATH": str(ROOT),
    "HYBRIDCLOUD_OPERATOR_PROVIDER_OVERRIDES": json.dumps(
        {"local": "tests.bench.instant_provider:factory"}),
}


def api_settings(kubeconfig: Path, *, allow_private: bool = True) -> Settings:
    return Settings(kubeconfig=str(kubeconfig), auth_cache_seconds=1,
                    default_tier=Tier.ENTERPRISE, oauth_namespace="webhooks-oauth",
                    webhook_allow_http=allow_private, webhook_allow_private=allow_private)


def tenant(kube: Client, namespace: str, account: str = "tenant") -> str:
    """A tenant token that may also write Secrets in its namespace (as a namespace admin can)."""
    token = identity(kube, namespace, account)
    grant(kube, namespace, account, "secret-writer", [
        PolicyRule(apiGroups=[""], resources=["secrets"], verbs=["create", "patch", "delete"])])
    return token


class Receiver:
    """``webhook_receiver.py`` in its own process; stop and start it again on the same port."""

    def __init__(self, workdir: Path, *, fail_first: int = 0,
                 tls: tuple[Path, Path] | None = None, host: str = "127.0.0.1") -> None:
        """``tls``: (certificate, key) PEM files to serve HTTPS with; ``host``: the name in
        the URL (it must resolve to loopback)."""
        self.port = free_ports(1)[0]
        self.url = f"{'https' if tls else 'http'}://{host}:{self.port}/hooks"
        self.log = workdir / f"receiver-{self.port}.jsonl"
        self.fail_first = fail_first
        self.tls = tls
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.webhook_receiver", "--port",
             str(self.port), "--secret", SECRET, "--log", str(self.log),
             "--fail-first", str(self.fail_first),
             *(["--cert", str(self.tls[0]), "--key", str(self.tls[1])] if self.tls else [])],
            cwd=ROOT)
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("the webhook receiver did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def records(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    def delivered(self) -> list[dict[str, Any]]:
        """Requests answered 200 (the deliveries that counted)."""
        return [r for r in self.records() if r["answered"] == 200]


@contextmanager
def receiver(workdir: Path, *, fail_first: int = 0, tls: tuple[Path, Path] | None = None,
             host: str = "127.0.0.1") -> Iterator[Receiver]:
    found = Receiver(workdir, fail_first=fail_first, tls=tls, host=host)
    found.start()
    try:
        yield found
    finally:
        found.stop()

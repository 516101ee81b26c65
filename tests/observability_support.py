"""Real Prometheus and Alertmanager for the metrics/alerting tests (built by
``tests/tools/build.sh``; skipped locally, failed in CI when missing).

Prometheus discovers its targets from the API's ``/internal/metrics/targets`` (``http_sd``) with
a ServiceAccount token, scrapes every 5 s, evaluates rule files from a directory the API
writes, reloads on ``POST /-/reload`` and sends alerts to the Alertmanager it is given.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import yaml

from hybridcloud.controlplane._net import free_ports

from .support import tool_binary


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise AssertionError(f"{url} exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} not ready:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)


@contextmanager
def _running(args: list[str], ready_url: str, log: Path) -> Iterator[None]:
    with log.open("ab") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_ready(process, ready_url, log)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_url() -> str:
    """A loopback URL on a port that is free now (for a server started a moment later)."""
    return f"http://127.0.0.1:{free_ports(1)[0]}"


@contextmanager
def alertmanager(work: Path, url: str | None = None) -> Iterator[str]:
    """Alertmanager on ``url`` (default: a free port) that keeps alerts and notifies nobody."""
    url = url or free_url()
    work.mkdir(parents=True, exist_ok=True)
    config = work / "alertmanager.yml"
    config.write_text(yaml.safe_dump({
        "route": {"receiver": "nobody", "group_wait": "1s", "group_interval": "1s"},
        "receivers": [{"name": "nobody"}]}))
    port = url.rsplit(":", 1)[1]
    cluster_port = free_ports(1)[0]
    args = [str(tool_binary("alertmanager", "alertmanager")), f"--config.file={config}",
            f"--storage.path={work / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
            f"--cluster.listen-address=127.0.0.1:{cluster_port}",
            "--cluster.advertise-address=127.0.0.1:" + str(cluster_port)]
    with _running(args, f"{url}/-/ready", work / "alertmanager.log"):
        yield url


@contextmanager
def prometheus(work: Path, discovery_url: str, token: str, *, url: str | None = None,
               alertmanager_url: str | None = None, rules_dir: Path | None = None,
               ) -> Iterator[str]:
    """Prometheus on ``url`` scraping what ``discovery_url`` lists, every 5 s."""
    url = url or free_url()
    work.mkdir(parents=True, exist_ok=True)
    token_file = work / "token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    auth = {"type": "Bearer", "credentials_file": str(token_file)}
    config: dict[str, object] = {
        "global": {"scrape_interval": "5s", "scrape_timeout": "5s",
                   "evaluation_interval": "1s"},
        "scrape_configs": [{
            "job_name": "hybridcloud-clusters", "authorization": auth,
            "http_sd_configs": [{"url": discovery_url, "refresh_interval": "1s",
                                 "authorization": auth}]}]}
    if rules_dir is not None:
        config["rule_files"] = [str(rules_dir / "*.yaml")]
    if alertmanager_url is not None:
        config["alerting"] = {"alertmanagers": [{"static_configs": [
            {"targets": [alertmanager_url.removeprefix("http://")]}]}]}
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = url.rsplit(":", 1)[1]
    args = [str(tool_binary("prometheus", "prometheus")),
            f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle"]
    with _running(args, f"{url}/-/ready", work / "prometheus.log"):
        yield url

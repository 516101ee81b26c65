"""The development log store: a VictoriaLogs process for ``make run`` / ``make up``.

The binary is the one ``tests/tools/build.sh victorialogs`` builds (``make tools``); production
points the chart at an existing server instead (``logs.url``).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx

from ..controlplane._net import free_ports
from ..controlplane._process import Child, Launcher, spawn

BUILD_SCRIPT = Path("tests/tools/build.sh")


def victorialogs_binary() -> Path | None:
    """The built ``victoria-logs``, or None when it is not built (or not in a source tree)."""
    if not BUILD_SCRIPT.exists():
        return None
    found = subprocess.run([str(BUILD_SCRIPT), "--print-dir", "victorialogs"], check=False,
                           capture_output=True, text=True)
    binary = Path(found.stdout.strip()) / "victoria-logs"
    return binary if found.returncode == 0 and binary.exists() else None


def start_log_store(launcher: Launcher, data_dir: Path, log: Path,
                    timeout: float = 30.0) -> tuple[Child, str] | None:
    """Start VictoriaLogs on a free loopback port and wait for /health; None if not built."""
    binary = victorialogs_binary()
    if binary is None:
        return None
    port = free_ports(1)[0]
    child = spawn(launcher, "victoria-logs", binary,
                  [f"-storageDataPath={data_dir}", f"-httpListenAddr=127.0.0.1:{port}",
                   "-loggerLevel=WARN"], log, {})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and child.alive():
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return child, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"victoria-logs did not become healthy; see {log}")

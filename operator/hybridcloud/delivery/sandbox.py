"""How renderers (``helm template``, ``kubectl kustomize``) run: no network, no credentials.

A tenant's chart or kustomization is hostile input; the static checks in
:mod:`hybridcloud.delivery.kustomize` and :mod:`hybridcloud.delivery.chart` refuse every remote
reference they can see, and this module removes the means for what they cannot see:

- **No network**: the renderer runs in a new, empty network namespace (``unshare --net``, or
  ``unshare --user --map-root-user --net`` where the operator is not root but user namespaces
  are allowed). Where neither works (a locked-down container runtime), the fallback is the
  proxy variables pointing at a closed port (Go's HTTP clients, helm and kustomize included,
  honour them) on top of the static checks; :func:`isolation` says which one is in force.
- **No credentials**: a minimal environment (``PATH`` only, no cloud or kube variables) and a
  private, empty ``HOME`` and helm config/cache/data folders.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)
# Port 9 (discard) on loopback: nothing listens there, so a proxied connection fails at once.
_CLOSED_PROXY = "http://127.0.0.1:9"
_CANDIDATES = (("unshare", "--net", "--"),
               ("unshare", "--user", "--map-root-user", "--net", "--"))


@functools.cache
def isolation() -> tuple[str, ...]:
    """The command prefix giving a process no network, or ``()`` when none works here."""
    for prefix in _CANDIDATES if shutil.which("unshare") else ():
        try:
            done = subprocess.run([*prefix, "true"], stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            continue
        if done.returncode == 0:
            log.info("renderers run without network: %s", " ".join(prefix[:-1]))
            return prefix
    log.warning("no network namespace available (unshare refused): renderers run with "
                "proxies pointing at a closed port, behind the static source checks")
    return ()


def environment(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A renderer's whole environment: nothing inherited but ``PATH``."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
            "XDG_CONFIG_HOME": f"{home}/.config", "XDG_CACHE_HOME": f"{home}/.cache",
            "HTTP_PROXY": _CLOSED_PROXY, "HTTPS_PROXY": _CLOSED_PROXY,
            "ALL_PROXY": _CLOSED_PROXY, "http_proxy": _CLOSED_PROXY,
            "https_proxy": _CLOSED_PROXY, "NO_PROXY": "", "no_proxy": "", **(extra or {})}


def command(args: list[str]) -> list[str]:
    """``args`` wrapped so that the process has no network, where the platform allows it."""
    return [*isolation(), *args]

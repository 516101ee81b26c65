"""Finding the executables the platform runs (helm, kubectl, the control-plane binaries): the
directory ``$HYBRIDCLOUD_BIN_DIR`` (or an explicit one) first, then ``PATH``.

Shared by the control plane (``controlplane/``) and delivery (helm, kustomize), which must not
depend on each other.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

BIN_DIR_ENV = "HYBRIDCLOUD_BIN_DIR"


def resolve_bin_dir(explicit: Path | None) -> Path | None:
    """The directory to search first: the explicit argument, else ``$HYBRIDCLOUD_BIN_DIR``."""
    if explicit is not None:
        return Path(explicit)
    from_env = os.environ.get(BIN_DIR_ENV, "").strip()
    return Path(from_env) if from_env else None


def locate(name: str, bin_dir: Path | None) -> Path | None:
    """The absolute path of executable ``name`` in ``bin_dir``, else on ``PATH``; None if
    neither has it."""
    if bin_dir is not None:
        candidate = bin_dir / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate.absolute()
    found = shutil.which(name)
    return Path(found).absolute() if found is not None else None

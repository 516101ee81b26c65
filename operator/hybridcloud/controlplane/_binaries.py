"""Locating the control-plane executables."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from ._errors import ControlPlaneError

BIN_DIR_ENV = "HYBRIDCLOUD_BIN_DIR"


def resolve_bin_dir(explicit: Path | None) -> Path | None:
    """The directory to search first: the explicit argument, else ``$HYBRIDCLOUD_BIN_DIR``."""
    if explicit is not None:
        return Path(explicit)
    from_env = os.environ.get(BIN_DIR_ENV, "").strip()
    return Path(from_env) if from_env else None


def find_binary(name: str, bin_dir: Path | None) -> Path:
    """Return the absolute path of executable ``name``.

    ``bin_dir`` (see :func:`resolve_bin_dir`) wins; ``PATH`` is the fallback so a developer
    with the tools installed system-wide needs no configuration.
    """
    if bin_dir is not None:
        candidate = bin_dir / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate.absolute()
    found = shutil.which(name)
    if found is not None:
        return Path(found).absolute()
    where = f"{bin_dir} or PATH" if bin_dir is not None else f"PATH (${BIN_DIR_ENV} is unset)"
    raise ControlPlaneError(
        f"{name}: executable not found in {where}; build the control-plane binaries with "
        f"tests/controlplane/build.sh and set {BIN_DIR_ENV} to the directory it prints"
    )


def find_binaries(names: Iterable[str], bin_dir: Path | None) -> dict[str, Path]:
    """Resolve every name up front so a missing tool fails before anything is started."""
    return {name: find_binary(name, bin_dir) for name in names}

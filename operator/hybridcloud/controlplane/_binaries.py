"""Locating the control-plane executables."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..binaries import BIN_DIR_ENV, locate, resolve_bin_dir
from ._errors import ControlPlaneError

__all__ = ["BIN_DIR_ENV", "find_binaries", "find_binary", "resolve_bin_dir"]


def find_binary(name: str, bin_dir: Path | None) -> Path:
    """Return the absolute path of executable ``name``.

    ``bin_dir`` (see :func:`resolve_bin_dir`) wins; ``PATH`` is the fallback so a developer
    with the tools installed system-wide needs no configuration.
    """
    found = locate(name, bin_dir)
    if found is not None:
        return found
    where = f"{bin_dir} or PATH" if bin_dir is not None else f"PATH (${BIN_DIR_ENV} is unset)"
    raise ControlPlaneError(
        f"{name}: executable not found in {where}; build the control-plane binaries with "
        f"tests/controlplane/build.sh and set {BIN_DIR_ENV} to the directory it prints"
    )


def find_binaries(names: Iterable[str], bin_dir: Path | None) -> dict[str, Path]:
    """Resolve every name up front so a missing tool fails before anything is started."""
    return {name: find_binary(name, bin_dir) for name in names}

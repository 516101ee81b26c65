"""What one repository may cost the operator, and the file work of an export.

The limits are operator settings (``HYBRIDCLOUD_OPERATOR_GIT_*``); every message naming one says
which setting to change. Tree sizes are read from ``git ls-tree -l`` before anything is
extracted, so an oversized commit never touches the disk.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

SETTING = "HYBRIDCLOUD_OPERATOR_"


@dataclass(frozen=True)
class GitLimits:
    """Bounds on what one repository may cost the operator (see the operator settings)."""

    timeout: float = 120.0  # seconds for one git command
    low_speed_bytes: int = 1000  # abort a transfer slower than this many bytes/s …
    low_speed_seconds: int = 30  # … for this long
    max_fetch_bytes: int = 512 * 2**20  # size of one repository's mirror
    max_tree_bytes: int = 256 * 2**20  # size of the files of one exported commit
    max_tree_files: int = 20_000  # files (and symlinks) in one exported commit


def tree_over_limits(listing: bytes, sha: str, limits: GitLimits) -> str | None:
    """Why the commit listed by ``git ls-tree -r -l -z`` may not be exported, if it may not."""
    files, size = 0, 0
    for entry in listing.split(b"\0"):
        if entry:
            files += 1
            blob_size = entry.split(b"\t", 1)[0].split()[-1]
            size += int(blob_size) if blob_size.isdigit() else 0  # "-" for submodules
    if files > limits.max_tree_files:
        return (f"commit {sha[:12]} has {files} files, more than the limit "
                f"{SETTING}GIT_MAX_TREE_FILES={limits.max_tree_files}")
    if size > limits.max_tree_bytes:
        return (f"the files of commit {sha[:12]} take {size} bytes, more than the limit "
                f"{SETTING}GIT_MAX_TREE_BYTES={limits.max_tree_bytes}")
    return None


def extract(archive_path: Path, staging: Path, tree: Path) -> None:
    """Unpack with tarfile's ``data`` filter (no absolute paths, no links leaving ``staging``,
    no devices), then move into place."""
    with tarfile.open(archive_path) as archive:
        archive.extractall(staging, filter="data")
    staging.rename(tree)


def discard(archive_path: Path, staging: Path) -> None:
    """What a failed (or finished) export leaves behind."""
    archive_path.unlink(missing_ok=True)
    if staging.exists():
        shutil.rmtree(staging, ignore_errors=True)


def folder_size(folder: Path) -> int:
    """Bytes of the files under ``folder`` (0 when it is gone)."""
    total = 0
    for path, _, names in os.walk(folder):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(path, name)).st_size
    return total

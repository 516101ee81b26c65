"""The session's stray-process check sees processes under its own base folder only: a parallel
run whose base folder merely shares the prefix must be neither reported nor killed."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import _processes_under


@pytest.fixture
def sleepers(tmp_path: Path) -> Iterator[dict[str, int]]:
    """Processes whose command lines name a path inside ``tmp_path/run``, ``tmp_path/run`` itself,
    and a path inside the sibling ``tmp_path/run-2``."""
    args = {"inside": f"{tmp_path}/run/etcd", "itself": f"{tmp_path}/run",
            "sibling": f"{tmp_path}/run-2/etcd"}
    started = {key: subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                                      f"--data-dir={arg}"]) for key, arg in args.items()}
    try:
        yield {key: process.pid for key, process in started.items()}
    finally:
        for process in started.values():
            process.kill()
            process.wait()


def test_a_sibling_folder_sharing_the_prefix_is_not_ours(
        tmp_path: Path, sleepers: dict[str, int]) -> None:
    found = {pid for pid, _ in _processes_under(tmp_path / "run")}
    assert {sleepers["inside"], sleepers["itself"]} <= found
    assert sleepers["sibling"] not in found

"""Session fixtures: a real management control plane with the CRDs, member clusters on demand.

Binaries come from ``$HYBRIDCLOUD_BIN_DIR`` (``make test`` sets it from
``tests/controlplane/build.sh``). Without them integration tests are skipped locally but fail in
CI, where a skipped integration suite would hide a broken build.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from lightkube import Client, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

from hybridcloud.controlplane import ControlPlane, Profile
from hybridcloud.kube.bootstrap import create_platform_namespace, install_crds

from .support import missing_tool

ROOT = Path(__file__).resolve().parents[1]
BUILD_SCRIPT = ROOT / "tests" / "controlplane" / "build.sh"


def _bin_dir() -> Path | None:
    configured = os.environ.get("HYBRIDCLOUD_BIN_DIR")
    if configured:
        return Path(configured)
    printed = subprocess.run([str(BUILD_SCRIPT), "--print-dir"], capture_output=True, text=True,
                             check=False).stdout.strip()
    return Path(printed) if printed else None


def _processes_under(directory: Path) -> list[tuple[int, str]]:
    """Live processes (zombies excluded) whose command line mentions ``directory`` or a path
    inside it; a sibling sharing its prefix (/tmp/run vs /tmp/run-2) is another run's."""
    found = []
    needle = re.compile(re.escape(str(directory).encode()) + rb"(/|\0)")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if needle.search(cmdline) and state not in ("Z", "X"):
            found.append((int(entry.name), cmdline.replace(b"\0", b" ").decode()[:160]))
    return found


@pytest.fixture(scope="session", autouse=True)
def no_stray_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every process a test starts under its temp dirs must be gone when the session ends:
    control planes, operators, detached `local` clusters. Leftovers fail the run (and are
    killed, so one failure does not poison the machine)."""
    base = tmp_path_factory.getbasetemp()
    yield
    deadline = time.monotonic() + 15
    while (left := _processes_under(base)) and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid, _ in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left running after the tests: {left}"


@pytest.fixture(scope="session")
def bin_dir() -> Path:
    found = _bin_dir()
    if found is None or not (found / "kube-apiserver").exists():
        missing_tool(f"control-plane binaries missing ({found}); run `make controlplane`")
    os.environ["HYBRIDCLOUD_BIN_DIR"] = str(found)
    return found


@pytest.fixture(scope="session")
def management(bin_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """The management cluster: etcd + kube-apiserver + kube-controller-manager, CRDs installed."""
    plane = ControlPlane(tmp_path_factory.mktemp("management"), Profile.MANAGEMENT,
                         name="management", bin_dir=bin_dir)
    with plane:
        install_crds(plane.kubeconfig)
        create_platform_namespace(plane.kubeconfig)  # the operator's member credentials
        yield plane


@pytest.fixture(scope="session")
def kube(management: ControlPlane) -> Client:
    return Client(config=KubeConfig.from_file(management.kubeconfig), field_manager="tests")


@pytest.fixture
def namespace(kube: Client) -> Iterator[str]:
    """A fresh namespace per test, so tests never see each other's objects."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    kube.create(Namespace(metadata=ObjectMeta(name=name)))
    yield name
    kube.delete(Namespace, name)


@pytest.fixture(scope="session")
def member_cluster(
    bin_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., ControlPlane]]:
    """Factory for member clusters (scheduler + kwok fake nodes), started once per name."""
    started: dict[str, ControlPlane] = {}

    def get(name: str, nodes: int = 2, apiserver_args: Sequence[str] = ()) -> ControlPlane:
        if name not in started:
            plane = ControlPlane(tmp_path_factory.mktemp(name), Profile.MEMBER, name=name,
                                 nodes=nodes, bin_dir=bin_dir, apiserver_args=apiserver_args)
            plane.start()
            started[name] = plane
        return started[name]

    yield get
    for plane in started.values():
        plane.stop()


@pytest.fixture(scope="session")
def kubectl(
    management: ControlPlane, bin_dir: Path
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the built kubectl against the management cluster; never raises on failure."""

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        command = [str(bin_dir / "kubectl"), "--kubeconfig", str(management.kubeconfig), *args]
        return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=60,
                              check=False)

    return run

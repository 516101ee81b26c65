"""Binary lookup, fake-node manifests and argument validation (no binaries started)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from hybridcloud.controlplane import ControlPlane, ControlPlaneError, Profile
from hybridcloud.controlplane._binaries import BIN_DIR_ENV, find_binary, resolve_bin_dir
from hybridcloud.controlplane._nodes import node_index, node_manifest, node_schedulable


def _fake_tool(directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    tool = directory / name
    tool.write_text("#!/bin/sh\n")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    return tool


def test_explicit_bin_dir_wins_over_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(BIN_DIR_ENV, str(tmp_path / "env"))
    assert resolve_bin_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert resolve_bin_dir(None) == tmp_path / "env"


def test_binary_is_found_in_bin_dir_before_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    preferred = _fake_tool(tmp_path / "bin", "etcd")
    _fake_tool(tmp_path / "path", "etcd")
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    assert find_binary("etcd", tmp_path / "bin") == preferred


def test_binary_falls_back_to_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on_path = _fake_tool(tmp_path / "path", "kwok")
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    assert find_binary("kwok", tmp_path / "empty") == on_path


def test_missing_binary_error_names_the_binary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ControlPlaneError, match="kube-scheduler"):
        find_binary("kube-scheduler", tmp_path / "bin")


def test_start_fails_fast_naming_the_missing_binary_and_starts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    plane = ControlPlane(tmp_path / "work", bin_dir=tmp_path / "nothing")
    with pytest.raises(ControlPlaneError, match="etcd"):
        plane.start()
    assert plane.pids() == []


def test_nodes_require_member_profile_and_valid_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="MEMBER"):
        ControlPlane(tmp_path, Profile.MANAGEMENT, nodes=1)
    with pytest.raises(ValueError, match="nodes"):
        ControlPlane(tmp_path, Profile.MEMBER, nodes=-1)
    with pytest.raises(ValueError, match="DNS"):
        ControlPlane(tmp_path, name="Not_A_Label")


def test_server_is_unknown_before_start(tmp_path: Path) -> None:
    plane = ControlPlane(tmp_path)
    with pytest.raises(ControlPlaneError, match="not been started"):
        _ = plane.server
    assert plane.env() == {"KUBECONFIG": str(tmp_path.absolute() / "kubeconfig")}
    plane.stop()  # idempotent even when never started


def test_fake_node_manifest_is_labelled_for_kwok_and_gets_its_own_pod_cidr() -> None:
    node = node_manifest("edge", 3)
    meta = node["metadata"]
    assert meta["name"] == "edge-node-3"
    assert meta["labels"]["type"] == "kwok"
    assert meta["labels"]["kubernetes.io/hostname"] == "edge-node-3"
    assert "node-role.kubernetes.io/worker" in meta["labels"]
    assert meta["annotations"] == {"kwok.x-k8s.io/node": "fake"}
    assert node["spec"]["podCIDR"] == "10.244.3.0/24"
    assert "taints" not in node["spec"]


def test_node_index_only_parses_names_of_this_cluster() -> None:
    assert node_index("edge", "edge-node-12") == 12
    assert node_index("edge", "other-node-1") is None
    assert node_index("edge", "edge-node-x") is None


def test_node_is_schedulable_only_when_ready_and_not_tainted_not_ready() -> None:
    ready = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    tainted = {**ready, "spec": {"taints": [{"key": "node.kubernetes.io/not-ready"}]}}
    assert node_schedulable(ready)
    assert not node_schedulable(tainted)
    assert not node_schedulable({"status": {"conditions": [{"type": "Ready", "status": "False"}]}})
    assert not node_schedulable({})


def test_profile_values_match_cli_spelling() -> None:
    assert [p.value for p in Profile] == ["management", "member"]
    assert Profile("member") is Profile.MEMBER
    assert isinstance(Profile.MEMBER, str)

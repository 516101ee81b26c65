"""A benchmark-only provider: every call succeeds at once, so only operator overhead is measured.

State lives in one small file per cluster under ``$HYBRIDCLOUD_BENCH_PROVIDER_DIR`` so that an
operator restart finds what it created (the restart benchmark must see "nothing changed").
Clusters have no endpoint, so no kubeconfig Secret is written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from hybridcloud.providers.base import (
    CloudProvider,
    ClusterSpec,
    ClusterState,
    Kubeconfig,
    NodeGroupSpec,
    ObservedCluster,
    ObservedNodeGroup,
)


class InstantProvider:
    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, cluster: ClusterSpec) -> Path:
        return self.root / cluster.name

    def _save(self, cluster: ClusterSpec, groups: dict[str, int], version: str) -> None:
        self._path(cluster).write_text(json.dumps({"groups": groups, "version": version}))

    def _load(self, cluster: ClusterSpec) -> dict[str, object] | None:
        try:
            data: dict[str, object] = json.loads(self._path(cluster).read_text())
        except FileNotFoundError:
            return None
        return data

    def describe(self, cluster: ClusterSpec) -> ObservedCluster | None:
        data = self._load(cluster)
        if data is None:
            return None
        groups = data["groups"]
        assert isinstance(groups, dict)
        return ObservedCluster(
            provider_id=f"instant/{cluster.name}", name=cluster.name, state=ClusterState.ACTIVE,
            version=str(data["version"]),
            node_groups=tuple(ObservedNodeGroup(name, size, size, ClusterState.ACTIVE)
                              for name, size in sorted(groups.items())))

    def create(self, cluster: ClusterSpec) -> None:
        if self._load(cluster) is None:
            self._save(cluster, {g.name: g.size for g in cluster.node_groups
                                 if g.role != "control-plane"}, cluster.version)

    def delete(self, cluster: ClusterSpec) -> None:
        self._path(cluster).unlink(missing_ok=True)

    def _resize(self, cluster: ClusterSpec, name: str, size: int | None) -> None:
        data = self._load(cluster)
        if data is None:
            return
        groups = dict(data["groups"])  # type: ignore[call-overload]
        if size is None:
            groups.pop(name, None)
        else:
            groups[name] = size
        self._save(cluster, groups, str(data["version"]))

    def create_node_group(self, cluster: ClusterSpec, group: NodeGroupSpec) -> None:
        self._resize(cluster, group.name, group.size)

    def update_node_group(self, cluster: ClusterSpec, group: NodeGroupSpec) -> None:
        self._resize(cluster, group.name, group.size)

    def delete_node_group(self, cluster: ClusterSpec, name: str) -> None:
        self._resize(cluster, name, None)

    def upgrade(self, cluster: ClusterSpec, version: str) -> None:
        data = self._load(cluster)
        if data is not None:
            groups = data["groups"]
            assert isinstance(groups, dict)
            self._save(cluster, groups, version)

    def kubeconfig(self, cluster: ClusterSpec, observed: ObservedCluster) -> Kubeconfig:
        raise NotImplementedError("instant clusters have no endpoint")


def factory(credentials: Mapping[str, str]) -> CloudProvider:
    return InstantProvider(Path(os.environ["HYBRIDCLOUD_BENCH_PROVIDER_DIR"]))

"""A benchmark-only provider: every call succeeds at once, so only operator overhead is measured.

State lives in memory and in an append-only journal under ``$HYBRIDCLOUD_BENCH_PROVIDER_DIR``
(one JSON line per change, replayed at start), so that an operator restart finds what it created
(the restart benchmark must see "nothing changed") without a file open per call.
Clusters have no endpoint, so no kubeconfig Secret is written.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
    # State in memory plus one buffered journal line per change: no call waits, so the
    # operator runs them on its event loop (providers.base.answers_without_blocking).
    nonblocking = True

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        journal = root / "journal.jsonl"
        self._state: dict[str, dict[str, Any]] = {}
        if journal.exists():
            for line in journal.read_text().splitlines():
                entry = json.loads(line)
                if entry["state"] is None:
                    self._state.pop(entry["name"], None)
                else:
                    self._state[entry["name"]] = entry["state"]
        self._lock = threading.Lock()
        self._journal = journal.open("a", buffering=1)  # line-buffered: one write per change

    def _save(self, cluster: ClusterSpec, groups: dict[str, int] | None,
              version: str = "") -> None:
        state = None if groups is None else {"groups": groups, "version": version}
        with self._lock:
            if state is None:
                self._state.pop(cluster.name, None)
            else:
                self._state[cluster.name] = state
            self._journal.write(json.dumps({"name": cluster.name, "state": state}) + "\n")

    def _load(self, cluster: ClusterSpec) -> dict[str, Any] | None:
        return self._state.get(cluster.name)

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
        if self._load(cluster) is not None:
            self._save(cluster, None)

    def _resize(self, cluster: ClusterSpec, name: str, size: int | None) -> None:
        data = self._load(cluster)
        if data is None:
            return
        groups = dict(data["groups"])
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

    def default_version(self, cluster: ClusterSpec) -> str | None:
        # The benchmark names every version; an unnamed one gets what `local` would build.
        return "v1.37.2"

    def kubeconfig(self, cluster: ClusterSpec, observed: ObservedCluster) -> Kubeconfig:
        raise NotImplementedError("instant clusters have no endpoint")


_shared: InstantProvider | None = None


def factory(credentials: Mapping[str, str]) -> CloudProvider:
    global _shared
    if _shared is None:  # one journal writer per process
        _shared = InstantProvider(Path(os.environ["HYBRIDCLOUD_BENCH_PROVIDER_DIR"]))
    return _shared

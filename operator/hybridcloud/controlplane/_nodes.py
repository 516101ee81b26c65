"""Fake (kwok-managed) Node objects: manifests, creation, deletion and readiness."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from ..conditions import READY, is_true
from ._components import POD_CIDR
from ._errors import ControlPlaneError

NODE_SELECTOR = "type=kwok"
_NODES = "/api/v1/nodes"
# Taints the node-lifecycle controller keeps on a node until it is Ready and reachable.
_UNSCHEDULABLE_TAINTS = {"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"}
_POD_NETWORK = ipaddress.ip_network(POD_CIDR)


def node_name(cluster: str, index: int) -> str:
    return f"{cluster}-node-{index}"


def node_index(cluster: str, name: str) -> int | None:
    """The index encoded in a name made by :func:`node_name`, or None for other nodes."""
    match = re.fullmatch(re.escape(cluster) + r"-node-(\d+)", name)
    return int(match.group(1)) if match else None


def _pod_cidr(index: int) -> str | None:
    # One /24 per node, like the node-IPAM controller would assign, so kwok hands out
    # distinct pod IPs per node. Past the end of the range nodes fall back to kwok's --cidr.
    size = 256
    if not 0 <= index < _POD_NETWORK.num_addresses // size:
        return None
    return f"{_POD_NETWORK.network_address + index * size}/24"


def node_manifest(cluster: str, index: int) -> dict[str, Any]:
    name = node_name(cluster, index)
    spec: dict[str, Any] = {}
    cidr = _pod_cidr(index)
    if cidr is not None:
        spec = {"podCIDR": cidr, "podCIDRs": [cidr]}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/worker": "",
            },
            "annotations": {"kwok.x-k8s.io/node": "fake"},
        },
        "spec": spec,
    }


def node_schedulable(node: Mapping[str, Any]) -> bool:
    """Ready=True and free of the not-ready/unreachable taints, i.e. pods can land on it."""
    ready = is_true(node.get("status", {}).get("conditions"), READY)
    taints = {t.get("key") for t in node.get("spec", {}).get("taints", [])}
    return ready and not taints & _UNSCHEDULABLE_TAINTS


def _check(response: httpx.Response, action: str) -> httpx.Response:
    if response.is_success:
        return response
    raise ControlPlaneError(f"{action}: HTTP {response.status_code}: {response.text[:500]}")


def list_fake_nodes(client: httpx.Client) -> list[dict[str, Any]]:
    response = _check(client.get(_NODES, params={"labelSelector": NODE_SELECTOR}), "list nodes")
    items: list[dict[str, Any]] = response.json().get("items", [])
    return items


def create_nodes(client: httpx.Client, cluster: str, indices: Iterable[int]) -> list[str]:
    names = []
    for index in indices:
        manifest = node_manifest(cluster, index)
        response = client.post(_NODES, json=manifest)
        # 409: left over from an earlier call that timed out after creating it; reuse it.
        if response.status_code != httpx.codes.CONFLICT:
            _check(response, f"create node {manifest['metadata']['name']}")
        names.append(manifest["metadata"]["name"])
    return names


def delete_nodes(client: httpx.Client, names: Iterable[str]) -> None:
    for name in names:
        response = client.delete(f"{_NODES}/{name}")
        if response.status_code != httpx.codes.NOT_FOUND:
            _check(response, f"delete node {name}")


def schedulable_names(client: httpx.Client) -> set[str]:
    return {n["metadata"]["name"] for n in list_fake_nodes(client) if node_schedulable(n)}

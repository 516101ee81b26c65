"""Where each member node's container resource metrics are read (pure; no I/O).

A real kubelet serves them at ``/metrics/resource`` (what metrics-server and cAdvisor users
query: ``container_cpu_usage_seconds_total``, ``container_memory_working_set_bytes`` labelled
``namespace``, ``pod``, ``container``); the platform reads it through the member API server's
node proxy with its own member credential.

The ``local`` provider's nodes are simulated by one kwok process per member, which serves the
same series per node under ``/metrics/nodes/{node}/metrics/resource`` (see
``controlplane._kwok_usage``) on loopback, where the API server's node proxy refuses to go
(it never proxies to loopback addresses). Those are read directly, at the address and kubelet
port the member's Node reports, under two conditions that keep a tenant who can edit its
member's Nodes from pointing the platform elsewhere: the address must be loopback (no other
host is reachable this way), and the TLS certificate must verify against the member's own
server CA from the platform's credential (another member's kwok, the platform's own ports or
anything else on loopback cannot answer).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

# A Node name as the API server accepts it (DNS subdomain); anything else a member lists is
# skipped rather than put into a URL.
_NODE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
SIMULATED_PROVIDERS = frozenset({"local"})


class UnreadableNodeError(ValueError):
    """The Node does not say where its simulated kubelet can be read safely."""


def valid_node_name(name: object) -> bool:
    return isinstance(name, str) and bool(_NODE_NAME.match(name))


def kubelet_proxy_path(node: str) -> str:
    """The member API server path that returns a real kubelet's resource metrics."""
    if not valid_node_name(node):
        raise UnreadableNodeError(f"not a node name: {node!r}")
    return f"/api/v1/nodes/{quote(node, safe='')}/proxy/metrics/resource"


def simulated_kubelet_url(node: Mapping[str, Any]) -> str:
    """kwok's resource-metrics URL for the Node object ``node`` (loopback only)."""
    name = (node.get("metadata") or {}).get("name")
    if not valid_node_name(name):
        raise UnreadableNodeError(f"not a node name: {name!r}")
    status = node.get("status") or {}
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    if not isinstance(port, int) or not 0 < port < 65536:
        raise UnreadableNodeError(f"node {name} reports no kubelet port")
    for address in status.get("addresses") or []:
        if address.get("type") != "InternalIP":
            continue
        try:
            ip = ipaddress.ip_address(str(address.get("address")))
        except ValueError:
            continue
        if ip.is_loopback:
            host = f"[{ip}]" if ip.version == 6 else str(ip)
            return f"https://{host}:{port}/metrics/nodes/{name}/metrics/resource"
    raise UnreadableNodeError(f"node {name} reports no loopback InternalIP")

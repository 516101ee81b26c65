"""Where each member node's container resource metrics are read (pure; no I/O).

A real kubelet serves them at ``/metrics/resource`` (what metrics-server and cAdvisor users
query: ``container_cpu_usage_seconds_total``, ``container_memory_working_set_bytes`` labelled
``namespace``, ``pod``, ``container``). The ``local`` provider's nodes are simulated by one kwok
process, which serves the same series per node under ``/metrics/nodes/{node}/metrics/resource``
(see ``controlplane._kwok_usage``). Either way the platform reads them through the member API
server's node proxy with its own member credential, so the node itself is never exposed.
"""

from __future__ import annotations

import re
from urllib.parse import quote

# A Node name as the API server accepts it (DNS subdomain); anything else a member lists is
# skipped rather than put into a URL.
_NODE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_SIMULATED = frozenset({"local"})


def valid_node_name(name: object) -> bool:
    return isinstance(name, str) and bool(_NODE_NAME.match(name))


def node_proxy_path(provider: str, node: str) -> str:
    """The member API server path that returns ``node``'s resource metrics."""
    if not valid_node_name(node):
        raise ValueError(f"not a node name: {node!r}")
    escaped = quote(node, safe="")
    inner = (f"/metrics/nodes/{escaped}/metrics/resource" if provider in _SIMULATED
             else "/metrics/resource")
    return f"/api/v1/nodes/{escaped}/proxy{inner}"

"""The client's address, as far as it can be trusted.

Rate-limit buckets and logs are keyed by the client address, so a client must not be able to
choose it. ``X-Forwarded-For`` and ``Forwarded`` (RFC 7239) are honoured only when the TCP peer
is one of the configured reverse proxies (``HYBRIDCLOUD_API_TRUSTED_PROXIES``, CIDRs; default
none). Then the hops are read from the right — the entries our proxies appended — and the first
address that is not itself a trusted proxy is the client; whatever the client wrote to the left
of that is ignored. A malformed hop stops the walk at the last trusted one.

uvicorn's own proxy-header handling is switched off (``__main__``): it trusts 127.0.0.1 by
default, which a sidecar on the pod's loopback would turn into "trust every client".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from starlette.datastructures import Headers

Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address

_FORWARDED_FOR = re.compile(r'(?:^|;)\s*for\s*=\s*("[^"]*"|[^;,\s]*)', re.IGNORECASE)


def _parse(hop: str) -> Address | None:
    """An address from an X-Forwarded-For entry or a Forwarded ``for=`` value (quotes, IPv6
    brackets and ports stripped); None for obfuscated or unknown hops."""
    text = hop.strip().strip('"')
    if text.startswith("["):  # "[2001:db8::1]:4711"
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # "192.0.2.1:4711"
        text = text.partition(":")[0]
    try:
        return ip_address(text)
    except ValueError:
        return None


def forwarded_hops(headers: Headers) -> list[str]:
    """The forwarded-for chain, nearest hop last; ``Forwarded`` wins over ``X-Forwarded-For``."""
    forwarded = ",".join(headers.getlist("forwarded"))
    if forwarded.strip():
        hops = []
        for element in forwarded.split(","):
            found = _FORWARDED_FOR.search(element.strip())
            hops.append(found.group(1) if found else "")
        return hops
    return [hop for hop in ",".join(headers.getlist("x-forwarded-for")).split(",") if hop.strip()]


def _trusted(address: Address, proxies: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in proxies)


def client_address(peer: str | None, headers: Headers, proxies: Sequence[Network]) -> str:
    """The client address for ``peer`` (the TCP peer) given the trusted proxy ranges."""
    if not peer:
        return "unknown"
    current = _parse(peer)
    if current is None or not proxies or not _trusted(current, proxies):
        return peer
    for hop in reversed(forwarded_hops(headers)):
        address = _parse(hop)
        if address is None:
            break  # a hop we cannot read: the last trusted proxy is as far as we can tell
        current = address
        if not _trusted(address, proxies):
            break
    return str(current)

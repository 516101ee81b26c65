"""Which receiver URLs the platform may call: refuse the platform's own networks.

Checked twice: when a subscription is created or changed (the API answers 400) and before every
delivery attempt on the addresses the name resolves to *then*, and the connection goes to the
address that was checked (a name that re-resolves to loopback after creation — DNS rebinding —
is refused at delivery time, and cannot switch between the check and the connect).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Always refused unless allow_private: loopback, link-local (cloud metadata at 169.254.169.254
# and fd00:ec2::254), unspecified, multicast, reserved, and the RFC 1918 / ULA ranges where
# a cluster's pods and services usually live.
_BLOCKED: tuple[Network, ...] = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4",
    "240.0.0.0/4", "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "fd00:ec2::/32",
    "64:ff9b::/96", "100::/64",
))


class UnsafeURLError(ValueError):
    """The URL must not be called; the message says why (it never contains secrets)."""


@dataclass(frozen=True)
class URLPolicy:
    allow_http: bool = False
    allow_private: bool = False  # loopback, link-local, private ranges (tests, dev only)
    blocked: tuple[Network, ...] = field(default=())  # extra: the cluster's service/pod CIDRs

    @classmethod
    def of(cls, *, allow_http: bool, allow_private: bool,
           blocked_cidrs: Sequence[str] = ()) -> URLPolicy:
        return cls(allow_http, allow_private,
                   tuple(ipaddress.ip_network(c, strict=False) for c in blocked_cidrs))


def parse(url: str, policy: URLPolicy) -> SplitResult:
    """The URL's parts if its form is acceptable (scheme, host, no credentials)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise UnsafeURLError(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("https", "http"):
        raise UnsafeURLError("the URL must use https://")
    if parts.scheme == "http" and not policy.allow_http:
        raise UnsafeURLError("http:// URLs are not allowed on this platform; use https://")
    if not parts.hostname:
        raise UnsafeURLError("the URL has no host")
    if parts.username or parts.password:
        raise UnsafeURLError("the URL must not carry credentials")
    if parts.fragment:
        raise UnsafeURLError("the URL must not have a fragment")
    return parts


def check_address(address: str, policy: URLPolicy) -> None:
    ip = ipaddress.ip_address(address.split("%")[0])
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    if any(ip in net for net in policy.blocked if net.version == ip.version):
        raise UnsafeURLError(f"the URL resolves to {ip}, inside the cluster's own networks")
    if policy.allow_private:
        return
    if any(ip in net for net in _BLOCKED if net.version == ip.version) or not ip.is_global:
        raise UnsafeURLError(f"the URL resolves to {ip}, a loopback, link-local or private "
                             "address, which this platform does not call")


async def resolve(url: str, policy: URLPolicy) -> tuple[SplitResult, str]:
    """Check ``url`` and the addresses its host resolves to now; return the parts and the
    first address (the one to connect to)."""
    parts = parse(url, policy)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port,
                                                             type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnsafeURLError(f"the URL's host {host!r} does not resolve") from exc
    addresses = sorted({str(info[4][0]) for info in infos})
    if not addresses:
        raise UnsafeURLError(f"the URL's host {host!r} does not resolve")
    for address in addresses:  # every one: the resolver may hand any of them to a client
        check_address(address, policy)
    return parts, addresses[0]

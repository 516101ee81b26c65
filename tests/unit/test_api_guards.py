"""Pure pieces of the API's hardening: the client address behind proxies, the JSON depth
measure, and the auth-failure buckets' check-without-spending."""

from __future__ import annotations

from ipaddress import ip_network

import pytest
from starlette.datastructures import Headers

from hybridcloud.api.bodylimit import json_depth_exceeds
from hybridcloud.api.oauth import may_mint_for
from hybridcloud.api.proxies import client_address
from hybridcloud.api.ratelimit import RateLimiter
from hybridcloud.api.settings import Settings

PROXIES = [ip_network("10.0.0.0/8"), ip_network("fd00::/8")]


@pytest.mark.parametrize(("peer", "headers", "proxies", "expected"), [
    # No trusted proxies: whatever the headers say, the peer is the client.
    ("203.0.113.5", {"x-forwarded-for": "1.2.3.4"}, [], "203.0.113.5"),
    ("203.0.113.5", {"forwarded": "for=1.2.3.4"}, [], "203.0.113.5"),
    # An untrusted peer's headers are ignored even when proxies are configured.
    ("203.0.113.5", {"x-forwarded-for": "1.2.3.4"}, PROXIES, "203.0.113.5"),
    # From a trusted proxy: the rightmost untrusted hop; what the client prepended is ignored.
    ("10.1.1.1", {"x-forwarded-for": "6.6.6.6, 198.51.100.7"}, PROXIES, "198.51.100.7"),
    ("10.1.1.1", {"x-forwarded-for": "198.51.100.7, 10.2.2.2"}, PROXIES, "198.51.100.7"),
    ("10.1.1.1", {"forwarded": 'for="[2001:db8::1]:4711";proto=https'}, PROXIES, "2001:db8::1"),
    ("10.1.1.1", {"forwarded": "for=6.6.6.6, for=198.51.100.7:80"}, PROXIES, "198.51.100.7"),
    # Forwarded wins over X-Forwarded-For; an unreadable hop stops at the last trusted one.
    ("10.1.1.1", {"forwarded": "for=198.51.100.7", "x-forwarded-for": "6.6.6.6"}, PROXIES,
     "198.51.100.7"),
    ("10.1.1.1", {"x-forwarded-for": "198.51.100.7, garbage"}, PROXIES, "10.1.1.1"),
    ("10.1.1.1", {"forwarded": "for=_hidden"}, PROXIES, "10.1.1.1"),
    ("10.1.1.1", {}, PROXIES, "10.1.1.1"),
    ("fd00::1", {"x-forwarded-for": "2001:db8::9"}, PROXIES, "2001:db8::9"),
])
def test_client_address_believes_forwarded_headers_only_from_trusted_proxies(
        peer: str, headers: dict[str, str], proxies: list[object], expected: str) -> None:
    assert client_address(peer, Headers(headers), proxies) == expected  # type: ignore[arg-type]


def test_trusted_proxies_setting_parses_cidrs_and_rejects_garbage() -> None:
    assert Settings(trusted_proxies=["10.0.0.0/8", "::1/128"]).trusted_proxies == [
        ip_network("10.0.0.0/8"), ip_network("::1/128")]
    with pytest.raises(ValueError, match="trusted_proxies"):
        Settings(trusted_proxies=["not-a-network"])


@pytest.mark.parametrize(("body", "exceeds"), [
    (b'{"a": [1, {"b": 2}]}', False),
    (b"[" * 3 + b"]" * 3, False),
    (b"[" * 4 + b"]" * 4, True),
    (b'{"a": "[[[[[[[[[[", "b": "\\"[[[[["}', False),  # brackets inside strings do not count
    (b"[]" * 10_000, False),  # wide is fine, only deep is refused
    (b"[[[[[[", False),  # malformed: left to the parser
])
def test_json_depth_is_measured_without_parsing(body: bytes, exceeds: bool) -> None:
    assert json_depth_exceeds(body, 3) is exceeds


def test_checking_an_auth_failure_bucket_spends_nothing() -> None:
    now = [0.0]
    limiter = RateLimiter(100, clock=lambda: now[0], wall=lambda: now[0])
    for _ in range(3):
        assert limiter.spend("k", 10, 3).allowed
    assert not limiter.check("k", 10, 3).allowed
    assert limiter.check("k", 10, 3).retry_after == 10
    now[0] += 10  # one token refilled; checking it twice leaves it there
    assert limiter.check("k", 10, 3).allowed and limiter.check("k", 10, 3).allowed
    assert limiter.spend("k", 10, 3).allowed
    assert not limiter.spend("k", 10, 3).allowed


@pytest.mark.parametrize(("namespace", "allowed"), [
    ("team-a", True), ("kube-system", False), ("kube-public", False),
    ("kube-node-lease", False), ("kube-anything", False), ("hc-system", False),
    ("hc-oauth", False)])
def test_tokens_are_minted_only_for_tenant_namespaces(namespace: str, allowed: bool) -> None:
    settings = Settings(platform_namespace="hc-system", oauth_namespace="hc-oauth")
    assert may_mint_for(namespace, settings) is allowed

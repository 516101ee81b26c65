"""Loopback port allocation and reachability probes."""

from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """Return ``count`` distinct TCP ports on ``host`` that nobody was listening on just now.

    Every probe socket stays bound until all ports are chosen: closing each one immediately
    would let the kernel hand the same ephemeral port out twice. The sockets are closed before
    returning, so another process could still grab a port before our child binds it; for a
    short-lived test cluster on loopback that window is an accepted risk.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    probes: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            probes.append(sock)
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in probes]
    finally:
        for sock in probes:
            sock.close()


def bound_socket(host: str = LOOPBACK) -> socket.socket:
    """A TCP socket already bound to a free port on ``host``, for a server in this process.

    Handing the bound socket to the server (``uvicorn.Server.serve(sockets=[...])``) leaves no
    window between choosing the port and binding it, unlike :func:`free_ports`.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((host, 0))
    except OSError:
        sock.close()
        raise
    return sock


def port_accepts(port: int, host: str = LOOPBACK, timeout: float = 0.2) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False

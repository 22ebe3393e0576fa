"""Free TCP port allocation on loopback addresses.

The kernel picks the port (bind to port 0), so parallel test runs do not collide the way a
fixed or random choice would. There is an unavoidable window between closing the probe socket
and the daemon binding the port; it is short, and ports inside a network namespace the test
created never collide with anything, so prefer namespaces where a test allows it.

Invariants: a port is only returned after a successful bind on the requested address; ports
returned by one `free_tcp_ports` call are distinct.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket

__all__ = ["free_tcp_port", "free_tcp_ports"]


def free_tcp_ports(count: int, address: str = "127.0.0.1") -> list[int]:
    """Return ``count`` distinct TCP ports that are free on ``address`` right now.

    All probe sockets stay bound until every port is chosen, so the ports are distinct.
    ``address`` may be any local address, e.g. ``127.0.0.2`` or ``::1``.
    """
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(family, socket.SOCK_STREAM))
            sock.bind((address, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def free_tcp_port(address: str = "127.0.0.1") -> int:
    """Return one TCP port that is free on ``address`` right now."""
    return free_tcp_ports(1, address)[0]

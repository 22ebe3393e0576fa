"""Per-peer TCP socket options: RFC 2385 TCP-MD5 signatures, GTSM and multihop TTL.

Role: turn a peer's security settings into setsockopt calls on a listening or connecting socket.
Invariants: a key is installed for exactly one remote address (a /32 or /128), so a listener can
hold one key per configured peer; an empty key removes the address's entry. Linux only: the
constants are the kernel's UAPI values, which Python's `socket` module does not all export.
"""

from __future__ import annotations

import ipaddress
import socket
import struct

TCP_MD5SIG = 14  # linux/tcp.h
TCP_MD5SIG_MAXKEYLEN = 80
IP_MINTTL = 21  # linux/in.h
IPV6_MINHOPCOUNT = 73  # linux/in6.h
_SOCKADDR_STORAGE = 128
MAX_TTL = 255


def _sockaddr_storage(address: str) -> bytes:
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        # struct sockaddr_in: family (host order), port (network order), address.
        raw = struct.pack("=HH4s", socket.AF_INET, 0, ip.packed)
    else:
        # struct sockaddr_in6: family, port, flowinfo, address, scope id.
        raw = struct.pack("=HHI16sI", socket.AF_INET6, 0, 0, ip.packed, 0)
    return raw.ljust(_SOCKADDR_STORAGE, b"\0")


def set_md5_key(sock: socket.socket, peer_address: str, password: str | None) -> None:
    """Installs (or with None/"" removes) the TCP-MD5 key used with `peer_address` (RFC 2385).

    The key must be set on the listening socket before the peer connects, and on an active
    socket before connect(): the SYN is already signed.
    """
    key = (password or "").encode()
    if len(key) > TCP_MD5SIG_MAXKEYLEN:
        raise ValueError(f"TCP-MD5 key longer than {TCP_MD5SIG_MAXKEYLEN} bytes")
    # struct tcp_md5sig: addr, flags, prefixlen, keylen, pad, key[80].
    value = _sockaddr_storage(peer_address) + struct.pack(
        "=BBHI80s", 0, 0, len(key), 0, key.ljust(TCP_MD5SIG_MAXKEYLEN, b"\0")
    )
    sock.setsockopt(socket.IPPROTO_TCP, TCP_MD5SIG, value)


def set_ttl(sock: socket.socket, *, ipv6: bool, ttl_security: int, multihop: int | None) -> None:
    """Sets the outgoing TTL and, for GTSM (RFC 5082), the minimum accepted TTL.

    GTSM with N hops sends with TTL 255 and drops anything that arrives with a TTL below
    256 - N, so a spoofer further away than N hops cannot reach the BGP port. Without GTSM the
    TTL is `multihop` when set, else the kernel default.
    """
    if ttl_security:
        send_ttl, min_ttl = MAX_TTL, MAX_TTL + 1 - ttl_security
    else:
        send_ttl, min_ttl = (multihop or 0), 0
    if ipv6:
        if send_ttl:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, send_ttl)
        if min_ttl:
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MINHOPCOUNT, min_ttl)
    else:
        if send_ttl:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, send_ttl)
        if min_ttl:
            sock.setsockopt(socket.IPPROTO_IP, IP_MINTTL, min_ttl)

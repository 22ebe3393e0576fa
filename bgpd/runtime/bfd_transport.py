"""BFD's UDP edge: the sockets that carry the sans-IO `bgpd.bfd.BfdTable`'s packets, run by the
BFD process (bgpd.runtime.bfd_child), never by the daemon itself.

Role: receives Control packets on UDP 3784 (single hop, RFC 5881) and 4784 (multihop,
RFC 5883), one socket per address family and kind, opened when a session needs it, and hands
each datagram to the table with the TTL (hop limit) it arrived with, read from the
IP_RECVTTL / IPV6_RECVHOPLIMIT ancillary data, for the GTSM check of RFC 5881 §5. Sends each
session's packets from a socket of its own, bound to a source port in 49152-65535 (the same one
for the whole session, RFC 5881 §4) with TTL / hop limit 255.

Invariants:
- A port that cannot be opened (another BFD daemon holds it) is logged and counted, and the
  sessions that need it stay Down: never reported Up without packets. A datagram that cannot
  be sent is counted (`errors`); the session's timers decide what it means.
- Imports only the standard library and bgpd.bfd: the BFD process loads this and little else.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import random
import selectors
import socket
import sys
from collections import Counter

from bgpd.bfd import BfdPeer, BfdTable, Datagram, PeerStateChanged

__all__ = ["BfdSockets", "MULTIHOP_PORT", "SINGLE_HOP_PORT"]

logger = logging.getLogger(__name__)

SINGLE_HOP_PORT = 3784  # RFC 5881 §4
MULTIHOP_PORT = 4784  # RFC 5883 §5
SOURCE_PORTS = (49152, 65535)  # RFC 5881 §4
SEND_TTL = 255
# linux/in.h, linux/in6.h: not all exported by Python's socket module
IP_RECVTTL = 12
IP_TTL = 2
IPV6_RECVHOPLIMIT = 51
IPV6_HOPLIMIT = 52
_RECV_BUFFER = 512
_ANCILLARY = socket.CMSG_SPACE(4)


def _source(address: str) -> str:
    """The source address as the table knows peers: no zone, IPv4-mapped unwrapped."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _received_ttl(ancdata: list[tuple[int, int, bytes]]) -> int | None:
    for level, kind, data in ancdata:
        if (level, kind) in ((socket.IPPROTO_IP, IP_TTL), (socket.IPPROTO_IPV6, IPV6_HOPLIMIT)):
            return int.from_bytes(data[:4], sys.byteorder)  # a C int
    return None


class BfdSockets:
    """The UDP sockets of BFD, registered in the BFD process's selector (bgpd.runtime.bfd_child):
    a listener's selector key carries its `multihop` flag as data."""

    __slots__ = ("_listeners", "_rng", "_selector", "_senders", "errors", "table")

    def __init__(
        self, table: BfdTable, selector: selectors.BaseSelector, rng: random.Random
    ) -> None:
        self.table = table
        self._selector = selector
        self._rng = rng
        # (family, multihop) -> the receiving socket; None when it could not be opened
        self._listeners: dict[tuple[int, bool], socket.socket | None] = {}
        # (peer, its address, our local address) -> the session's sending socket
        self._senders: dict[tuple[str, str, str | None], socket.socket] = {}
        self.errors: Counter[str] = Counter()

    def configure(self, wanted: list[BfdPeer], now: float) -> list[PeerStateChanged]:
        """Makes the table's sessions `wanted`; returns the state changes that caused."""
        for peer in wanted:
            self._listener(self._family(peer.address), peer.multihop)
        self.table.configure(wanted, now)
        changes = self.flush()  # a removed session's AdminDown leaves from its own socket
        keys = {(p.name, p.address, p.local_address) for p in wanted}
        for key in list(self._senders):
            if key not in keys:
                self._senders.pop(key).close()
        return changes

    def close(self) -> None:
        for sock in self._listeners.values():
            if sock is not None:
                self._selector.unregister(sock)
                sock.close()
        self._listeners.clear()
        for sock in self._senders.values():
            sock.close()
        self._senders.clear()

    def receive(self, sock: socket.socket, multihop: bool, now: float) -> None:
        for _ in range(64):  # a bounded batch: never hold the process on a flood
            try:
                data, ancdata, _flags, addr = sock.recvmsg(_RECV_BUFFER, _ANCILLARY)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self.errors["receive"] += 1
                logger.debug("bfd receive failed error=%s", exc)
                return
            self.table.receive(
                data,
                source=_source(addr[0]),
                ttl=_received_ttl(ancdata),
                multihop=multihop,
                now=now,
            )

    # ----------------------------------------------------------------------------- sockets

    @staticmethod
    def _family(address: str) -> int:
        return socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET

    def _listener(self, family: int, multihop: bool) -> None:
        key = (family, multihop)
        if key in self._listeners:
            return
        port = MULTIHOP_PORT if multihop else SINGLE_HOP_PORT
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
                sock.bind(("::", port))
            else:
                sock.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
                sock.bind(("0.0.0.0", port))
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            self._listeners[key] = None
            self.errors["listen"] += 1
            logger.error(
                "bfd cannot listen port=%d family=ipv%d error=%s effect=sessions_stay_down",
                port,
                6 if family == socket.AF_INET6 else 4,
                exc.strerror or exc,
            )
            return
        self._listeners[key] = sock
        self._selector.register(sock, selectors.EVENT_READ, multihop)

    def _sender(self, dgram: Datagram) -> socket.socket | None:
        key = (dgram.peer, dgram.address, dgram.local_address)
        sock = self._senders.get(key)
        if sock is not None:
            return sock
        family = self._family(dgram.address)
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, SEND_TTL)
            else:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, SEND_TTL)
            sock.setblocking(False)
            wildcard = "::" if family == socket.AF_INET6 else "0.0.0.0"
            self._bind_source_port(sock, dgram.local_address or wildcard)
        except OSError as exc:
            sock.close()
            self.errors["bind"] += 1
            logger.warning(
                "bfd cannot open socket peer=%s error=%s", dgram.peer, exc.strerror or exc
            )
            return None
        self._senders[key] = sock
        return sock

    def _bind_source_port(self, sock: socket.socket, address: str) -> None:
        low, high = SOURCE_PORTS
        for _ in range(64):
            try:
                sock.bind((address, self._rng.randint(low, high)))
                return
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
        raise OSError(errno.EADDRINUSE, "no free BFD source port")

    def flush(self) -> list[PeerStateChanged]:
        """Sends what the table queued; returns its state changes."""
        for dgram in self.table.take_datagrams():
            sock = self._sender(dgram)
            if sock is None:
                continue
            port = MULTIHOP_PORT if dgram.multihop else SINGLE_HOP_PORT
            try:
                sock.sendto(dgram.data, (dgram.address, port))
            except OSError as exc:
                # unreachable network, a full buffer: the detection time says what it means
                self.errors["send"] += 1
                logger.debug("bfd send failed peer=%s error=%s", dgram.peer, exc)
        return self.table.take_changes()

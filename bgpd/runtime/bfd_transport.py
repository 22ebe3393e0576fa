"""BFD's UDP edge: the sockets and the timer that drive the sans-IO `bgpd.bfd.BfdTable`, on a
thread of their own.

Role: receives Control packets on UDP 3784 (single hop, RFC 5881) and 4784 (multihop,
RFC 5883), one socket per address family and kind, opened when a session needs it, and hands
each datagram to the table with the TTL (hop limit) it arrived with, read from the
IP_RECVTTL / IPV6_RECVHOPLIMIT ancillary data, for the GTSM check of RFC 5881 §5. Sends each
session's packets from a socket of its own, bound to a source port in 49152-65535 (the same one
for the whole session, RFC 5881 §4) with TTL / hop limit 255. The table's state changes go to
`on_change` (the daemon tells the speaker).

Why a thread: BFD's deadlines are tens of milliseconds, and the daemon's asyncio loop runs
callbacks that take longer than a detection time: one 256 KiB read of a full-table UPDATE burst
is parsed, put in the Loc-RIB and written to the kernel in one callback (measured: a 294 ms gap
in our BFD packets at 10,000 prefixes on the loop, and at 100,000 the sessions flapped;
bench/bfd_bench.py, docs/performance.md). BIRD 2 runs BFD in a thread of its own too, FRR in a
daemon of its own. The thread holds the GIL only to handle a packet or a timer (microseconds),
and CPython hands it the GIL within its switch interval (5 ms) however busy the loop is.

Invariants:
- The table, the sockets and the selector are touched only under `_lock`; the BFD thread does
  all receiving and periodic sending, the loop thread only configures and reads views. State
  changes reach the loop with `call_soon_threadsafe` (the speaker is the loop's alone).
- `now` is `time.monotonic()`, the clock of asyncio's loop too (`BaseEventLoop.time`).
- A port that cannot be opened (another BFD daemon holds it) is logged and counted, and the
  sessions that need it stay Down: never reported Up without packets. A datagram that cannot
  be sent is counted (`errors`); the session's timers decide what it means.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import random
import selectors
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable

from bgpd.bfd import BfdPeer, BfdSettings, BfdTable, Datagram, PeerStateChanged
from bgpd.config import Config
from bgpd.control.bird_replies import BfdSessionRow

__all__ = ["BfdTransport", "bfd_peers"]

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


def bfd_peers(config: Config) -> list[BfdPeer]:
    """The BFD sessions `config` asks for, one per peer with `bfd = true`."""
    out = []
    for peer in config.all_peers:
        resolved = config.peer_bfd(peer)
        if resolved is None:
            continue
        settings = BfdSettings(
            desired_min_tx_us=resolved.min_tx_ms * 1000,
            required_min_rx_us=resolved.min_rx_ms * 1000,
            detect_mult=resolved.multiplier,
        )
        out.append(
            BfdPeer(
                name=peer.name,
                address=str(peer.address),
                multihop=resolved.multihop,
                settings=settings,
                local_address=None if peer.local_address is None else str(peer.local_address),
            )
        )
    return out


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


class BfdTransport:
    __slots__ = (
        "_listeners",
        "_lock",
        "_loop",
        "_on_change",
        "_rng",
        "_selector",
        "_senders",
        "_stopping",
        "_thread",
        "_wake_r",
        "_wake_w",
        "errors",
        "table",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_change: Callable[[list[PeerStateChanged]], None],
        rng: random.Random | None = None,
    ) -> None:
        self._loop = loop
        self._on_change = on_change
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self.table = BfdTable(self._rng)
        # (family, multihop) -> the receiving socket; None when it could not be opened
        self._listeners: dict[tuple[int, bool], socket.socket | None] = {}
        # (peer, its address, our local address) -> the session's sending socket
        self._senders: dict[tuple[str, str, str | None], socket.socket] = {}
        self.errors: Counter[str] = Counter()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="bfd", daemon=True)
        self._thread.start()

    @staticmethod
    def now() -> float:
        return time.monotonic()

    # ------------------------------------------------------- the loop thread: config, views

    def configure(self, config: Config) -> list[str]:
        """Makes the sessions those `config` asks for; returns their peer names."""
        wanted = bfd_peers(config)
        with self._lock:
            for peer in wanted:
                self._listener(self._family(peer.address), peer.multihop)
            self.table.configure(wanted, self.now())
            changes = self._flush()  # a removed session's AdminDown leaves from its own socket
            keys = {(p.name, p.address, p.local_address) for p in wanted}
            for key in list(self._senders):
                if key not in keys:
                    self._senders.pop(key).close()
        self._post(changes)
        self._wake()
        return sorted(p.name for p in wanted)

    def drops(self) -> dict[str, int]:
        with self._lock:
            return dict(self.table.drops)

    def close(self) -> None:
        with self._lock:
            self.table.configure([], self.now())  # AdminDown to every neighbour as we go
            self._flush()
            self._stopping = True
        self._wake()
        self._thread.join(timeout=5)
        with self._lock:
            for sock in self._listeners.values():
                if sock is not None:
                    sock.close()
            self._listeners.clear()
            for sock in self._senders.values():
                sock.close()
            self._senders.clear()
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def bird_rows(self) -> list[BfdSessionRow]:
        """`show bfd sessions` on the BIRD-compatible sockets: state times made wall-clock."""
        rows = []
        with self._lock:
            now, wall = self.now(), time.time()
            for peer in self.table.peers():
                session = self.table.session(peer.name)
                if session is None:
                    continue
                rows.append(
                    BfdSessionRow(
                        address=peer.address,
                        interface="---",
                        state=session.state.label,
                        since=wall - (now - session.state_since),
                        interval_s=session.tx_interval_us() / 1e6,
                        timeout_s=session.detection_time_us() / 1e6,
                    )
                )
        return rows

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            self._wake_w.send(b"\0")

    def _post(self, changes: list[PeerStateChanged]) -> None:
        if not changes:
            return
        with contextlib.suppress(RuntimeError):  # a closed loop: the daemon is gone
            self._loop.call_soon_threadsafe(self._on_change, changes)

    # ------------------------------------------------------------------ the BFD thread

    def _run(self) -> None:
        while not self._stopping:
            try:
                self._step()
            except Exception:
                # A bug must not end BFD for good (every session would then time out on the
                # other side, and ours would never come up again): logged, and BFD goes on.
                logger.exception("bfd thread step failed action=continue")
                time.sleep(0.01)

    def _step(self) -> None:
        with self._lock:
            if self._stopping:
                return
            deadline = self.table.next_deadline()
        timeout = None if deadline is None else max(0.0, deadline - self.now())
        events = self._selector.select(timeout)
        with self._lock:
            if self._stopping:
                return
            now = self.now()
            for key, _ in events:
                if key.data is None:
                    with contextlib.suppress(BlockingIOError):
                        self._wake_r.recv(4096)
                else:
                    self._receive(key.fileobj, key.data, now)  # type: ignore[arg-type]
            self.table.handle_timer(self.now())
            changes = self._flush()
        self._post(changes)

    def _receive(self, sock: socket.socket, multihop: bool, now: float) -> None:
        for _ in range(64):  # a bounded batch: never hold the thread on a flood
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

    # ------------------------------------------------------------ sockets (under the lock)

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
        # epoll_ctl while the thread is in select() is safe; the thread is woken after this
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

    def _flush(self) -> list[PeerStateChanged]:
        """Sends what the table queued; returns its state changes (to post to the loop)."""
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
        changes = self.table.take_changes()
        for c in changes:
            logger.log(
                logging.WARNING if c.change.failure else logging.INFO,
                "bfd state peer=%s old=%s new=%s diag=%s",
                c.peer,
                c.change.old.label,
                c.change.new.label,
                c.change.diag.text.replace(" ", "_"),
            )
        return changes

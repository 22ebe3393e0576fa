"""The rtnetlink edge: dumps, the change monitor and batched route writes, over raw sockets.

Role: the only place where bgpd talks to the kernel routing table. It works in the network
namespace the process runs in (calico-node runs bgpd in the host namespace; tests run it
inside a namespace they create), so it takes no namespace parameter.

Two NETLINK_ROUTE sockets, both non-blocking and driven by the running asyncio loop:
- the *request* socket sends dumps and route writes and reads their answers;
- the *monitor* socket is bound to the link, address and IPv4/IPv6 route groups. It is opened
  and bound before the first dump, so no change between a dump and the monitor is lost.

Writes are batched: up to ``batch`` RTM_NEWROUTE/RTM_DELROUTE messages go out in one
``send``. The kernel processes every message of the datagram in order, synchronously inside
that call, and answers each failure with an NLMSG_ERROR carrying the failed message's sequence
number; only the last message asks for an ack, which marks the end of the batch's answers. So
a batch of thousands costs a handful of system calls, and every failure is still matched to
its operation.

Invariants:
- Route notifications caused by our own requests (their netlink port id is the request
  socket's) are not reported: the caller already applied them to its own state.
- An overflow of the monitor socket (ENOBUFS: the kernel dropped notifications) is reported as
  an `Overflow` event, never raised; the caller must then re-dump. The socket stays usable.
- Only routes of ``table`` are reported by dumps and the monitor.
- The interface index <-> name map is kept current from link dumps and link notifications,
  in stream order, so a route decoded after a link appeared names it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import logging
import socket
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from bgpd.kernel import rtnl
from bgpd.kernel.kernel_route import RT_TABLE_MAIN, KernelRoute
from bgpd.kernel.reconcile import Op
from bgpd.net import Family

__all__ = [
    "AddressEvent",
    "Event",
    "LinkEvent",
    "Netlink",
    "OpError",
    "Overflow",
    "RouteEvent",
]

logger = logging.getLogger(__name__)

SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
NETLINK_GET_STRICT_CHK = 12
SO_SNDBUFFORCE = 32
SO_RCVBUFFORCE = 33
SO_ATTACH_FILTER = 26

RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV4_ROUTE = 0x40
RTMGRP_IPV6_IFADDR = 0x100
RTMGRP_IPV6_ROUTE = 0x400
_MONITOR_GROUPS = (
    RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_ROUTE
)
NLM_F_DUMP_INTR = 0x10

_RECV_BUFFER = 1 << 20  # far above the kernel's 32 KiB dump datagrams
_MAX_DRAIN = 64  # monitor datagrams handled per `events()` call, so one call stays short
_ANSWER_TIMEOUT = 10.0  # the kernel answers synchronously; this only guards against a bug
_DUMP_RETRIES = 3

# What `_dump` feeds every message of a dump to: (datagram, message type, payload start, end).
_Take = Callable[[bytes, int, int, int], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class OpError:
    """A failed operation: the errno the kernel (or the encoder) gave, and its message."""

    op: Op
    errno: int
    message: str = ""

    @property
    def reason(self) -> str:
        """The errno's symbolic name (``ENETUNREACH``), stable for logs and counters."""
        return errno.errorcode.get(self.errno, str(self.errno))

    def __str__(self) -> str:
        text = f"{self.op}: {self.reason}"
        return f"{text} ({self.message})" if self.message else text


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteEvent:
    """A route of the table appeared or changed (``removed`` False) or went away."""

    route: KernelRoute
    removed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkEvent:
    """An interface appeared, changed (up/down, renamed) or went away."""

    link: rtnl.LinkInfo
    removed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class AddressEvent:
    """An address was added or removed somewhere (routes may have become possible or gone)."""

    removed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Overflow:
    """The monitor socket overflowed: notifications were lost, re-dump."""


Event = RouteEvent | LinkEvent | AddressEvent | Overflow


def _drop_own_notifications(sock: socket.socket, portid: int) -> bool:
    """Attaches a classic BPF filter that drops notifications whose nlmsg_pid is ``portid``.

    Every route we write comes back as a notification carrying our request socket's port id;
    filtering them in the kernel spares a system call and a parse per route, and keeps a bulk
    install from filling (and overflowing) the monitor's receive buffer with our own echoes.
    Returns False when the kernel refuses the filter (the port id is then checked in Python).
    """
    # BPF_ABS loads are big-endian; nlmsg_pid is in host order: compare the same 4 bytes.
    wanted = int.from_bytes(struct.pack("=I", portid), "big")
    program = [
        (0x20, 0, 0, 12),  # ld [12]           (nlmsg_pid)
        (0x15, 0, 1, wanted),  # jeq #portid, drop, keep
        (0x06, 0, 0, 0),  # drop: ret #0
        (0x06, 0, 0, 0xFFFFFFFF),  # keep: ret #-1 (whole datagram)
    ]
    code = b"".join(struct.pack("=HBBI", *insn) for insn in program)
    buffer = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("@HP", len(program), ctypes.addressof(buffer))
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    except OSError as exc:
        logger.warning("kernel.bpf_filter_unavailable error=%s", exc)
        return False
    return True


def _set_buffer(sock: socket.socket, force: int, plain: int, size: int) -> None:
    try:
        # Root (CAP_NET_ADMIN) may exceed net.core.rmem_max/wmem_max; others get the cap.
        sock.setsockopt(socket.SOL_SOCKET, force, size)
    except PermissionError:
        sock.setsockopt(socket.SOL_SOCKET, plain, size)


def _open_socket(groups: int, rcvbuf: int) -> socket.socket:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    try:
        sock.setblocking(False)
        _set_buffer(sock, SO_RCVBUFFORCE, socket.SO_RCVBUF, rcvbuf)
        _set_buffer(sock, SO_SNDBUFFORCE, socket.SO_SNDBUF, 1 << 20)
        for option in (NETLINK_CAP_ACK, NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK):
            # Older kernels lack some: plain acks and table filtering on our side then.
            with contextlib.suppress(OSError):
                sock.setsockopt(SOL_NETLINK, option, 1)
        sock.bind((0, groups))
    except BaseException:
        sock.close()
        raise
    return sock


class Netlink:
    """rtnetlink for one routing table of the current network namespace (see module doc).

    ``open()`` must run in the namespace whose table is meant (sockets stay bound to the
    namespace they were created in). ``rcvbuf`` sizes the monitor socket's receive buffer;
    ``batch`` is the number of route messages per ``send``.
    """

    __slots__ = (
        "_index",
        "_links",
        "_lock",
        "_monitor",
        "_monitor_buffer",
        "_portid",
        "_request",
        "_request_buffer",
        "_seq",
        "batch",
        "rcvbuf",
        "table",
    )

    def __init__(
        self, *, table: int = RT_TABLE_MAIN, rcvbuf: int = 8 << 20, batch: int = 512
    ) -> None:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self.table = table
        self.rcvbuf = rcvbuf
        self.batch = batch
        self._request: socket.socket | None = None
        self._monitor: socket.socket | None = None
        self._portid = 0
        self._seq = 0
        self._links: dict[int, str] = {}
        self._index: dict[str, int] = {}
        # One buffer per socket: asyncio's reader callback fills a buffer before the awaiting
        # coroutine resumes, so a shared one could be overwritten by the other socket's read.
        self._request_buffer = bytearray(_RECV_BUFFER)
        self._monitor_buffer = bytearray(_RECV_BUFFER)
        self._lock = asyncio.Lock()

    # -- lifecycle -----------------------------------------------------------------------

    def open(self) -> None:
        """Create and bind both sockets (the monitor first, see the module docstring)."""
        if self._request is not None:
            return
        self._monitor = _open_socket(_MONITOR_GROUPS, self.rcvbuf)
        try:
            self._request = _open_socket(0, 4 << 20)
        except BaseException:
            self._monitor.close()
            self._monitor = None
            raise
        self._portid = self._request.getsockname()[0]
        _drop_own_notifications(self._monitor, self._portid)

    def close(self) -> None:
        for sock in (self._request, self._monitor):
            if sock is not None:
                sock.close()
        self._request = self._monitor = None

    @property
    def links(self) -> Mapping[int, str]:
        """Interface index -> name, as last seen."""
        return self._links

    @property
    def ifindex(self) -> Mapping[str, int]:
        """Interface name -> index, as last seen."""
        return self._index

    # -- dumps ---------------------------------------------------------------------------

    async def dump_links(self) -> list[rtnl.LinkInfo]:
        """Every interface; also refreshes the index <-> name map."""
        links: list[rtnl.LinkInfo] = []

        def take(data: bytes, msg_type: int, start: int, end: int) -> None:
            if msg_type == rtnl.RTM_NEWLINK:
                link = rtnl.decode_link(data, start, end)
                if link is not None:
                    links.append(link)

        await self._dump(rtnl.RTM_GETLINK, None, take)
        self._links = {link.index: link.name for link in links}
        self._index = {link.name: link.index for link in links}
        return links

    async def dump_routes(self, family: Family) -> list[KernelRoute]:
        """Every route of ``family`` in the table."""
        routes: list[KernelRoute] = []
        links, table = self._links, self.table

        def take(data: bytes, msg_type: int, start: int, end: int) -> None:
            if msg_type == rtnl.RTM_NEWROUTE:
                route = rtnl.decode_route(data, start, end, links, table)
                if route is not None:
                    routes.append(route)

        await self._dump(rtnl.RTM_GETROUTE, family, take, reset=routes.clear)
        return routes

    async def _dump(
        self,
        msg_type: int,
        family: Family | None,
        take: _Take,
        reset: Callable[[], None] | None = None,
    ) -> None:
        sock = self._sock(self._request)
        async with self._lock:
            for attempt in range(_DUMP_RETRIES):
                seq = self._next_seq()
                sock.send(rtnl.encode_dump(msg_type, seq, family, self.table))
                interrupted = await self._read_dump(sock, seq, take)
                if not interrupted or attempt == _DUMP_RETRIES - 1:
                    return
                # The table changed under the dump (NLM_F_DUMP_INTR): entries may be missing.
                logger.debug("kernel.dump_interrupted type=%d attempt=%d", msg_type, attempt)
                if reset is not None:
                    reset()

    async def _read_dump(self, sock: socket.socket, seq: int, take: _Take) -> bool:
        loop = asyncio.get_running_loop()
        buffer = self._request_buffer
        view = memoryview(buffer)
        interrupted = False
        while True:
            size = await loop.sock_recv_into(sock, buffer)
            data = bytes(view[:size])
            for msg_type, flags, mseq, _pid, start, end in rtnl.iter_messages(data):
                if mseq != seq:
                    continue  # a late answer to an earlier request
                interrupted |= bool(flags & NLM_F_DUMP_INTR)
                if msg_type == rtnl.NLMSG_DONE:
                    return interrupted
                if msg_type == rtnl.NLMSG_ERROR:
                    code, message = rtnl.decode_error(data, start, end, flags)
                    raise OSError(
                        code, f"netlink dump failed: {message or errno.errorcode.get(code, code)}"
                    )
                take(data, msg_type, start, end)

    # -- monitor -------------------------------------------------------------------------

    async def events(self) -> list[Event]:
        """Waits for notifications and returns those queued now (at least one, in order).

        Route changes made by this object are left out (see the module docstring); an
        overflow comes back as an `Overflow` event.
        """
        sock = self._sock(self._monitor)
        loop = asyncio.get_running_loop()
        buffer = self._monitor_buffer
        view = memoryview(buffer)
        out: list[Event] = []
        while not out:
            try:
                size = await loop.sock_recv_into(sock, buffer)
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                return [Overflow()]
            self._decode_events(bytes(view[:size]), out)
            for _ in range(_MAX_DRAIN):
                try:
                    size = sock.recv_into(buffer)
                except BlockingIOError:
                    break
                except OSError as exc:
                    if exc.errno != errno.ENOBUFS:
                        raise
                    out.append(Overflow())
                    break
                self._decode_events(bytes(view[:size]), out)
        return out

    def _decode_events(self, data: bytes, out: list[Event]) -> None:
        own, table, links = self._portid, self.table, self._links
        for msg_type, _flags, _seq, pid, start, end in rtnl.iter_messages(data):
            if msg_type in (rtnl.RTM_NEWROUTE, rtnl.RTM_DELROUTE):
                if pid == own:
                    continue
                route = rtnl.decode_route(data, start, end, links, table)
                if route is not None:
                    out.append(RouteEvent(route=route, removed=msg_type == rtnl.RTM_DELROUTE))
            elif msg_type in (rtnl.RTM_NEWLINK, rtnl.RTM_DELLINK):
                link = rtnl.decode_link(data, start, end)
                if link is None:
                    continue
                removed = msg_type == rtnl.RTM_DELLINK
                old = links.get(link.index)
                if old is not None and self._index.get(old) == link.index:
                    del self._index[old]
                if removed:
                    links.pop(link.index, None)
                else:
                    links[link.index] = link.name
                    self._index[link.name] = link.index
                out.append(LinkEvent(link=link, removed=removed))
            elif msg_type in (rtnl.RTM_NEWADDR, rtnl.RTM_DELADDR):
                out.append(AddressEvent(removed=msg_type == rtnl.RTM_DELADDR))

    # -- writes --------------------------------------------------------------------------

    async def apply(self, ops: Sequence[Op]) -> list[OpError]:
        """Performs ``ops`` in order, ``batch`` per send; returns the failed ones.

        An operation naming an unknown interface fails with ENODEV without being sent.
        """
        sock = self._sock(self._request)
        errors: list[OpError] = []
        async with self._lock:
            for first in range(0, len(ops), self.batch):
                if first:
                    await asyncio.sleep(0)  # let the monitor and the sessions run between sends
                await self._apply_batch(sock, ops[first : first + self.batch], errors)
        return errors

    async def _apply_batch(
        self, sock: socket.socket, ops: Sequence[Op], errors: list[OpError]
    ) -> None:
        messages: list[bytes] = []
        by_seq: dict[int, Op] = {}
        encode = rtnl.RouteEncoder(self._index).encode
        for op in ops:
            seq = self._next_seq()
            try:
                messages.append(encode(op.kind, op.route, seq))
            except rtnl.UnknownDeviceError as exc:
                errors.append(OpError(op=op, errno=errno.ENODEV, message=str(exc)))
                continue
            by_seq[seq] = op
        if not messages:
            return
        # Only the last message asks for an ack: its answer closes the batch's answers.
        last = bytearray(messages[-1])
        flags, last_seq = struct.unpack_from("=HI", last, 6)
        struct.pack_into("=H", last, 6, flags | rtnl.NLM_F_ACK)
        messages[-1] = bytes(last)
        try:
            sock.send(b"".join(messages))
        except OSError as exc:
            errors.extend(OpError(op=op, errno=exc.errno or errno.EIO) for op in by_seq.values())
            return
        try:
            # asyncio.timeout, not wait_for: an answer arriving as the caller is cancelled
            # (a stop) must not swallow the cancellation (wait_for before 3.12 does).
            async with asyncio.timeout(_ANSWER_TIMEOUT):
                await self._read_answers(sock, by_seq, last_seq, errors)
        except (TimeoutError, OSError) as exc:
            # Answers lost (ENOBUFS on our own socket) or never came: the outcome of the
            # operations not yet answered is unknown; report them failed so they are retried
            # (the caller re-dumps on ENOBUFS).
            code = exc.errno if isinstance(exc, OSError) and exc.errno else errno.ETIMEDOUT
            answered = {id(e.op) for e in errors}
            errors.extend(
                OpError(op=op, errno=code, message="answer lost")
                for op in by_seq.values()
                if id(op) not in answered
            )

    async def _read_answers(
        self, sock: socket.socket, by_seq: dict[int, Op], last_seq: int, errors: list[OpError]
    ) -> None:
        loop = asyncio.get_running_loop()
        buffer = self._request_buffer
        view = memoryview(buffer)
        while True:
            try:
                # The kernel answered inside send(): the answers are normally queued already.
                size = sock.recv_into(buffer)
            except BlockingIOError:
                size = await loop.sock_recv_into(sock, buffer)
            data = bytes(view[:size])
            for msg_type, flags, seq, _pid, start, end in rtnl.iter_messages(data):
                if msg_type != rtnl.NLMSG_ERROR:
                    continue
                code, message = rtnl.decode_error(data, start, end, flags)
                op = by_seq.get(seq)
                if code and op is not None:
                    errors.append(OpError(op=op, errno=code, message=message))
                if seq == last_seq:
                    return

    # -- helpers -------------------------------------------------------------------------

    def _next_seq(self) -> int:
        self._seq = self._seq + 1 if self._seq < 0xFFFFFFFF else 1
        return self._seq

    @staticmethod
    def _sock(sock: socket.socket | None) -> socket.socket:
        if sock is None:
            raise RuntimeError("Netlink is not open")
        return sock

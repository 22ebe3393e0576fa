"""BGP sessions' sockets: accepted and dialed connections, their TCP-MD5 keys and TTL/GTSM,
dynamic neighbours and refused addresses; the `ConnectionOwner` of every `BgpConnection`.

Role: between the sockets and the speaker. Bytes, connection ups and downs and write
pressure go to the speaker, then `flush` (the daemon's) carries its outputs out.

Invariants:
- Called on the loop thread only; `now` is the loop's monotonic clock.
- Keys and TTL options are set before the SYN of a dialed connection (`runtime.sockopts`).
- A connection from an address no peer or `[[dynamic_neighbors]]` range admits is closed,
  counted and logged without flooding (`runtime.refusals`).
- The reads and lost connections of one loop turn go to the speaker together, in arrival
  order, at the start of the next turn (between `Speaker.begin_batch` and `end_batch`: its
  changes go out once per batch, not once per read or loss); a new connection or a change of
  write pressure first hands over the inputs before it (`take_inputs`), so the speaker sees
  each connection's events in the order they happened. While a peer's input is backlogged the
  batch stays open over several turns, within bounds (`runtime.export_hold`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
from collections.abc import Callable, Iterable

from bgpd.config import Config, PeerSettings
from bgpd.net import Afi
from bgpd.runtime.connection import BgpConnection
from bgpd.runtime.dynamic import DynamicPeers
from bgpd.runtime.export_hold import BACKLOG_READ, HOLD_MAX_S, ExportHold, bytes_waiting
from bgpd.runtime.interface_address import interface_address
from bgpd.runtime.memory import MemoryTrimmer
from bgpd.runtime.refusals import RefusedConnections
from bgpd.runtime.sockopts import set_md5_key, set_ttl
from bgpd.speaker import Speaker

__all__ = ["CONNECT_TIMEOUT_S", "Sessions", "send_ttl"]

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0


def _socket_reason(exc: BaseException) -> str:
    """ "Connection refused", "Connection timed out": the words BIRD's `show protocols` uses."""
    if isinstance(exc, TimeoutError) and not exc.args:
        return "Connection timed out"
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno)  # asyncio's own text names the address, not the cause
    return str(exc) or type(exc).__name__


def send_ttl(settings: PeerSettings) -> int | None:
    """The TTL of our packets: `multihop` when set, 1 for eBGP (a directly connected
    neighbour, as BIRD and FRR do), the kernel default for iBGP. GTSM overrides it."""
    if settings.multihop is not None:
        return settings.multihop
    return 1 if settings.is_ebgp else None


class Sessions:
    __slots__ = (
        "_flush",
        "_hold",
        "_hold_timer",
        "_inputs",
        "_loop",
        "_next_conn_id",
        "_now",
        "_peer_connections",
        "_speaker",
        "connections",
        "dialing",
        "dynamic",
        "refused",
        "trimmer",
    )

    def __init__(
        self,
        speaker: Speaker,
        *,
        loop: Callable[[], asyncio.AbstractEventLoop],
        now: Callable[[], float],
        flush: Callable[[], None],
    ) -> None:
        self._speaker = speaker
        self._loop = loop
        self._now = now
        self._flush = flush  # the daemon's: the speaker's outputs to the sockets, the timer
        self._next_conn_id = 1
        self.connections: dict[int, BgpConnection] = {}
        self._peer_connections: dict[str, int] = {}  # peer -> its entries in `connections`
        self.dialing: dict[str, asyncio.Task[None]] = {}
        # Dynamic neighbours (bgpd/runtime/dynamic.py): peers created by accepted connections.
        self.dynamic = DynamicPeers()
        # connections from addresses nobody is configured for (a counter and rate-limited lines)
        self.refused = RefusedConnections()
        self.trimmer: MemoryTrimmer | None = None  # told of input volume (heap trimming)
        # this loop turn's reads (bytes) and losses (None), in order (see take_inputs)
        self._inputs: list[tuple[BgpConnection, bytes | None]] = []
        # a batch held open while the input is backlogged (bgpd/runtime/export_hold.py)
        self._hold = ExportHold()
        self._hold_timer: asyncio.TimerHandle | None = None

    def update_listener_keys(
        self, sockets: Iterable[socket.socket], old: Config, new: Config
    ) -> None:
        """The listening sockets' TCP-MD5 keys follow the peers' passwords (RFC 2385)."""
        old_keys = {str(p.address): p.password for p in old.all_peers if p.password}
        new_keys = {str(p.address): p.password for p in new.all_peers if p.password}
        for sock in sockets:
            v6 = sock.family == socket.AF_INET6
            for address in old_keys.keys() | new_keys.keys():
                if old_keys.get(address) == new_keys.get(address):
                    continue
                if (ipaddress.ip_address(address).version == 6) == v6:
                    set_md5_key(sock, address, new_keys.get(address))

    def new_connection(self, peer: str | None, outbound: bool) -> BgpConnection:
        conn_id = self._next_conn_id
        self._next_conn_id += 1
        return BgpConnection(self, conn_id, outbound=outbound, peer=peer)

    def dial(self, peer: str) -> None:
        if peer in self.dialing:
            return
        self.dialing[peer] = self._loop().create_task(self._connect(peer))

    async def _connect(self, peer: str) -> None:
        cfg = self._speaker.peer_config(peer)
        settings = self._speaker.config.peer_settings(cfg)
        v6 = cfg.address.version == 6
        sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM)
        conn = self.new_connection(peer, True)
        try:
            sock.setblocking(False)
            if cfg.password:
                set_md5_key(sock, str(cfg.address), cfg.password)
            set_ttl(sock, ipv6=v6, ttl_security=cfg.ttl_security, multihop=send_ttl(settings))
            if cfg.local_address is not None:
                sock.bind((str(cfg.local_address), 0))
            await asyncio.wait_for(
                self._loop().sock_connect(sock, (str(cfg.address), cfg.port)), CONNECT_TIMEOUT_S
            )
            await self._loop().create_connection(lambda: conn, sock=sock)
        except (OSError, TimeoutError) as exc:
            sock.close()
            logger.info("peer connect failed peer=%s reason=%s", peer, _socket_reason(exc))
            if peer in self._speaker.peer_names():
                self._speaker.connection_failed(
                    peer, conn.conn_id, self._now(), _socket_reason(exc)
                )
                self._flush()
        finally:
            self.dialing.pop(peer, None)

    # -------------------------------------------------------------- ConnectionOwner callbacks

    def on_connected(self, conn: BgpConnection) -> None:
        self.take_inputs()
        if conn.peer is None:
            conn.peer = self._speaker.peer_for_address(conn.remote_address)
            # --- Dynamic neighbours (bgpd/runtime/dynamic.py): an unknown address inside an
            # operator's [[dynamic_neighbors]] range becomes a passive peer, started through
            # apply_config (no other peer touched), and the connection is handed to it.
            if conn.peer is None:
                accepted = self.dynamic.accept(self._speaker.config, conn.remote_address)
                if accepted is not None:
                    new, conn.peer = accepted
                    added = new.peers[-1]  # accept appends the new peer
                    self._speaker.apply_peer_change(new, self._now(), added=added)
            # --- end of dynamic neighbours
            if conn.peer is None:
                self._refuse(conn)
                return
            cfg = self._speaker.peer_config(conn.peer)
            settings = self._speaker.config.peer_settings(cfg)
            sock = conn.transport.get_extra_info("socket") if conn.transport else None
            if sock is not None:
                set_ttl(
                    sock,
                    ipv6=cfg.address.version == 6,
                    ttl_security=cfg.ttl_security,
                    multihop=send_ttl(settings),
                )
        self.connections[conn.conn_id] = conn
        self._peer_connections[conn.peer] = self._peer_connections.get(conn.peer, 0) + 1
        self._speaker.connection_made(
            conn.peer,
            conn.conn_id,
            self._now(),
            outbound=conn.outbound,
            local_address=conn.local_address,
            interface_address=self._interface_address(conn.peer, conn.local_address),
            local_port=conn.local_port,
        )
        self._flush()

    def _interface_address(self, peer: str, local: str) -> str:
        """For a peer that may carry the other IP version's family: that version's address on
        the interface of `local` (the speaker takes it when nothing configured gives one)."""
        families = self._speaker.config.peer_settings(self._speaker.peer_config(peer)).families
        v6_session = ":" in local
        if all((f.afi is Afi.IPV6) == v6_session for f in families):
            return ""
        return interface_address(local)

    def _refuse(self, conn: BgpConnection) -> None:
        """A connection no peer or range matches: closed, counted, logged without flooding."""
        conn.close()
        if self.refused.refused(conn.remote_address, self._now()):
            logger.info("unexpected connection from unknown address=%s", conn.remote_address)
            self._loop().call_later(self.refused.interval, self._refused_summary)

    def _refused_summary(self) -> None:
        summary = self.refused.summary()
        if summary is not None:
            logger.info(
                "unexpected connections from unknown addresses count=%d seconds=%d last_address=%s",
                summary[0],
                self.refused.interval,
                summary[1],
            )

    def on_data(self, conn: BgpConnection, data: bytes) -> None:
        if conn.peer is None:
            return
        self._queue(conn, data)
        if self.trimmer is not None:
            self.trimmer.note_input(len(data))

    def on_lost(self, conn: BgpConnection) -> None:
        self._queue(conn, None)

    def _queue(self, conn: BgpConnection, data: bytes | None) -> None:
        if not self._inputs:
            self._loop().call_soon(self._take_inputs_soon)
        self._inputs.append((conn, data))

    def take_inputs(self) -> None:
        """Hands the speaker the reads and losses not yet handed over, as one batch (held
        open into the next turn while the input is backlogged: `runtime.export_hold`)."""
        if not self._inputs:
            return
        inputs, self._inputs = self._inputs, []
        now = self._now()
        self._speaker.begin_batch()
        bulk: list[BgpConnection] = []  # connections whose read was big: backlogged?
        ended = False
        try:
            for conn, data in inputs:
                try:
                    if data is None:
                        self._lost(conn, now)
                    elif conn.peer is not None:
                        if len(data) >= BACKLOG_READ:
                            bulk.append(conn)
                        self._speaker.receive_data(conn.peer, conn.conn_id, data, now)
                except Exception:
                    # As BgpConnection's guard did when each input was its own callback: that
                    # connection ends, the batch's other inputs go on.
                    logger.exception(
                        "runtime callback failed peer=%s conn=%d callback=%s action=close",
                        conn.peer,
                        conn.conn_id,
                        "lost" if data is None else "data",
                    )
                    conn.close()
            backlogged = any(bytes_waiting(self._socket(conn)) for conn in bulk)
            staged = self._speaker.staged_changes() if backlogged else 0
            since = self._hold.since
            ended = not self._hold.keep(now, self._now(), backlogged=backlogged, staged=staged)
            if ended and (backlogged or since is not None):
                self._log_hold(since if since is not None else now)
        finally:
            if ended or self._hold.since is None:  # an exception ends a held batch too
                self._end_held()
                self._speaker.end_batch(now)
            elif self._hold_timer is None:
                self._hold_timer = self._loop().call_at(self._hold.since + HOLD_MAX_S, self.release)
            self._flush()

    def release(self, reason: str = "timer") -> None:
        """Ends a held batch now (its time is up, or the daemon stops): the Loc-RIB's changes
        go out."""
        if self._hold.since is None:
            return
        self._hold.reason = reason
        self._log_hold(self._hold.since)
        self._end_held()
        try:
            self._speaker.end_batch(self._now())
        except Exception:
            logger.exception("runtime input batch failed action=continue")
        self._flush()

    def _log_hold(self, since: float) -> None:
        """A batch that saw the input backlogged ends (one turn: it was not extended)."""
        logger.debug(
            "export hold ended turns=%d seconds=%.3f staged=%d reason=%s",
            self._hold.turns,
            self._now() - since,
            self._speaker.staged_changes(),
            self._hold.reason,
        )

    def _end_held(self) -> None:
        self._hold.since = None
        if self._hold_timer is not None:
            self._hold_timer.cancel()
            self._hold_timer = None

    @staticmethod
    def _socket(conn: BgpConnection) -> socket.socket | None:
        transport = conn.transport
        return None if transport is None else transport.get_extra_info("socket")

    def _take_inputs_soon(self) -> None:
        try:
            self.take_inputs()
        except Exception:
            # What escapes is the batch's propagation (the speaker contains each peer's
            # input): logged, and the next batch goes on (as the runtime's timer does).
            logger.exception("runtime input batch failed action=continue")

    def _lost(self, conn: BgpConnection, now: float) -> None:
        if self.connections.pop(conn.conn_id, None) is None or conn.peer is None:
            return
        left = self._peer_connections.pop(conn.peer) - 1
        if left:
            self._peer_connections[conn.peer] = left
        self._speaker.connection_lost(conn.peer, conn.conn_id, now)
        # --- Dynamic neighbours: a dynamic peer goes once its last connection is gone.
        peer = conn.peer
        if self.dynamic.is_dynamic(peer) and peer not in self._peer_connections:
            smaller = self.dynamic.remove(self._speaker.config, peer)
            if smaller is not None:
                self._speaker.apply_peer_change(smaller, now, removed=peer)
        # --- end of dynamic neighbours

    def on_writable(self, conn: BgpConnection, writable: bool) -> None:
        self.take_inputs()
        logger.debug("peer writable peer=%s writable=%s", conn.peer, writable)
        if conn.peer is not None:
            self._speaker.set_writable(conn.peer, conn.conn_id, writable, self._now())
            self._flush()

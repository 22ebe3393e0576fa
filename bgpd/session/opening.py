"""The OPEN exchange: from a TCP connection to OpenConfirm (RFC 4271 §8.2.2, §6.8; RFC 5492).

Role: `OpenExchange` is the part of `bgpd.session.fsm.Session` that takes a new connection (or
refuses it with Cease/Connection Rejected, RFC 4486 §4) and sends our OPEN, built without what
the peer refused before (RFC 5492 §5); checks the peer's OPEN (`rules.check_open`), resolves
connection collisions (`collision`), negotiates and arms the connection's hold and keepalive
timers (RFC 4271 §4.2, §4.4, §10); and, when the peer answers our OPEN with an OPEN error,
decides what the next OPEN leaves out. The KEEPALIVE that follows Establishes the session
(`Session._establish`). The functions below are its steps that concern one connection only.

Invariants: a mixin of `Session` only, with no state of its own (no slots): it reads and writes
the Session's attributes declared below for the type checker. The functions have no state, no
clock, no I/O and no logging; randomness only through the jitter the caller passes in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from bgpd.session.collision import COLLISION, open_collisions, replaced_by_inbound
from bgpd.session.connection import Connection
from bgpd.session.counters import PeerCounters
from bgpd.session.errors import SessionError
from bgpd.session.events import Action, CloseRequested, SessionState
from bgpd.session.rules import capabilities_to_drop, cease, check_open, keepalive_interval
from bgpd.session.settings import SessionSettings
from bgpd.wire.capabilities import ExtendedMessage, capability_code
from bgpd.wire.codec import encode_keepalive, encode_notification, encode_open
from bgpd.wire.constants import CeaseSubcode, MessageType
from bgpd.wire.messages import NotificationMessage, OpenMessage
from bgpd.wire.negotiated import negotiate

logger = logging.getLogger(__name__)


def open_connection(
    settings: SessionSettings,
    conn_id: int,
    *,
    outbound: bool,
    now: float,
    refused: frozenset[int],
    no_capabilities: bool,
) -> Connection:
    """A new connection in OpenSent with our OPEN queued (RFC 4271 §8.2.2), left without the
    capability codes in `refused` (or any, with `no_capabilities`)."""
    local_open = settings.build_open(refused=refused, no_capabilities=no_capabilities)
    return Connection(
        conn_id,
        outbound=outbound,
        local_open=local_open,
        open_bytes=encode_open(local_open),
        extended_message=local_open.capability(ExtendedMessage) is not None,
        now=now,
    )


def confirm_open(
    conn: Connection,
    message: OpenMessage,
    settings: SessionSettings,
    now: float,
    jitter: Callable[[float], float],
) -> None:
    """OpenSent -> OpenConfirm on the peer's acceptable OPEN: what both OPENs negotiate, the
    framing limit narrowed to it (RFC 8654) and the hold and keepalive timers armed. The caller
    queues the KEEPALIVE that confirms the OPEN."""
    negotiated = negotiate(conn.local_open, message)
    conn.remote_open = message
    conn.negotiated = negotiated
    conn.reader.max_len = negotiated.max_message_len
    conn.state = SessionState.OPEN_CONFIRM
    hold = negotiated.hold_time
    conn.hold_interval = float(hold)
    # RFC 4271 §4.2: a negotiated hold time of zero stops both timers.
    conn.hold_deadline = now + hold if hold else None
    interval = keepalive_interval(settings, negotiated)
    conn.keepalive_interval = interval
    conn.keepalive_deadline = now + jitter(interval) if interval is not None else None


def capabilities_refused(
    local_open: OpenMessage, notification: NotificationMessage
) -> frozenset[int] | None:
    """What the peer's OPEN error says to leave out of our next OPEN: capability codes, an
    empty set for "no capabilities at all", None when no other OPEN can help (RFC 5492 §5)."""
    sent = frozenset(capability_code(c) for c in local_open.capabilities)
    return capabilities_to_drop(sent, notification)


class OpenExchange:
    # No state of its own: the Session's slots hold it. The empty __slots__ keeps Session
    # instances without a __dict__; mypy would read it as forbidding the assignments below.
    if not TYPE_CHECKING:
        __slots__ = ()

    if TYPE_CHECKING:  # the Session's state and steps the OPEN exchange uses (bgpd.session.fsm)
        _settings: SessionSettings
        _name: str
        _enabled: bool
        _conns: dict[int, Connection]
        _established: Connection | None
        _established_at: float | None
        _dialing: bool
        _connect_retry_at: float | None
        _idle_until: float | None
        _refused_capabilities: frozenset[int]
        _no_capabilities: bool
        _closing: dict[int, bytes]
        _actions: list[Action]
        counters: PeerCounters

        def _close(
            self,
            conn: Connection,
            now: float,
            *,
            reason: str,
            notification: NotificationMessage | None,
            sent_by_us: bool = False,
            runtime_closed: bool = False,
        ) -> None: ...
        def _fail(
            self, conn: Connection, now: float, reason: str, notification: NotificationMessage
        ) -> None: ...
        def _send(self, conn: Connection, data: bytes, msg_type: MessageType) -> None: ...
        def _jitter(self, interval: float) -> float: ...
        def _sync_state(self, now: float) -> None: ...

    def connection_made(self, conn_id: int, now: float, outbound: bool) -> None:
        """TcpConnectionConfirmed (inbound) or Tcp_CR_Acked (outbound): send our OPEN.

        An inbound connection the FSM cannot take (stopped, or waiting after an error) gets
        Cease/Connection Rejected (RFC 4486 §4) and a CloseRequested.
        """
        if conn_id in self._conns:
            raise SessionError(f"connection id {conn_id} is already open")
        self._closing.pop(conn_id, None)  # an id the runtime reuses: forget stale bytes
        if outbound:
            self._dialing = False
        refusal = self._refusal(outbound)
        if refusal is not None:
            logger.info(
                "peer connection refused peer=%s conn=%d reason=%s", self._name, conn_id, refusal
            )
            if not outbound:
                self._closing[conn_id] = encode_notification(
                    cease(CeaseSubcode.CONNECTION_REJECTED)
                )
                self.counters.messages_out[MessageType.NOTIFICATION] += 1
            self._actions.append(CloseRequested(conn_id=conn_id, reason=refusal))
            return
        if not outbound:
            for other in replaced_by_inbound(self._conns.values()):
                reason = "replaced by a newer inbound connection"
                self._close(other, now, reason=reason, notification=COLLISION, sent_by_us=True)
        conn = open_connection(
            self._settings,
            conn_id,
            outbound=outbound,
            now=now,
            refused=self._refused_capabilities,
            no_capabilities=self._no_capabilities,
        )
        self.counters.messages_out[MessageType.OPEN] += 1
        self._conns[conn_id] = conn
        # RFC 4271 §8.2.2 (Connect/Active, TCP confirmed): ConnectRetry stops in OpenSent.
        self._connect_retry_at = None
        logger.debug(
            "peer open sent peer=%s conn=%d direction=%s",
            self._name,
            conn_id,
            "out" if outbound else "in",
        )
        self._sync_state(now)

    def _refusal(self, outbound: bool) -> str | None:
        """Why a new connection cannot be taken now, or None."""
        if not self._enabled:
            return "peer is stopped"
        if self._idle_until is not None:
            return "waiting after an error"
        if outbound:
            if self._settings.passive:
                return "peer is passive"
            if self._established is not None:
                return "session already established"
            if any(c.outbound for c in self._conns.values()):
                return "an outbound connection already exists"
        return None

    def _open_received(self, conn: Connection, message: OpenMessage, now: float) -> None:
        settings = self._settings
        refusal = check_open(settings, message)
        if refusal is not None:
            # Our side of it: the peer's log shows only the NOTIFICATION's code.
            logger.warning(
                "peer open rejected peer=%s reason=%s sent=%s",
                self._name,
                refusal.reason,
                refusal.notification,
            )
            self._fail(conn, now, f"unacceptable OPEN: {refusal.reason}", refusal.notification)
            return
        conns = self._conns.values()
        for loser in open_collisions(settings, message, conn, conns, self._established_at):
            if loser.kept is not None:
                logger.info("peer connection collision peer=%s kept=%d", self._name, loser.kept)
            self._close(
                loser.conn,
                now,
                reason=loser.reason,
                notification=loser.notification,
                sent_by_us=loser.notification is not None,
            )
            if loser.conn is conn:
                self._sync_state(now)
                return
        confirm_open(conn, message, settings, now, self._jitter)
        self._send(conn, encode_keepalive(), MessageType.KEEPALIVE)
        self._sync_state(now)

    def _drop_capabilities(self, conn: Connection, notification: NotificationMessage) -> bool:
        """Adjusts the next OPEN after the peer refused ours; False when nothing can change."""
        refused = capabilities_refused(conn.local_open, notification)
        if refused is None:
            return False
        if refused:
            self._refused_capabilities |= refused
            logger.warning(
                "peer capabilities refused peer=%s capabilities=%s action=retry_without",
                self._name,
                ",".join(str(c) for c in sorted(refused)),
            )
        else:
            self._no_capabilities = True
            logger.warning(
                "peer capabilities refused peer=%s capabilities=all action=retry_without",
                self._name,
            )
        return True

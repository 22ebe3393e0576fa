"""The sans-IO BGP finite state machine of one configured neighbour (RFC 4271 §8).

A `Session` lives as long as the neighbour is configured and owns up to two `Connection`s at once
(one we dialled, one the peer dialled) until collision detection (RFC 4271 §6.8) keeps one.
Inputs are method calls carrying `now`; outputs are queued bytes per connection, actions for the
I/O runtime, events for the speaker, and the next deadline. The driver's loop is:

    call an input method (start, connection_made, receive_data, handle_timer, ...)
    for action in peer.take_actions(): perform it (dial, or flush + close)
    for each open connection: write peer.chunks_to_send(conn_id) (or data_to_send: joined)
    for event in peer.take_events(): hand it to the speaker
    arm one timer at peer.next_deadline() and call handle_timer(now) when it fires

This module holds the state, the message events (RFC 4271 §8.1.5: dispatch, UPDATE, KEEPALIVE,
NOTIFICATION, ROUTE-REFRESH), establishing, closing and the state changes. Its other jobs live
beside it: `opening.OpenExchange` (new connections, our OPEN, the peer's OPEN up to OpenConfirm,
capability refusals) and `timers.SessionTimers` (ConnectRetry, IdleHold/error wait, Hold,
Keepalive, `next_deadline`) are mixins over the same slots, so no call pays an indirection;
the pure rules are functions in `rules`, `collision` and `route_refresh`. The FSM's own events
(state changes, Established, down, closed connections, routes received) are logged from here.

Invariants:
- at most one connection is Established, and while one is, any other connection is younger
  than it (it can only win by the RFC 4724 §4.2 restart rule when its OPEN arrives);
- `state` is derived from the connections and timers, never stored independently, and every
  change of it produces one `StateChanged` event;
- after `handle_timer(now)`, `next_deadline()` is None or later than `now`;
- no clock reads, no I/O, no global randomness (jitter comes from the injected `random.Random`);
- protocol errors never raise: they become NOTIFICATIONs, events and actions. Only misuse of
  this API raises, and only `SessionError` subclasses.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from bgpd.errors import WireError
from bgpd.net import Family, format_router_id
from bgpd.session.collision import COLLISION, is_collision
from bgpd.session.connection import Connection
from bgpd.session.counters import LastError, PeerCounters
from bgpd.session.errors import NotEstablishedError, SessionError
from bgpd.session.events import (
    Action,
    CloseRequested,
    Event,
    RouteRefreshReceived,
    SessionDown,
    SessionEstablished,
    SessionState,
    StateChanged,
    UpdateReceived,
)
from bgpd.session.input_problems import note_update_problems
from bgpd.session.opening import OpenExchange
from bgpd.session.route_refresh import ignored_because, refused_because
from bgpd.session.rules import (
    JITTER_MAX,
    JITTER_MIN,
    cease,
    count_updates,
    graceful_down,
    keepalive_interval,
)
from bgpd.session.settings import SessionSettings
from bgpd.session.timers import SessionTimers
from bgpd.wire.codec import (
    UpdateDecoder,
    decode_keepalive,
    decode_notification,
    decode_open,
    decode_route_refresh,
    encode_notification,
    encode_route_refresh,
)
from bgpd.wire.constants import (
    HEADER_LEN,
    CeaseSubcode,
    ErrorCode,
    FsmSubcode,
    MessageType,
    RouteRefreshSubtype,
)
from bgpd.wire.framing import Chunk, check_length
from bgpd.wire.messages import NotificationMessage, RouteRefreshMessage, UpdateMessage
from bgpd.wire.negotiated import Negotiated

logger = logging.getLogger(__name__)

# UpdateReceived without its frozen-dataclass __init__: one is built per UPDATE received.
_new_event = object.__new__
_set_update: Any = UpdateReceived.__dict__["update"].__set__

_OPEN = MessageType.OPEN
_UPDATE = MessageType.UPDATE
_NOTIFICATION = MessageType.NOTIFICATION
_KEEPALIVE = MessageType.KEEPALIVE
_ROUTE_REFRESH = MessageType.ROUTE_REFRESH

_OPEN_SENT = SessionState.OPEN_SENT
_OPEN_CONFIRM = SessionState.OPEN_CONFIRM
_ESTABLISHED = SessionState.ESTABLISHED

# RFC 6608: the FSM error subcode for an unexpected message, by the state it arrived in.
_FSM_SUBCODES = {
    _OPEN_SENT: FsmSubcode.UNEXPECTED_IN_OPENSENT,
    _OPEN_CONFIRM: FsmSubcode.UNEXPECTED_IN_OPENCONFIRM,
    _ESTABLISHED: FsmSubcode.UNEXPECTED_IN_ESTABLISHED,
}


class Session(OpenExchange, SessionTimers):
    """One configured neighbour: the RFC 4271 FSM over its connections, across reconnections."""

    __slots__ = (
        "_actions",
        "_closing",
        "_connect_retry_at",
        "_conns",
        "_debug",
        "_dialing",
        "_enabled",
        "_error_wait",
        "_established",
        "_established_at",
        "_events",
        "_idle_until",
        "_last_error_at",
        "_name",
        "_no_capabilities",
        "_refused_capabilities",
        "_rng",
        "_settings",
        "_state",
        "counters",
    )

    def __init__(
        self,
        settings: SessionSettings,
        rng: random.Random,
        *,
        name: str | None = None,
        counters: PeerCounters | None = None,
    ) -> None:
        self._settings = settings
        self._debug = False  # DEBUG logging on: refreshed once per read
        self._rng = rng
        self._name = name or settings.name
        self._enabled = False
        self._state = SessionState.IDLE
        self._conns: dict[int, Connection] = {}
        self._established: Connection | None = None
        self._established_at: float | None = None
        self._dialing = False  # a ConnectRequested is outstanding
        self._connect_retry_at: float | None = None  # also the initial connect delay
        self._idle_until: float | None = None  # IdleHold: the error wait, or after reset()
        self._error_wait = 0.0  # the last error wait used; 0 when none is remembered
        self._last_error_at: float | None = None
        self._refused_capabilities: frozenset[int] = frozenset()
        self._no_capabilities = False
        self._closing: dict[int, bytes] = {}  # last bytes of connections we asked to close
        self._events: list[Event] = []
        self._actions: list[Action] = []
        # Counters carry over when a config change replaces the Session of the same neighbour, so
        # flaps and message counts (and the metrics built on them) never go backwards.
        self.counters = counters if counters is not None else PeerCounters()

    # ------------------------------------------------------------------ read-only view

    @property
    def settings(self) -> SessionSettings:
        return self._settings

    def update_settings(self, settings: SessionSettings) -> None:
        """Takes new timer settings that need no reset (connect retry, error wait, forget,
        our keepalive time).

        The caller decides what needs no reset (`bgpd.config.diff`); each value applies from
        the next time its timer is armed, so a running session is untouched. Our keepalive
        pace is ours to choose below the negotiated hold time (RFC 4271 §4.4): a connection
        past the OPEN exchange sends its next KEEPALIVE when it was due and then keeps the
        new pace.
        """
        self._settings = settings
        for conn in self._conns.values():
            if conn.negotiated is not None:
                conn.keepalive_interval = keepalive_interval(settings, conn.negotiated)

    @property
    def name(self) -> str:
        return self._name

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def negotiated(self) -> Negotiated | None:
        """What the Established session negotiated; None unless Established."""
        conn = self._established
        return conn.negotiated if conn is not None else None

    @property
    def established_at(self) -> float | None:
        return self._established_at

    @property
    def established_conn_id(self) -> int | None:
        """The runtime's id of the Established connection (its socket has the local address)."""
        conn = self._established
        return conn.conn_id if conn is not None else None

    @property
    def keepalive_interval(self) -> float | None:
        """Seconds between our KEEPALIVEs on the Established session (before jitter)."""
        conn = self._established
        return conn.keepalive_interval if conn is not None else None

    @property
    def enabled(self) -> bool:
        """Started and not stopped (RFC 4271 ManualStart/ManualStop)."""
        return self._enabled

    @property
    def error_wait(self) -> float:
        """The error wait (IdleHold) last used, 0 when none is remembered."""
        return self._error_wait

    @property
    def refused_capabilities(self) -> frozenset[int]:
        """Capability codes left out of our OPEN because the peer refused them (RFC 5492 §5)."""
        return self._refused_capabilities

    @property
    def capabilities_disabled(self) -> bool:
        """True after a peer refused capabilities altogether: our OPEN then carries none."""
        return self._no_capabilities

    def connection_states(self) -> dict[int, SessionState]:
        """Every open connection and its own FSM state (for `bgpctl` and tests)."""
        return {cid: conn.state for cid, conn in self._conns.items()}

    # ------------------------------------------------------------------ outputs

    def take_events(self) -> list[Event]:
        events = self._events
        self._events = []
        return events

    def take_actions(self) -> list[Action]:
        actions = self._actions
        self._actions = []
        return actions

    def data_to_send(self, conn_id: int) -> bytes:
        """Drains the bytes queued for that connection (also after its CloseRequested)."""
        conn = self._conns.get(conn_id)
        if conn is not None:
            return conn.take_output()
        return self._closing.pop(conn_id, b"")

    def chunks_to_send(self, conn_id: int) -> list[Chunk]:
        """`data_to_send` as the chunks queued (shared bytes stay shared)."""
        conn = self._conns.get(conn_id)
        if conn is not None:
            return conn.take_chunks()
        last = self._closing.pop(conn_id, b"")
        return [last] if last else []

    # ------------------------------------------------------------------ administrative events

    def start(self, now: float) -> None:
        """ManualStart (RFC 4271 §8.1.2 event 1, or event 4 for passive peers)."""
        if self._enabled:
            return
        self._enabled = True
        # An operator's start is a fresh beginning: the peer may have been upgraded meanwhile.
        self._refused_capabilities = frozenset()
        self._no_capabilities = False
        self._idle_until = None
        self._begin(now, self._settings.connect_delay_time)
        self._sync_state(now)

    def stop(self, now: float, subcode: int = CeaseSubcode.ADMIN_SHUTDOWN, text: str = "") -> None:
        """ManualStop: Cease (with an RFC 8203 Shutdown Communication) on every connection."""
        self._enabled = False
        self._connect_retry_at = None
        self._idle_until = None
        notification = cease(subcode, text)
        reason = f"stopped: {notification}"
        for conn in list(self._conns.values()):
            self._close(conn, now, reason=reason, notification=notification, sent_by_us=True)
        self._sync_state(now)

    def abort(self, now: float, reason: str) -> None:
        """bgpd failed while handling this peer (`bgpd.errors.contained` caught it): Cease on
        every connection, then the error wait, which doubles while the failure repeats.

        The subcode is 0, "unspecific" (RFC 4271 §4.5: used when no subcode fits): none of
        RFC 4486's reasons is true (Out of Resources would send the peer's operator looking for
        a memory shortage, Other Configuration Change for a change nobody made), and it is
        not a Hard Reset (RFC 8538), so a peer that keeps our routes across a graceful restart
        does so here too.
        """
        notification = NotificationMessage(code=ErrorCode.CEASE, subcode=0)
        text = f"{reason}: sent NOTIFICATION: {notification}"
        for conn in list(self._conns.values()):
            self._close(conn, now, reason=text, notification=notification, sent_by_us=True)
        self._connect_retry_at = None
        if self._enabled:
            self._enter_error_wait(now)
        self._sync_state(now)

    def reset(self, now: float, subcode: int = CeaseSubcode.ADMIN_RESET, text: str = "") -> None:
        """Close every connection with a Cease, then start again after `error_wait_min`."""
        if not self._enabled:
            return
        notification = cease(subcode, text)
        reason = f"reset: {notification}"
        for conn in list(self._conns.values()):
            self._close(conn, now, reason=reason, notification=notification, sent_by_us=True)
        self._refused_capabilities = frozenset()
        self._no_capabilities = False
        self._connect_retry_at = None
        self._idle_until = now + self._settings.error_wait_min
        self._sync_state(now)

    # ------------------------------------------------------------------ transport events

    def connection_failed(self, conn_id: int, now: float) -> None:
        """TcpConnectionFails: the dial failed (an id we do not know), or a connection broke."""
        self._closing.pop(conn_id, None)
        if conn_id in self._conns:
            self.connection_lost(conn_id, now)
            return
        if not self._dialing:
            return  # a late report about a connection we already closed
        self._dialing = False
        logger.debug("peer dial failed peer=%s", self._name)
        # Retry when the ConnectRetry timer started with the dial fires (RFC 4271 §8.2.2).
        if self._may_dial() and self._connect_retry_at is None:
            self._schedule_retry(now)
        self._sync_state(now)

    def connection_lost(self, conn_id: int, now: float) -> None:
        """The TCP connection closed under us (the runtime already knows: no CloseRequested)."""
        self._closing.pop(conn_id, None)  # nothing can be written any more
        conn = self._conns.get(conn_id)
        if conn is None:
            return
        self._close(conn, now, reason="connection lost", notification=None, runtime_closed=True)
        # A lost connection is not a protocol error (BIRD): a restarting peer must be able to
        # come straight back, which Graceful Restart depends on.
        self._settle(now, error=False)
        self._sync_state(now)

    # ------------------------------------------------------------------ data and timers

    def receive_data(self, conn_id: int, data: bytes, now: float) -> None:
        conn = self._conns.get(conn_id)
        if conn is None:
            return  # closing: whatever the peer still sends is irrelevant
        try:
            frames = conn.reader.feed(data)
        except WireError as err:
            # Complete messages before the bad header are dropped with it: the session ends.
            self._protocol_error(conn, err, now)
            return
        self._debug = logger.isEnabledFor(logging.DEBUG)
        if conn.state is _ESTABLISHED:
            self._established_read(conn, frames, now)
        else:
            self._opening_read(conn, frames, now)
        if frames and conn.state is _ESTABLISHED and conn.conn_id in self._conns:
            # RFC 4271 §4.4: every message restarts the hold timer; they share this `now`.
            conn.restart_hold(now)

    def _established_read(
        self, conn: Connection, frames: list[tuple[int, bytes]], now: float
    ) -> None:
        """The messages of one read on an Established connection. The bulk case, a table
        load, is UPDATEs only: they are decoded and queued in this one loop (no call per
        message, counters added once per read); anything else takes the general dispatch."""
        decoder = conn.decoder
        assert decoder is not None
        decode = decoder.decode
        counters = self.counters
        append = self._events.append
        debug = self._debug
        updates = announced = withdrawn = 0
        try:
            for msg_type, body in frames:
                if msg_type != _UPDATE:
                    self._handle_message(conn, msg_type, body, now)
                    if conn.state is not _ESTABLISHED or conn.conn_id not in self._conns:
                        return  # closed by this message
                    continue
                updates += 1
                try:
                    update = decode(body)
                except WireError as err:
                    self._protocol_error(conn, err, now)
                    return
                for batch in update.announced:
                    announced += len(batch.prefixes)
                if update.withdrawn:
                    for batch in update.withdrawn:
                        withdrawn += len(batch.prefixes)
                if debug:
                    self._log_update(update)
                if update.problems:
                    # RFC 7606 §8: counted and logged (rate-limited); see _update_received.
                    note_update_problems(self._name, counters, update, now)
                event: UpdateReceived = _new_event(UpdateReceived)  # a frozen dataclass
                _set_update(event, update)
                append(event)
        finally:
            counters.messages_in[_UPDATE] += updates
            counters.prefixes_announced_in += announced
            counters.prefixes_withdrawn_in += withdrawn

    def _opening_read(self, conn: Connection, frames: list[tuple[int, bytes]], now: float) -> None:
        conns = self._conns
        messages_in = self.counters.messages_in
        # Messages framed in the read that carried the OPEN were framed with the limit we
        # offered (RFC 8654); the OPEN may have narrowed it: check them again.
        for msg_type, body in frames:
            if conn.conn_id not in conns:
                break  # closed by an earlier message of this read
            if not self._within_limit(conn, msg_type, body, now):
                break
            if msg_type == _UPDATE and conn.state is _ESTABLISHED:
                messages_in[_UPDATE] += 1
                if not self._update_received(conn, body, now):
                    break
                continue
            self._handle_message(conn, msg_type, body, now)

    def _within_limit(self, conn: Connection, msg_type: int, body: bytes, now: float) -> bool:
        try:
            check_length(msg_type, HEADER_LEN + len(body), conn.reader.max_len)
        except WireError as err:
            self._protocol_error(conn, err, now)
            return False
        return True

    def send_update_bytes(
        self, data: Chunk | tuple[Chunk, ...], now: float | None = None, *, count: int | None = None
    ) -> None:
        """Queues one or more complete, pre-encoded UPDATE messages on the Established session
        (`data` may be a tuple of chunks, whole messages together, queued as they are).

        With `now`, the UPDATE stands in for our next KEEPALIVE (the keepalive timer restarts).
        Raises NotEstablishedError unless Established, SessionError when `data` is not a
        sequence of whole UPDATE messages the peer accepts (length, type).
        """
        conn = self._established
        if conn is None:
            raise NotEstablishedError(f"peer {self._name} is {self._state}, not Established")
        negotiated = conn.negotiated
        assert negotiated is not None
        if count is None:  # from outside the outbound layer: check what we are given
            whole = data if not isinstance(data, tuple) else b"".join(data)
            count = count_updates(bytes(whole), negotiated.max_message_len)
        if not count:
            return
        if isinstance(data, tuple):
            conn.queue_many(data)
        else:
            conn.queue(data)
        self.counters.messages_out[_UPDATE] += count
        # RFC 4271 §4.4: an UPDATE restarts the peer's hold timer, so our KEEPALIVE can wait.
        interval = conn.keepalive_interval
        if interval is not None and now is not None:
            conn.keepalive_deadline = now + self._jitter(interval)

    def send_route_refresh(self, family: Family, now: float, subtype: int = 0) -> None:
        """Asks the peer to resend its routes of `family` (RFC 2918; subtypes of RFC 7313)."""
        conn = self._established
        if conn is None:
            raise NotEstablishedError(f"peer {self._name} is {self._state}, not Established")
        negotiated = conn.negotiated
        assert negotiated is not None
        refusal = refused_because(negotiated, family, subtype)
        if refusal is not None:
            raise SessionError(f"peer {self._name} {refusal}")
        message = RouteRefreshMessage(family=family, subtype=subtype)
        self._send(conn, encode_route_refresh(message), _ROUTE_REFRESH)

    # ------------------------------------------------------------------ message handling

    def _handle_message(self, conn: Connection, msg_type: int, body: bytes, now: float) -> None:
        self.counters.messages_in[msg_type] += 1
        if msg_type == _NOTIFICATION:
            try:
                notification = decode_notification(body)
            except WireError:
                # RFC 4271 §6.4: never answer a NOTIFICATION with one.
                notification = NotificationMessage(code=0, subcode=0, data=bytes(body))
            self._notification_received(conn, notification, now)
            return
        state = conn.state
        try:
            if state is _ESTABLISHED:
                if msg_type == _UPDATE:
                    self._update_received(conn, body, now)
                elif msg_type == _KEEPALIVE:
                    decode_keepalive(body)
                elif msg_type == _ROUTE_REFRESH:
                    self._route_refresh_received(conn, body)
                else:
                    self._unexpected(conn, msg_type, now)
            elif state is _OPEN_CONFIRM:
                if msg_type == _KEEPALIVE:
                    decode_keepalive(body)
                    self._establish(conn, now)
                else:
                    self._unexpected(conn, msg_type, now)
            elif msg_type == _OPEN:
                self._open_received(conn, decode_open(body), now)
            else:
                self._unexpected(conn, msg_type, now)
        except WireError as err:
            self._protocol_error(conn, err, now)

    def _update_received(self, conn: Connection, body: bytes, now: float) -> bool:
        """An UPDATE (already counted) on the Established connection: decoded, its prefixes
        counted, queued as an event.
        False when it was malformed beyond RFC 7606's softer actions (the session ended)."""
        counters = self.counters
        decoder = conn.decoder
        assert decoder is not None
        try:
            update = decoder.decode(body)
        except WireError as err:
            self._protocol_error(conn, err, now)
            return False
        for batch in update.announced:
            counters.prefixes_announced_in += len(batch.prefixes)
        for batch in update.withdrawn:
            counters.prefixes_withdrawn_in += len(batch.prefixes)
        if self._debug:
            self._log_update(update)
        if update.problems:
            # RFC 7606 §8: every softer action is counted and logged (rate-limited). AFI/SAFI
            # disable keeps the session; the speaker acts on the families named in the event.
            note_update_problems(self._name, counters, update, now)
        event: UpdateReceived = _new_event(UpdateReceived)  # a frozen dataclass, built fast
        _set_update(event, update)
        self._events.append(event)
        return True

    def _log_update(self, update: UpdateMessage) -> None:
        for batch in update.announced:
            logger.debug(
                "routes received peer=%s family=%s count=%d",
                self._name,
                batch.family,
                len(batch.prefixes),
            )
        for batch in update.withdrawn:
            logger.debug(
                "routes withdrawn peer=%s family=%s count=%d",
                self._name,
                batch.family,
                len(batch.prefixes),
            )

    def _unexpected(self, conn: Connection, msg_type: int, now: float) -> None:
        # RFC 4271 §8.2.2 / RFC 6608: an event the state does not expect is an FSM error.
        subcode = _FSM_SUBCODES[conn.state]
        self._fail(
            conn,
            now,
            f"unexpected {MessageType(msg_type).name} in {conn.state}",
            NotificationMessage(code=ErrorCode.FSM, subcode=subcode),
        )

    def _route_refresh_received(self, conn: Connection, body: bytes) -> None:
        message = decode_route_refresh(body)
        if message is None:
            # RFC 2918 §4, RFC 7313 §5: unknown family or subtype, ignored (out loud).
            logger.info(
                "peer route refresh ignored peer=%s message=%s reason=unknown_family_or_subtype",
                self._name,
                bytes(body).hex(),
            )
            return
        assert conn.negotiated is not None
        reason = ignored_because(conn.negotiated, message)
        if reason:
            logger.info(
                "peer route refresh ignored peer=%s family=%s subtype=%s reason=%s",
                self._name,
                message.family,
                RouteRefreshSubtype(message.subtype),
                reason,
            )
            return
        self._events.append(RouteRefreshReceived(message=message))

    def _establish(self, conn: Connection, now: float) -> None:
        negotiated = conn.negotiated
        assert negotiated is not None
        conn.restart_hold(now)
        # A connection still opening can only lose against an Established one (RFC 4271 §6.8).
        for other in [c for c in self._conns.values() if c is not conn]:
            reason = "connection collision with the Established session"
            self._close(other, now, reason=reason, notification=COLLISION, sent_by_us=True)
        conn.state = _ESTABLISHED
        conn.decoder = UpdateDecoder(negotiated)
        self._established = conn
        self._established_at = now
        self.counters.established_transitions += 1
        self.counters.socket_error = None  # it connected: an old refusal is no longer news
        self._sync_state(now)
        logger.info(
            "peer established peer=%s asn=%d router_id=%s hold=%d families=%s",
            self._name,
            negotiated.peer_asn,
            format_router_id(negotiated.peer_router_id),
            negotiated.hold_time,
            ",".join(sorted(str(f) for f in negotiated.families)),
        )
        self._events.append(SessionEstablished(negotiated=negotiated))

    def _notification_received(
        self, conn: Connection, notification: NotificationMessage, now: float
    ) -> None:
        reason = f"received NOTIFICATION: {notification}"
        # An OPEN error answering our OPEN that a different OPEN can avoid is not counted as an
        # error: the next attempt is built to suit the peer (BIRD does the same).
        adjusted = conn.state is not _ESTABLISHED and self._drop_capabilities(conn, notification)
        error = notification.code != ErrorCode.CEASE and not adjusted
        self._close(conn, now, reason=reason, notification=notification, sent_by_us=False)
        self._settle(now, error=error)
        self._sync_state(now)

    # ------------------------------------------------------------------ closing

    def _protocol_error(self, conn: Connection, err: WireError, now: float) -> None:
        notification = NotificationMessage(code=err.code, subcode=err.subcode, data=err.data)
        self._fail(conn, now, str(err), notification)

    def _fail(
        self, conn: Connection, now: float, reason: str, notification: NotificationMessage
    ) -> None:
        """Sends `notification` on `conn`, closes it and settles the peer after an error."""
        self._close(
            conn,
            now,
            reason=f"{reason}: sent NOTIFICATION: {notification}",
            notification=notification,
            sent_by_us=True,
        )
        self._settle(now, error=notification.code != ErrorCode.CEASE)
        self._sync_state(now)

    def _close(
        self,
        conn: Connection,
        now: float,
        *,
        reason: str,
        notification: NotificationMessage | None,
        sent_by_us: bool = False,
        runtime_closed: bool = False,
    ) -> None:
        """Forgets `conn` (sending `notification` first when it is ours) without deciding next."""
        conn_id = conn.conn_id
        if notification is not None and sent_by_us:
            self._send(conn, encode_notification(notification), _NOTIFICATION)
        # A collision resolution is routine (both sides dialled at once), not an error an
        # operator should chase, so it does not overwrite the last error.
        if notification is not None and not is_collision(notification):
            self.counters.last_error = LastError(
                code=notification.code,
                subcode=notification.subcode,
                text=str(notification),
                at=now,
                sent=sent_by_us,
            )
        del self._conns[conn_id]
        if not runtime_closed:
            self._closing[conn_id] = conn.take_output()
            self._actions.append(CloseRequested(conn_id=conn_id, reason=reason))
        if conn is self._established:
            negotiated = conn.negotiated
            assert negotiated is not None
            graceful = graceful_down(negotiated, notification)
            self._established = None
            self._established_at = None
            # A peer we stopped on purpose (shutdown, removed, disabled) going down is expected.
            logger.log(
                logging.WARNING if self._enabled else logging.INFO,
                "peer down peer=%s reason=%s graceful=%s",
                self._name,
                reason,
                graceful,
            )
            self._events.append(
                SessionDown(
                    reason=reason,
                    notification=notification,
                    sent_by_us=sent_by_us,
                    graceful=graceful,
                )
            )
        elif notification is not None:
            # A NOTIFICATION from the peer is a problem to look at; ours or a collision is not.
            logger.log(
                logging.INFO if sent_by_us or is_collision(notification) else logging.WARNING,
                "peer connection closed peer=%s conn=%d reason=%s",
                self._name,
                conn_id,
                reason,
            )
        else:
            logger.debug(
                "peer connection closed peer=%s conn=%d reason=%s", self._name, conn_id, reason
            )

    # ------------------------------------------------------------------ helpers

    def _jitter(self, interval: float) -> float:
        # RFC 4271 §10
        return interval * self._rng.uniform(JITTER_MIN, JITTER_MAX)

    def _send(self, conn: Connection, data: bytes, msg_type: MessageType) -> None:
        conn.queue(data)
        self.counters.messages_out[msg_type] += 1

    def _compute_state(self) -> SessionState:
        if self._established is not None:
            return _ESTABLISHED
        if self._conns:
            if any(c.state is _OPEN_CONFIRM for c in self._conns.values()):
                return _OPEN_CONFIRM
            return _OPEN_SENT
        if not self._enabled or self._idle_until is not None:
            return SessionState.IDLE
        if self._dialing and not self._settings.passive:
            return SessionState.CONNECT
        return SessionState.ACTIVE

    def _sync_state(self, now: float) -> None:
        new = self._compute_state()
        old = self._state
        if new is old:
            return
        self._state = new
        self.counters.last_state_change = now
        logger.info("peer state changed peer=%s from=%s to=%s", self._name, old, new)
        self._events.append(StateChanged(old=old, new=new))

    def __repr__(self) -> str:
        return f"Session({self._name}, {self._state}, connections={list(self._conns.values())})"

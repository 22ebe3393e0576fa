"""The session's timers: ConnectRetry and the connect delay, IdleHold (the error wait), and the
Hold and Keepalive timers of its connections (RFC 4271 §8.1.3, §10).

Role: `SessionTimers` is the part of `bgpd.session.fsm.Session` that keeps its deadlines: when
to dial (after start, after a failed dial, after a clean close), how long to wait after an error
(BIRD's error wait, doubling from `error_wait_min` to `error_wait_max` while errors repeat within
`error_forget_time`), and what fires at `now` (`handle_timer`). The driver arms one timer at
`next_deadline()`.

Invariants: a mixin of `Session` only, with no state of its own (no slots): it reads and writes
the Session's attributes declared below for the type checker. After `handle_timer(now)`,
`next_deadline()` is None or later than `now`. No clock reads: `now` is passed in, jitter comes
from the Session's injected `random.Random`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bgpd.session.connection import Connection
from bgpd.session.events import Action, ConnectRequested
from bgpd.session.settings import SessionSettings
from bgpd.wire.codec import encode_keepalive
from bgpd.wire.constants import ErrorCode, MessageType
from bgpd.wire.messages import NotificationMessage

logger = logging.getLogger(__name__)

_KEEPALIVE = MessageType.KEEPALIVE


class SessionTimers:
    # No state of its own: the Session's slots hold it. The empty __slots__ keeps Session
    # instances without a __dict__; mypy would read it as forbidding the assignments below.
    if not TYPE_CHECKING:
        __slots__ = ()

    if TYPE_CHECKING:  # the Session's state and steps these timers use (bgpd.session.fsm)
        _settings: SessionSettings
        _name: str
        _enabled: bool
        _conns: dict[int, Connection]
        _dialing: bool
        _connect_retry_at: float | None
        _idle_until: float | None
        _error_wait: float
        _last_error_at: float | None
        _actions: list[Action]

        def _fail(
            self, conn: Connection, now: float, reason: str, notification: NotificationMessage
        ) -> None: ...
        def _send(self, conn: Connection, data: bytes, msg_type: MessageType) -> None: ...
        def _jitter(self, interval: float) -> float: ...
        def _sync_state(self, now: float) -> None: ...

    def next_deadline(self) -> float | None:
        """When `handle_timer` must next be called, or None when no timer runs."""
        deadline: float | None = None
        for candidate in (self._connect_retry_at, self._idle_until):
            if candidate is not None and (deadline is None or candidate < deadline):
                deadline = candidate
        for conn in self._conns.values():
            candidate = conn.next_deadline()
            if candidate is not None and (deadline is None or candidate < deadline):
                deadline = candidate
        return deadline

    def handle_timer(self, now: float) -> None:
        """Fires every timer due at `now`: Hold, Keepalive, IdleHold, ConnectRetry/delay."""
        for conn in list(self._conns.values()):
            if conn.conn_id not in self._conns:
                continue
            if conn.hold_deadline is not None and conn.hold_deadline <= now:
                # RFC 4271 §6.5
                self._fail(
                    conn,
                    now,
                    "hold timer expired",
                    NotificationMessage(code=ErrorCode.HOLD_TIMER_EXPIRED, subcode=0),
                )
                continue
            interval = conn.keepalive_interval
            if (
                interval is not None
                and conn.keepalive_deadline is not None
                and conn.keepalive_deadline <= now
            ):
                self._send(conn, encode_keepalive(), _KEEPALIVE)
                conn.keepalive_deadline = now + self._jitter(interval)
        if self._idle_until is not None and self._idle_until <= now:
            self._idle_until = None  # IdleHoldTimer_Expires -> AutomaticStart
            if self._enabled and not self._conns:
                self._begin(now, 0.0)
        if self._connect_retry_at is not None and self._connect_retry_at <= now:
            self._connect_retry_at = None
            if self._may_dial():
                if self._dialing:
                    # The runtime gives a dial up after ConnectRequested.timeout and reports
                    # it; until then a second dial would only race the first.
                    self._schedule_retry(now)
                else:
                    self._dial(now)
        self._sync_state(now)

    def _settle(self, now: float, *, error: bool) -> None:
        """After a close: what the peer does once no connection is left."""
        if self._conns or not self._enabled or self._idle_until is not None:
            return
        if error:
            self._enter_error_wait(now)
        elif not self._settings.passive:
            self._schedule_retry(now)

    def _enter_error_wait(self, now: float) -> None:
        """IdleHold after an error, doubling from error_wait_min up to error_wait_max (BIRD)."""
        settings = self._settings
        last = self._last_error_at
        if last is None or now - last >= settings.error_forget_time or not self._error_wait:
            wait = settings.error_wait_min
        else:
            wait = min(self._error_wait * 2, settings.error_wait_max)
        self._error_wait = wait
        self._last_error_at = now
        self._idle_until = now + wait
        self._connect_retry_at = None
        logger.info("peer error wait peer=%s seconds=%.0f", self._name, wait)

    def _may_dial(self) -> bool:
        return (
            self._enabled
            and self._idle_until is None
            and not self._settings.passive
            and not self._conns
        )

    def _begin(self, now: float, delay: float) -> None:
        """ManualStart or AutomaticStart: dial (after `delay`) unless passive."""
        if self._settings.passive:
            return  # RFC 4271 §8.1.2: passive peers wait in Active for the peer to connect
        if delay > 0:
            self._connect_retry_at = now + delay
        elif self._dialing:
            self._schedule_retry(now)  # the outstanding dial will report first
        else:
            self._dial(now)

    def _dial(self, now: float) -> None:
        timeout = self._settings.connect_retry_time
        self._dialing = True
        self._actions.append(ConnectRequested(timeout=timeout))
        self._schedule_retry(now)

    def _schedule_retry(self, now: float) -> None:
        self._connect_retry_at = now + self._jitter(self._settings.connect_retry_time)

"""What a `Session` tells its driver: the FSM state, events (what happened) and actions (what to
do).

Invariants: every value here is frozen. Events are past-tense facts for the speaker (RIB, logs,
metrics); actions are requests to the I/O runtime, which must perform each one. The runtime
never infers anything from events and the speaker never needs actions.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from bgpd.wire.messages import NotificationMessage, RouteRefreshMessage, UpdateMessage
from bgpd.wire.negotiated import Negotiated


class SessionState(Enum):
    """RFC 4271 §8.2.2 states, as seen for the peer as a whole (its most advanced connection)."""

    IDLE = "Idle"
    CONNECT = "Connect"
    ACTIVE = "Active"
    OPEN_SENT = "OpenSent"
    OPEN_CONFIRM = "OpenConfirm"
    ESTABLISHED = "Established"

    def __str__(self) -> str:
        return self.value


State = SessionState  # short alias


# ----------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True, kw_only=True)
class StateChanged:
    old: SessionState
    new: SessionState


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionEstablished:
    negotiated: Negotiated


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionDown:
    """An Established session ended.

    `graceful` tells the RIB to keep the peer's routes as stale (RFC 4724 §4.2): the peer
    negotiated Graceful Restart and the session ended without a NOTIFICATION, or, when both sides
    set the RFC 8538 N bit, with any NOTIFICATION but Cease/Hard Reset.
    """

    reason: str
    notification: NotificationMessage | None
    sent_by_us: bool
    graceful: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateReceived:
    update: UpdateMessage


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteRefreshReceived:
    message: RouteRefreshMessage


Event = StateChanged | SessionEstablished | SessionDown | UpdateReceived | RouteRefreshReceived

# ----------------------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectRequested:
    """Dial the peer; give up after `timeout` seconds.

    Report the outcome with `Session.connection_made(conn_id, now, outbound=True)` or
    `Session.connection_failed(conn_id, now)` (any id the Session does not know yet means "the
    dial").
    """

    timeout: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseRequested:
    """Write `Session.data_to_send(conn_id)` one last time, then close that TCP connection.

    The Session has already forgotten the connection: later input for it is ignored.
    """

    conn_id: int
    reason: str


Action = ConnectRequested | CloseRequested

"""The sans-IO BGP session layer: RFC 4271 FSM per neighbour, bytes and `now` in; bytes, events,
actions and deadlines out.

Invariants: nothing in this package does I/O, reads a clock or uses global randomness; the
asyncio runtime drives a `Session` through its methods (see `bgpd.session.fsm` for the loop).
"""

from bgpd.session.counters import LastError, PeerCounters
from bgpd.session.errors import InvalidSettingsError, NotEstablishedError, SessionError
from bgpd.session.events import (
    Action,
    CloseRequested,
    ConnectRequested,
    Event,
    RouteRefreshReceived,
    SessionDown,
    SessionEstablished,
    SessionState,
    State,
    StateChanged,
    UpdateReceived,
)
from bgpd.session.fsm import Session
from bgpd.session.settings import LARGE_HOLD_TIME, SessionSettings, add_path_modes

__all__ = [
    "LARGE_HOLD_TIME",
    "Action",
    "CloseRequested",
    "ConnectRequested",
    "Event",
    "InvalidSettingsError",
    "LastError",
    "NotEstablishedError",
    "Session",
    "PeerCounters",
    "RouteRefreshReceived",
    "SessionDown",
    "SessionError",
    "SessionEstablished",
    "SessionSettings",
    "SessionState",
    "State",
    "StateChanged",
    "UpdateReceived",
    "add_path_modes",
]

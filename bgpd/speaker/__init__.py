"""The speaker: sessions, the Loc-RIB and the update groups of one BGP instance, sans-IO.

`core.Speaker` owns everything; `reconfigure`, `recovery` and `route_refresh` are its jobs of
reloads, the restarting speaker and route refresh (mixins over its state); `peer_state` holds
its outputs and the record it keeps beside each session; `local_routes` the candidates of the
routes it originates (route priorities); `views` turns its state into the read-only views of
the control socket; `route_query` and `route_answers` answer `bgpctl show routes`.
"""

from bgpd.speaker.core import Speaker
from bgpd.speaker.local_routes import priority_settings
from bgpd.speaker.peer_state import (
    Close,
    Dial,
    FibUpdate,
    KernelRouteView,
    Output,
    PeerState,
    Send,
    fib_next_hops,
    session_settings,
)
from bgpd.speaker.route_query import RouteQuery, RouteQueryError

__all__ = [
    "Close",
    "Dial",
    "FibUpdate",
    "KernelRouteView",
    "Output",
    "PeerState",
    "RouteQuery",
    "RouteQueryError",
    "Send",
    "Speaker",
    "fib_next_hops",
    "priority_settings",
    "session_settings",
]

"""ROUTE-REFRESH on an Established session: which requests and markers a session takes, and
which it may send (RFC 2918, RFC 7313).

Role: the negotiation checks around the message. A request or BoRR/EoRR marker the peer sends
for something it did not negotiate is ignored out loud (the `Session` logs the reason named
here); one we are asked to send that the peer could not take is refused with an error, so no
peer is sent a message it never agreed to.

Invariants: pure functions of what the session negotiated and the message (no state, no clock,
no I/O, no logging).
"""

from __future__ import annotations

from bgpd.net import Family
from bgpd.wire.messages import RouteRefreshMessage
from bgpd.wire.negotiated import Negotiated


def ignored_because(negotiated: Negotiated, message: RouteRefreshMessage) -> str:
    """Why a received ROUTE-REFRESH is ignored ("" when it is taken).

    RFC 2918 §4 / RFC 7313 §4: a refresh for a family not negotiated is ignored; so are BoRR/EoRR
    markers from a peer that did not negotiate enhanced route refresh (they would otherwise
    start or end a stale-route sweep it never agreed to).
    """
    if not negotiated.route_refresh:
        return "not_negotiated"
    if message.family not in negotiated.families:
        return "family_not_negotiated"
    if message.subtype and not negotiated.enhanced_route_refresh:
        return "enhanced_not_negotiated"
    return ""


def refused_because(negotiated: Negotiated, family: Family, subtype: int) -> str | None:
    """Why we may not send this ROUTE-REFRESH to the peer, or None when we may."""
    if not negotiated.route_refresh:
        return "did not negotiate route refresh"
    if subtype and not negotiated.enhanced_route_refresh:
        return "did not negotiate enhanced route refresh"
    if family not in negotiated.families:
        return f"did not negotiate {family}"
    return None

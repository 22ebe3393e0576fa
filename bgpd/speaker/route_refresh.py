"""Route refresh in the speaker (RFC 2918, RFC 7313): resets asked by the operator, requests and
BoRR/EoRR markers from peers, and the markers around a table we resend.

Role: `RouteRefreshing` is the part of `bgpd.speaker.core.Speaker` that turns a soft reset into a
refresh both ways (`reset_peer`), answers a peer's request with that family's table, and, with
enhanced route refresh, treats a peer's BoRR as marking its routes of the family stale and its
EoRR as sweeping those it did not re-announce (the stale mark and timing rules are graceful
restart's: `LocRib.mark_stale`, `GracefulRestartTracker`).

Invariants: a mixin of `Speaker` only, with no state of its own (no slots): it reads and writes
the Speaker's attributes declared below for the type checker. A refresh only resends what the
Adj-RIB-Out holds; markers go to a peer only when it negotiated them, queued in order with the
UPDATEs of the table they frame.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

from bgpd.net import Family
from bgpd.outbound.exporter import Exporter
from bgpd.rib import GracefulRestartTracker, LocRib
from bgpd.speaker.peer_state import PeerState
from bgpd.wire.constants import CeaseSubcode, RouteRefreshSubtype
from bgpd.wire.messages import RouteRefreshMessage

logger = logging.getLogger(__name__)

SoftDirection = Literal["in", "out", "both"]


class RouteRefreshing:
    # No state of its own: the Speaker's slots hold it. The empty __slots__ keeps Speaker
    # instances without a __dict__; mypy would read it as forbidding the assignments below.
    if not TYPE_CHECKING:
        __slots__ = ()

    if TYPE_CHECKING:  # the Speaker's state and steps route refresh uses (speaker.core)
        _peers: dict[str, PeerState]
        _exporter: Exporter
        _gr: GracefulRestartTracker
        _rib: LocRib
        _touched: set[str]

        def _pump(self, name: str, now: float) -> None: ...

    def reset_peer(
        self,
        name: str,
        now: float,
        *,
        soft: bool,
        direction: SoftDirection = "both",
        message: str = "reset by operator",
    ) -> str | None:
        """A hard reset (Cease/Administrative Reset) or a soft one: `direction` "in" asks the
        peer for its routes (route refresh), "out" resends ours, "both" does both.
        Returns what the operator must know when a soft reset could do only part of its job."""
        state = self._peers[name]
        note = None
        if soft:
            negotiated = state.session.negotiated
            if negotiated is None:
                note = "session not established: nothing to refresh"
            elif direction == "out":
                pass
            elif negotiated.route_refresh:
                for family in sorted(negotiated.families):
                    state.session.send_route_refresh(family, now)
            else:
                # Asking again needs the capability (RFC 2918); our side can still be resent.
                note = (
                    "peer did not negotiate route refresh: our routes resent, theirs not asked"
                    if direction == "both"
                    else "peer did not negotiate route refresh: nothing asked"
                )
                logger.warning(
                    "peer soft reset inbound skipped peer=%s reason=route_refresh_not_negotiated",
                    name,
                )
            if direction != "in":
                self._exporter.refresh(name, now)
        else:
            state.session.reset(now, CeaseSubcode.ADMIN_RESET, message)
        self._pump(name, now)
        return note

    def _on_route_refresh(self, name: str, message: RouteRefreshMessage, now: float) -> None:
        """RFC 2918 / RFC 7313 §4: a request gets that family's table (between BoRR and EoRR
        when negotiated); a BoRR marks the peer's routes of the family stale and its EoRR
        sweeps those not re-announced in between (the timing rules: `GracefulRestartTracker`)."""
        family = message.family
        if message.subtype == RouteRefreshSubtype.REQUEST:
            self._exporter.refresh(name, now, (family,))
        elif message.subtype == RouteRefreshSubtype.BORR:
            self._gr.refresh_begin(name, family, now)
            marked = self._rib.mark_stale(name, (family,))
            logger.info("route refresh begun peer=%s family=%s stale=%d", name, family, marked)
        elif self._gr.refresh_end(name, family):
            swept = self._rib.sweep_stale(name, family)
            logger.info("route refresh ended peer=%s family=%s swept=%d", name, family, swept)
        else:
            logger.info("route refresh end ignored peer=%s family=%s reason=no_begin", name, family)

    def _mark_refresh(
        self, peer: str, family: Family, subtype: RouteRefreshSubtype, *, now: float
    ) -> None:
        """The exporter's BoRR/EoRR around a table it resends, queued in order with its
        UPDATEs on the same session (RFC 7313 §4), when the peer negotiated them."""
        state = self._peers.get(peer)
        negotiated = None if state is None else state.session.negotiated
        if state is not None and negotiated is not None and negotiated.enhanced_route_refresh:
            state.session.send_route_refresh(family, now, subtype)
            self._touched.add(peer)

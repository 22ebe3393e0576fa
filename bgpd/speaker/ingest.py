"""A peer's session events in the speaker: UPDATEs into the Loc-RIB, the rest to their steps.

Role: `UpdateIngest` is the part of `bgpd.speaker.core.Speaker` that takes the events a read
produced (`Session.take_events`) and applies them in order: an UPDATE's withdrawals, then its
announcements (each through the session's candidate cache: loop check, next hop check, the
peer's import rules), End-of-RIB and RFC 7606 AFI/SAFI disable; sessions coming up or going
down and route refresh requests go to the Speaker's own steps.

Invariants: a mixin of `Speaker` only, with no state of its own. Events are applied in the
order the session queued them, so a prefix withdrawn and announced again within one read
ends as the peer left it.

Performance: this runs once per UPDATE received. The bulk case (one announced batch, nothing
withdrawn, a usable path, no import rules, nothing rejected before) is tested for inline and
goes straight to `LocRib.announce_many`; everything else takes `_on_update`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bgpd.net import Family
from bgpd.policy.next_hop import describe_reason
from bgpd.rib import Candidate, CandidateCache, GracefulRestartTracker, LocRib
from bgpd.session import (
    RouteRefreshReceived,
    SessionDown,
    SessionEstablished,
    UpdateReceived,
)
from bgpd.session.input_problems import note_next_hop_refused
from bgpd.speaker.peer_state import PeerState
from bgpd.wire.messages import NlriBatch, RouteRefreshMessage
from bgpd.wire.negotiated import Negotiated

logger = logging.getLogger(__name__)


class UpdateIngest:
    # No state of its own: the Speaker's slots hold it (see bgpd.speaker.route_refresh).
    if not TYPE_CHECKING:
        __slots__ = ()

    if TYPE_CHECKING:  # the Speaker's state and steps this part uses (speaker.core)
        _rib: LocRib
        _gr: GracefulRestartTracker
        _eor_seen: set[tuple[str, Family]]

        def _on_established(
            self, name: str, state: PeerState, negotiated: Negotiated, now: float
        ) -> None: ...
        def _on_down(self, name: str, state: PeerState, event: SessionDown, now: float) -> None: ...
        def _on_route_refresh(
            self, name: str, message: RouteRefreshMessage, now: float
        ) -> None: ...

    def _take_events(self, name: str, state: PeerState, now: float) -> None:
        """Applies the session's queued events, in order."""
        announce = self._rib.announce_many
        # What the bulk path needs of the peer changes only in the general path: read again
        # after each event that takes it.
        cache = _bulk_cache(state)
        for event in state.session.take_events():
            if type(event) is UpdateReceived:
                attrs, announced, withdrawn, end_of_rib, _, disabled = event.update
                if (
                    cache is not None
                    and len(announced) == 1
                    and attrs is not None
                    and not withdrawn
                    and not disabled
                    and end_of_rib is None
                ):
                    family, next_hop, prefixes, path_ids = announced[0]
                    candidate = cache.candidate(attrs, next_hop)
                    if type(candidate) is Candidate:
                        announce(family, prefixes, candidate, path_ids)
                        continue
                self._on_update(name, state, event, now)
            elif isinstance(event, SessionEstablished):
                self._on_established(name, state, event.negotiated, now)
            elif isinstance(event, SessionDown):
                self._on_down(name, state, event, now)
            elif isinstance(event, RouteRefreshReceived):
                self._on_route_refresh(name, event.message, now)
            cache = _bulk_cache(state)

    def _on_update(self, name: str, state: PeerState, event: UpdateReceived, now: float) -> None:
        update = event.update
        rib = self._rib
        for batch in update.withdrawn:
            rib.withdraw_many(batch.family, batch.prefixes, name, batch.path_ids)
            if state.rejected:
                state.rejected.difference_update((batch.family, n) for n in batch.prefixes)
        attrs = update.attributes
        cache = state.candidates
        if attrs is not None and update.announced and cache is not None:
            for batch in update.announced:
                candidate = cache.candidate(attrs, batch.next_hop)
                if not isinstance(candidate, Candidate):
                    # RFC 4271 §9.1.2 / RFC 4456 §8: a path through our own AS, or one that
                    # came back to us or through our cluster, is a loop; RFC 4271 §6.3: an
                    # unusable next hop is treat-as-withdraw. What the peer had announced
                    # for these prefixes before is no longer usable either.
                    if candidate is not None:
                        note_next_hop_refused(
                            name,
                            state.session.counters,
                            next_hop=batch.next_hop,
                            reason=candidate.reason,
                            text=describe_reason(candidate.reason),
                            prefixes=len(batch.prefixes),
                            now=now,
                        )
                    rib.withdraw_many(batch.family, batch.prefixes, name, batch.path_ids)
                    state.rejected.update((batch.family, n) for n in batch.prefixes)
                    continue
                if state.rejected:
                    state.rejected.difference_update((batch.family, n) for n in batch.prefixes)
                filters = state.import_filter
                if filters is not None and filters.applies(batch.family.afi):
                    self._import_filtered(name, state, batch, candidate)
                    continue
                rib.announce_many(batch.family, batch.prefixes, candidate, batch.path_ids)
        for family in update.disabled_families:
            rib.withdraw_source(name, (family,))
        if update.end_of_rib is not None:
            self._eor_seen.add((name, update.end_of_rib))
        if update.end_of_rib is not None and self._gr.end_of_rib(name, update.end_of_rib):
            swept = rib.sweep_stale(name, update.end_of_rib)
            if swept:
                logger.info(
                    "graceful restart stale swept peer=%s routes=%d reason=end_of_rib", name, swept
                )

    def _import_filtered(
        self, name: str, state: PeerState, batch: NlriBatch, candidate: Candidate
    ) -> None:
        """A peer's [[filter]] import rules: a rejected prefix is treated as withdrawn, an
        accepted one enters with the route the rule's operations made (one per batch)."""
        assert state.import_filter is not None
        family = batch.family
        runs = state.import_filter.split(family, batch.prefixes, batch.path_ids, candidate)
        for outcome, prefixes, path_ids in runs:
            if outcome is None:
                state.rejected.update((family, n) for n in prefixes)
                self._rib.withdraw_many(family, prefixes, name, path_ids)
            else:
                self._rib.announce_many(family, prefixes, outcome, path_ids)


def _bulk_cache(state: PeerState) -> CandidateCache | None:
    """The peer's import cache when its UPDATEs may take the bulk path (no import rules, no
    prefix rejected before), else None."""
    if state.rejected or state.import_filter is not None:
        return None
    return state.candidates

"""BFD in the speaker: a failure BFD detects closes the BGP session at once, and keeps it down
until BFD is Up again (RFC 5882 §4.3; RFC 9384's Cease subcode "BFD Down").

Role: `BfdHolding` is the part of `bgpd.speaker.core.Speaker` that hears the state changes of
the peers' BFD sessions (the runtime's BFD edge runs them, bgpd.bfd): on a failure (the
detection time passed, or the neighbour said Down; not an AdminDown, RFC 5882 §3.2) the
session is stopped with Cease/BFD Down, the peer's routes are withdrawn even where graceful
restart would keep them (their next hop is what just failed; BIRD does the same unless told
`bfd graceful`), and the session is not started again until BFD reports Up. A peer whose BFD
never came up runs as without BFD.

Invariants: a mixin of `Speaker` only, state in the Speaker's `_bfd` slot (peer name → its BFD
status), which survives a reload that re-creates the peer's session; a peer held down by BFD
is never started by a reload either (`start_allowed`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from bgpd.rib import GracefulRestartTracker, LocRib
from bgpd.speaker.peer_state import PeerState
from bgpd.wire.constants import CeaseSubcode

logger = logging.getLogger(__name__)

BFD_DOWN_TEXT = "BFD session down"


@dataclass(frozen=True, slots=True, kw_only=True)
class BfdStatus:
    """The last BFD state the runtime reported for a peer ("Up", "Down", "Init", "AdminDown"),
    the diagnostic of its last Down, and whether it holds the BGP session down."""

    state: str
    diag: str = ""
    held: bool = False
    failures: int = 0  # how many times BFD found the path failed (and closed the session)


class BfdHolding:
    if not TYPE_CHECKING:
        __slots__ = ()

    if TYPE_CHECKING:  # the Speaker's state and steps this uses (speaker.core)
        _peers: dict[str, PeerState]
        _bfd: dict[str, BfdStatus]
        _disabled: dict[str, str]
        _gr: GracefulRestartTracker
        _rib: LocRib

        def _for_peer(self, name: str, now: float, step: Callable[[], None]) -> None: ...
        def _propagate(self, now: float) -> None: ...

    def bfd_status(self, peer: str) -> BfdStatus | None:
        return self._bfd.get(peer)

    def start_allowed(self, peer: str) -> bool:
        """False while the peer is held down: by its config, the operator or BFD."""
        state = self._peers.get(peer)
        if state is None or state.config.down_reason is not None or peer in self._disabled:
            return False
        status = self._bfd.get(peer)
        return status is None or not status.held

    def bfd_keep_only(self, peers: set[str], now: float) -> None:
        """`peers` run BFD (after a reload): a peer that no longer does (removed, or `bfd`
        turned off) is no longer held down by it."""
        for name in set(self._bfd) - peers:
            status = self._bfd.pop(name)
            state = self._peers.get(name)
            if status.held and state is not None and self.start_allowed(name):
                logger.info("peer bfd removed peer=%s action=start_session", name)
                self._for_peer(name, now, partial(state.session.start, now))

    def bfd_changed(self, peer: str, state: str, *, failure: bool, diag: str, now: float) -> None:
        """The BFD session of `peer` is now in `state`; `failure` when it left Up because the
        path failed (bgpd.bfd.StateChanged.failure)."""
        peer_state = self._peers.get(peer)
        if peer_state is None or not peer_state.config.bfd:
            return  # a late report from a session a reload has just removed
        old = self._bfd.get(peer)
        held = old is not None and old.held
        failures = 0 if old is None else old.failures
        if failure and not held:
            self._bfd[peer] = BfdStatus(state=state, diag=diag, held=True, failures=failures + 1)
            logger.warning(
                "peer bfd down peer=%s diag=%s action=close_session routes=withdrawn",
                peer,
                diag.replace(" ", "_"),
            )
            session = peer_state.session
            self._for_peer(peer, now, partial(session.stop, now, CeaseSubcode.BFD_DOWN))
            # Graceful restart would keep them as stale: the path BFD watched is gone.
            self._gr.forget(peer)
            self._rib.withdraw_source(peer)
            self._propagate(now)
            return
        if state == "Up" and held:
            self._bfd[peer] = BfdStatus(state=state, failures=failures)
            logger.info("peer bfd up peer=%s action=start_session", peer)
            if self.start_allowed(peer):
                self._for_peer(peer, now, partial(peer_state.session.start, now))
            return
        last_diag = diag or ("" if old is None else old.diag)
        self._bfd[peer] = BfdStatus(state=state, diag=last_diag, held=held, failures=failures)

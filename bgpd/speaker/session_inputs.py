"""The speaker's inputs that concern many sessions at once: a batch of reads, and the earliest
timer of every session.

Role: `SessionInputs` is the part of `bgpd.speaker.core.Speaker` that keeps a reflector with
thousands of clients at O(1) where the runtime asks once per event. `begin_batch`/`end_batch`
bracket every read and lost connection of one loop turn, and the Loc-RIB's changes go out
once, after all of them: each group member gets one write per batch, not one per read or
loss, which made a cluster's join and a reconnect storm O(C^2) writes. The runtime keeps a
batch open over several turns while a peer's input is backlogged (`bgpd.runtime.export_hold`),
so one UPDATE sent carries what several reads brought. `next_deadline` reads the sessions'
timers from `bgpd.speaker.deadlines` instead of every session.

Invariants: a mixin of `Speaker` only, with no state of its own (no slots). Within a batch each
input is handled as alone (its session's events, in order), except that the changes they make
to the Loc-RIB are sent once, when the batch ends (`Speaker._propagate` waits for it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from bgpd.rib import GracefulRestartTracker, LocRib
from bgpd.speaker.deadlines import Deadlines
from bgpd.speaker.peer_state import PeerState


class SessionInputs:
    if not TYPE_CHECKING:
        __slots__ = ()

    if TYPE_CHECKING:
        _batching: bool
        _deadlines: Deadlines
        _gr: GracefulRestartTracker
        _peers: dict[str, PeerState]
        _recovery_deadline: float | None
        _rib: LocRib

        def receive_data(self, peer: str, conn_id: int, data: bytes, now: float) -> None: ...
        def _propagate(self, now: float) -> None: ...

    def begin_batch(self) -> None:
        """Inputs until `end_batch` (reads, lost connections, peers coming and going) change
        the Loc-RIB without sending: its changes go out once, at `end_batch`."""
        self._batching = True

    def end_batch(self, now: float) -> None:
        self._batching = False
        self._propagate(now)

    def staged_changes(self) -> int:
        """Prefixes whose Loc-RIB change waits for `end_batch` to go out."""
        return self._rib.pending_count

    def receive_batch(self, reads: Iterable[tuple[str, int, bytes]], now: float) -> None:
        """`receive_data` for each (peer, connection id, bytes), in order, as one batch."""
        self.begin_batch()
        try:
            for peer, conn_id, data in reads:
                self.receive_data(peer, conn_id, data, now)
        finally:
            self.end_batch(now)

    def next_deadline(self) -> float | None:
        """When `handle_timer` must next be called (None: no timer runs)."""
        deadlines = (
            self._deadlines.earliest(self._session_deadline),
            self._gr.next_deadline(),
            self._recovery_deadline,
        )
        return min((d for d in deadlines if d is not None), default=None)

    def _session_deadline(self, name: str) -> float | None:
        state = self._peers.get(name)
        return None if state is None else state.session.next_deadline()

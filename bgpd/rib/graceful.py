"""When a peer's stale routes are swept: Graceful Restart helper (RFC 4724 §4.2) and enhanced
route refresh (RFC 7313 §4) timers, sans-IO.

Role: remembers, per peer, which families of its routes are held stale in the Loc-RIB and
until when, and tells the caller when to sweep them (`LocRib.sweep_stale`). It never reads
the clock: `now` comes in, deadlines go out. Both mechanisms share the Loc-RIB's one stale mark
per path, so both live here, where their overlap is decided.

A peer goes through two graceful restart phases:
- restarting: its session went down gracefully; its routes of the GR families are stale. If
  the session is not back within the peer's Restart Time, every stale family is swept.
- refreshing: the session is back; the peer re-announces its routes. Each family is swept
  when its End-of-RIB arrives; families the new OPEN does not preserve (no GR capability,
  family absent, or F bit clear) are swept at once; whatever has not seen End-of-RIB when
  the stale-routes timer (360 s by default, as GoBGP's deferral) expires is swept then.

Long-lived graceful restart (RFC 9494 §4.2): a peer that negotiated it keeps the families of
its LLGR capability past the restart time. When the restart timer expires those families
enter the long-lived phase instead of being swept (`take_long_lived` lists them: the caller
marks their paths LLGR_STALE, `bgpd.rib.long_lived`), each with its own deadline, the peer's
long-lived stale time for it; a family whose deadline passes is swept. A restart time of 0
enters the long-lived phase at the first timer. The session coming back ends the long-lived
phase like the restart phase (the refreshing phase follows).

Enhanced route refresh, on an Established session: a BoRR marks the family stale
(`refresh_begin`), its EoRR sweeps what was not re-announced since (`refresh_end`). RFC 7313 §4
lets the receiver bound the wait for an EoRR that never comes: after `stale_time` (the same
360 s, as FRR uses its stale-path time) the family is swept as if the EoRR had come. A BoRR
during a refresh of the same family restarts it (mark again, new deadline); an EoRR without a
BoRR is ignored.

Where both apply to one family (a BoRR while End-of-RIB is still awaited after a restart): the
stale mark means "not re-announced since the peer began sending this family again", and the
latest beginning counts. The EoRR ends both (the peer sent the whole family after the BoRR,
hence after the restart); an End-of-RIB during a refresh ends the GR wait but sweeps nothing
(the refresh's EoRR does); the GR stale-routes timer leaves a family under refresh alone.

Invariants:
- A peer is tracked exactly while it has stale families; each GR phase has one deadline, each
  family under refresh its own.
- A refresh lives only as long as its session: `peer_down` and `forget` end it (after a
  graceful down, GR holds every route stale anyway).
- A consecutive restart (the session goes down again while refreshing) first sweeps what is
  still stale from the previous restart, then marks the rest stale again: BIRD's
  `bgp_handle_graceful_restart` (rt_refresh_end then rt_refresh_begin). Otherwise a peer
  that flaps forever would keep routes forever.
- Results are sorted, so callers act in a deterministic order.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping

from bgpd.net import Family

logger = logging.getLogger(__name__)

DEFAULT_STALE_TIME = 360.0  # seconds, GoBGP's deferral time


class _PeerRestart:
    __slots__ = ("deadline", "families", "long_lived", "long_lived_until", "restarting")

    def __init__(self, families: set[Family], deadline: float, *, restarting: bool) -> None:
        self.families = families
        self.deadline = deadline
        self.restarting = restarting
        # RFC 9494: family -> long-lived stale time (s), and, once in the long-lived phase,
        # family -> when its stale routes go.
        self.long_lived: dict[Family, float] = {}
        self.long_lived_until: dict[Family, float] = {}


class GracefulRestartTracker:
    __slots__ = ("_entered_long_lived", "_peers", "_refreshing", "stale_time")

    def __init__(self, stale_time: float = DEFAULT_STALE_TIME) -> None:
        if stale_time < 0:
            raise ValueError("stale time must not be negative")
        self.stale_time = stale_time
        self._peers: dict[str, _PeerRestart] = {}
        # RFC 7313: peer -> family -> when its refresh's stale routes go without an EoRR.
        self._refreshing: dict[str, dict[Family, float]] = {}
        # (peer, family) pairs that entered the long-lived phase, until `take_long_lived`.
        self._entered_long_lived: list[tuple[str, Family]] = []

    def peer_down(
        self,
        name: str,
        families: Collection[Family],
        restart_time: float,
        now: float,
        long_lived: Mapping[Family, float] | None = None,
    ) -> list[Family]:
        """The peer's session ended gracefully; its routes of `families` are kept stale.

        `long_lived`: the families (among `families`) the peer negotiated long-lived graceful
        restart for, with its long-lived stale time for each (RFC 9494).

        The caller marks those families stale (`LocRib.mark_stale`) AFTER sweeping the
        families returned here: the paths still stale from a previous restart whose
        End-of-RIB never came. Routes of families not listed are the caller's to withdraw.
        """
        self._refreshing.pop(name, None)  # the refresh ended with its session
        previous = self._peers.pop(name, None)
        sweep: list[Family] = []
        if previous is not None and not previous.restarting:
            sweep = sorted(previous.families)
        elif previous is not None:
            # Down twice without coming back cannot happen; keep what was kept.
            families = set(families) | previous.families
        if families:
            deadline = now + max(restart_time, 0.0)
            state = self._peers[name] = _PeerRestart(set(families), deadline, restarting=True)
            state.long_lived = {
                f: float(t) for f, t in (long_lived or {}).items() if f in families and t > 0
            }
            logger.info(
                "graceful restart holding peer=%s families=%s seconds=%s",
                name,
                ", ".join(str(f) for f in sorted(families)),
                restart_time,
            )
        return sweep

    def session_up(self, name: str, preserved: Collection[Family], now: float) -> list[Family]:
        """The peer's session is established again; returns the families to sweep now.

        `preserved`: the families of the new OPEN's GR capability with the F bit set (empty
        when the capability is absent). RFC 4724 §4.2: the stale routes of any other family
        are removed immediately; the others wait for End-of-RIB or the stale-routes timer.
        """
        state = self._peers.get(name)
        if state is None:
            return []
        sweep = sorted(state.families.difference(preserved))
        state.families.intersection_update(preserved)
        state.restarting = False
        state.long_lived.clear()
        state.long_lived_until.clear()
        state.deadline = now + self.stale_time
        if not state.families:
            del self._peers[name]
        return sweep

    def end_of_rib(self, name: str, family: Family) -> bool:
        """End-of-RIB received (RFC 4724 §2): True when the family's stale routes go now."""
        state = self._peers.get(name)
        if state is None or state.restarting or family not in state.families:
            return False
        self._end_restart(name, state, family)
        # During an enhanced route refresh the stale marks are the refresh's: its EoRR sweeps.
        return family not in self._refreshing.get(name, ())

    def refresh_begin(self, name: str, family: Family, now: float) -> None:
        """BoRR received (RFC 7313 §4): the caller marks the family stale (`mark_stale`)."""
        self._refreshing.setdefault(name, {})[family] = now + self.stale_time

    def refresh_end(self, name: str, family: Family) -> bool:
        """EoRR received: True when the family's stale routes go now (False: no BoRR came)."""
        refreshing = self._refreshing.get(name)
        if refreshing is None or refreshing.pop(family, None) is None:
            return False
        if not refreshing:
            del self._refreshing[name]
        state = self._peers.get(name)
        if state is not None and not state.restarting and family in state.families:
            self._end_restart(name, state, family)  # the whole family came after the restart
        return True

    def refreshing(self, name: str) -> frozenset[Family]:
        """The families of the peer with a refresh begun and not ended (BoRR, no EoRR yet)."""
        return frozenset(self._refreshing.get(name, ()))

    def _end_restart(self, name: str, state: _PeerRestart, family: Family) -> None:
        state.families.discard(family)
        if not state.families:
            del self._peers[name]

    def forget(self, name: str) -> list[Family]:
        """Stops tracking a peer (removed, or down without GR); returns its stale families.

        The caller withdraws all of that peer's routes itself.
        """
        refreshing = self._refreshing.pop(name, {})
        state = self._peers.pop(name, None)
        families = set(refreshing) if state is None else state.families | set(refreshing)
        return sorted(families)

    def next_deadline(self) -> float | None:
        deadlines = [s.deadline for s in self._peers.values()]
        deadlines.extend(d for r in self._refreshing.values() for d in r.values())
        return min(deadlines, default=None)

    def handle_timer(self, now: float) -> list[tuple[str, Family]]:
        """The (peer, family) pairs whose time is up: sweep their stale routes."""
        out: set[tuple[str, Family]] = set()
        for name in sorted(self._refreshing):
            refreshing = self._refreshing[name]
            for family in sorted(f for f, d in refreshing.items() if d <= now):
                del refreshing[family]
                logger.warning(
                    "route refresh end missing peer=%s family=%s seconds=%.0f action=sweep_stale",
                    name,
                    family,
                    self.stale_time,
                )
                out.add((name, family))
                state = self._peers.get(name)
                if state is not None and not state.restarting and family in state.families:
                    self._end_restart(name, state, family)
            if not refreshing:
                del self._refreshing[name]
        expired = sorted(name for name, s in self._peers.items() if s.deadline <= now)
        for name in expired:
            state = self._peers[name]
            if state.restarting and (state.long_lived or state.long_lived_until):
                out.update((name, f) for f in self._long_lived_timer(name, state, now))
                if state.families:
                    continue
            del self._peers[name]
            logger.info(
                "graceful restart timer expired peer=%s timer=%s action=sweep_stale",
                name,
                "restart" if state.restarting else "stale-routes",
            )
            # A family under refresh waits for its EoRR (or the refresh's own deadline).
            under_refresh = self._refreshing.get(name, ())
            out.update((name, f) for f in state.families if f not in under_refresh)
        return sorted(out)

    def _long_lived_timer(self, name: str, state: _PeerRestart, now: float) -> list[Family]:
        """The restart timer (or a long-lived one) of a peer with LLGR families expired:
        families enter the long-lived phase or leave it; returns the families to sweep."""
        sweep: list[Family] = []
        if not state.long_lived_until:  # the restart timer: the long-lived phase begins
            sweep = sorted(state.families.difference(state.long_lived))
            for family in sorted(state.long_lived):
                state.long_lived_until[family] = now + state.long_lived[family]
                self._entered_long_lived.append((name, family))
                logger.info(
                    "long-lived graceful restart holding peer=%s family=%s seconds=%.0f",
                    name,
                    family,
                    state.long_lived[family],
                )
        else:
            for family, until in sorted(state.long_lived_until.items()):
                if until <= now:
                    del state.long_lived_until[family]
                    sweep.append(family)
                    logger.info(
                        "long-lived graceful restart timer expired peer=%s family=%s "
                        "action=sweep_stale",
                        name,
                        family,
                    )
        state.families.difference_update(sweep)
        if state.long_lived_until:
            state.deadline = min(state.long_lived_until.values())
        return sweep

    def take_long_lived(self) -> list[tuple[str, Family]]:
        """The (peer, family) pairs that entered the long-lived phase since the last call
        (in `handle_timer`): the caller marks their stale paths LLGR_STALE."""
        entered, self._entered_long_lived = self._entered_long_lived, []
        return entered

    # ---------------------------------------------------------------------------------- views

    def long_lived(self, name: str) -> frozenset[Family]:
        """The peer's families in the long-lived phase (RFC 9494)."""
        state = self._peers.get(name)
        return frozenset() if state is None else frozenset(state.long_lived_until)

    def stale_families(self, name: str) -> frozenset[Family]:
        state = self._peers.get(name)
        held = frozenset() if state is None else frozenset(state.families)
        return held | self.refreshing(name)

    def restarting(self, name: str) -> bool:
        """True while the peer's session is down and its routes are held."""
        state = self._peers.get(name)
        return state is not None and state.restarting

    def deadline(self, name: str) -> float | None:
        state = self._peers.get(name)
        return None if state is None else state.deadline

    def peers(self) -> list[str]:
        """Peers in a graceful restart (restarting or refreshing)."""
        return sorted(self._peers)

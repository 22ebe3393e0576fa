"""Graceful Restart helper mode timers (RFC 4724 §4.2), sans-IO.

Role: remembers, per peer, which families of its routes are held stale in the Loc-RIB and
until when, and tells the caller when to sweep them (`LocRib.sweep_stale`). It never reads
the clock: `now` comes in, deadlines go out.

A peer goes through two phases:
- restarting: its session went down gracefully; its routes of the GR families are stale. If
  the session is not back within the peer's Restart Time, every stale family is swept.
- refreshing: the session is back; the peer re-announces its routes. Each family is swept
  when its End-of-RIB arrives; families the new OPEN does not preserve (no GR capability,
  family absent, or F bit clear) are swept at once; whatever has not seen End-of-RIB when
  the stale-routes timer (360 s by default, as GoBGP's deferral) expires is swept then.

Invariants:
- A peer is tracked exactly while it has stale families; each has one deadline.
- A consecutive restart (the session goes down again while refreshing) first sweeps what is
  still stale from the previous restart, then marks the rest stale again: BIRD's
  `bgp_handle_graceful_restart` (rt_refresh_end then rt_refresh_begin). Otherwise a peer
  that flaps forever would keep routes forever.
- Results are sorted, so callers act in a deterministic order.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from bgpd.net import Family

logger = logging.getLogger(__name__)

DEFAULT_STALE_TIME = 360.0  # seconds, GoBGP's deferral time


class _PeerRestart:
    __slots__ = ("deadline", "families", "restarting")

    def __init__(self, families: set[Family], deadline: float, *, restarting: bool) -> None:
        self.families = families
        self.deadline = deadline
        self.restarting = restarting


class GracefulRestartTracker:
    __slots__ = ("_peers", "stale_time")

    def __init__(self, stale_time: float = DEFAULT_STALE_TIME) -> None:
        if stale_time < 0:
            raise ValueError("stale time must not be negative")
        self.stale_time = stale_time
        self._peers: dict[str, _PeerRestart] = {}

    def peer_down(
        self, name: str, families: Collection[Family], restart_time: float, now: float
    ) -> list[Family]:
        """The peer's session ended gracefully; its routes of `families` are kept stale.

        The caller marks those families stale (`LocRib.mark_stale`) AFTER sweeping the
        families returned here: the paths still stale from a previous restart whose
        End-of-RIB never came. Routes of families not listed are the caller's to withdraw.
        """
        previous = self._peers.pop(name, None)
        sweep: list[Family] = []
        if previous is not None and not previous.restarting:
            sweep = sorted(previous.families)
        elif previous is not None:
            # Down twice without coming back cannot happen; keep what was kept.
            families = set(families) | previous.families
        if families:
            deadline = now + max(restart_time, 0.0)
            self._peers[name] = _PeerRestart(set(families), deadline, restarting=True)
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
        state.deadline = now + self.stale_time
        if not state.families:
            del self._peers[name]
        return sweep

    def end_of_rib(self, name: str, family: Family) -> bool:
        """End-of-RIB received (RFC 4724 §2): True when the family's stale routes go now."""
        state = self._peers.get(name)
        if state is None or state.restarting or family not in state.families:
            return False
        state.families.discard(family)
        if not state.families:
            del self._peers[name]
        return True

    def forget(self, name: str) -> list[Family]:
        """Stops tracking a peer (removed, or down without GR); returns its stale families.

        The caller withdraws all of that peer's routes itself.
        """
        state = self._peers.pop(name, None)
        return [] if state is None else sorted(state.families)

    def next_deadline(self) -> float | None:
        return min((s.deadline for s in self._peers.values()), default=None)

    def handle_timer(self, now: float) -> list[tuple[str, Family]]:
        """The (peer, family) pairs whose time is up: sweep their stale routes."""
        expired = sorted(name for name, s in self._peers.items() if s.deadline <= now)
        out: list[tuple[str, Family]] = []
        for name in expired:
            state = self._peers.pop(name)
            logger.info(
                "graceful restart timer expired peer=%s timer=%s action=sweep_stale",
                name,
                "restart" if state.restarting else "stale-routes",
            )
            out.extend((name, family) for family in sorted(state.families))
        return out

    # ---------------------------------------------------------------------------------- views

    def stale_families(self, name: str) -> frozenset[Family]:
        state = self._peers.get(name)
        return frozenset() if state is None else frozenset(state.families)

    def restarting(self, name: str) -> bool:
        """True while the peer's session is down and its routes are held."""
        state = self._peers.get(name)
        return state is not None and state.restarting

    def deadline(self, name: str) -> float | None:
        state = self._peers.get(name)
        return None if state is None else state.deadline

    def peers(self) -> list[str]:
        return sorted(self._peers)

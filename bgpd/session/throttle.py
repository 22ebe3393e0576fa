"""A per-peer budget for warning lines that a peer's input can repeat without end.

Role: a peer that keeps sending a malformed attribute or an unusable next hop must not flood
the log (one line per UPDATE), yet the first occurrences must be seen and nothing may vanish
without a trace. `LogThrottle.allow(kind, now)` lets `burst` lines of one kind through per
`window` seconds and says how many were held back since the last line let through, so that
line carries the count (`suppressed=N`); the counters (`PeerCounters`) count every occurrence.

Invariants: sans-IO (the caller passes `now`); one throttle per peer, kept across its sessions
with the peer's counters; memory is one small entry per kind. The rule is `bgpd.throttle`'s.
"""

from __future__ import annotations

from bgpd.throttle import WindowBudget

DEFAULT_BURST = 5
DEFAULT_WINDOW = 60.0


class LogThrottle:
    """At most `burst` lines per kind in any window of `window` seconds (fixed windows)."""

    __slots__ = ("_budget",)

    def __init__(self, burst: int = DEFAULT_BURST, window: float = DEFAULT_WINDOW) -> None:
        self._budget: WindowBudget[str] = WindowBudget(burst=burst, window=window)

    def allow(self, kind: str, now: float) -> int | None:
        """None when this line is held back; else the number held back before it (to log)."""
        if not self._budget.admit(kind, now):
            return None
        return self._budget.take_held(kind)

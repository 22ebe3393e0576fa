"""A per-peer budget for warning lines that a peer's input can repeat without end.

Role: a peer that keeps sending a malformed attribute or an unusable next hop must not flood
the log (one line per UPDATE), yet the first occurrences must be seen and nothing may vanish
without a trace. `LogThrottle.allow(kind, now)` lets `burst` lines of one kind through per
`window` seconds and says how many were held back since the last line let through, so that
line carries the count (`suppressed=N`); the counters (`PeerCounters`) count every occurrence.

Invariants: sans-IO (the caller passes `now`); one throttle per peer, kept across its sessions
with the peer's counters; memory is one small entry per kind.
"""

from __future__ import annotations

DEFAULT_BURST = 5
DEFAULT_WINDOW = 60.0


class LogThrottle:
    """At most `burst` lines per kind in any window of `window` seconds (fixed windows)."""

    __slots__ = ("_burst", "_kinds", "_window")

    def __init__(self, burst: int = DEFAULT_BURST, window: float = DEFAULT_WINDOW) -> None:
        self._burst = burst
        self._window = window
        # kind -> [window start, lines let through in it, held back since the last one]
        self._kinds: dict[str, list[float]] = {}

    def allow(self, kind: str, now: float) -> int | None:
        """None when this line is held back; else the number held back before it (to log)."""
        entry = self._kinds.get(kind)
        if entry is None:
            self._kinds[kind] = [now, 1, 0]
            return 0
        if now - entry[0] >= self._window:
            entry[0] = now
            entry[1] = 0
        if entry[1] >= self._burst:
            entry[2] += 1
            return None
        entry[1] += 1
        held = int(entry[2])
        entry[2] = 0
        return held

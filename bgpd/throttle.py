"""The rate-limit rule for log lines: a budget of lines per key in fixed time windows.

Role: the one home of the rule the three log limiters share: a peer's repeated input warnings
(`bgpd.session.throttle.LogThrottle`), refused connections (`bgpd.runtime.refusals`) and
per-route debug lines (`bgpd.logs.RateLimitFilter`). Each key may pass `burst` times in a
window of `window` seconds that opens at its first line; what is held back after that is
counted per key until the caller takes the count for a line of its own (`take_held`) or the
window ends (`take_ended`). Nothing is dropped without being counted.

Invariants: sans-IO and standard library only (the caller passes `now`), so the core and the
edges may all import it; memory is one small entry per key, freed by `take_ended`.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["WindowBudget"]

K = TypeVar("K", bound=Hashable)


class WindowBudget(Generic[K]):
    """At most `burst` admissions per key in each fixed window of `window` seconds."""

    __slots__ = ("_burst", "_entries", "_window")

    def __init__(self, *, burst: int, window: float) -> None:
        self._burst = burst
        self._window = window
        # key -> [window start, admitted in it, held back and not yet taken]
        self._entries: dict[K, list[float]] = {}

    def admit(self, key: K, now: float) -> bool:
        """True when this line may pass; False when it is held back (and counted)."""
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = [now, 0, 0]
        elif now - entry[0] >= self._window:
            entry[0] = now
            entry[1] = 0
        if entry[1] >= self._burst:
            entry[2] += 1
            return False
        entry[1] += 1
        return True

    def take_held(self, key: K) -> int:
        """The lines of `key` held back since the last call; the count starts again."""
        entry = self._entries.get(key)
        if entry is None:
            return 0
        held = int(entry[2])
        entry[2] = 0
        return held

    def take_ended(self, now: float) -> list[tuple[K, int]]:
        """Forgets every key whose window has ended by `now`; (key, held back) for those that
        held lines back, in the order the keys first appeared."""
        ended: list[tuple[K, int]] = []
        window = self._window
        for key, entry in list(self._entries.items()):
            if now - entry[0] < window:
                continue
            del self._entries[key]
            if entry[2]:
                ended.append((key, int(entry[2])))
        return ended

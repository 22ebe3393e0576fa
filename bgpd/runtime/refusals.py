"""Connections refused because no peer (nor dynamic range) matches their address: counted
always, logged without flooding.

Why: anything can connect to port 179 (a scanner, a misconfigured neighbour retrying every
second, a whole subnet of them); one INFO line per connection lets such a source fill the log.
The first refusal of a window is logged with its address; those that follow within `interval`
seconds are only counted, and `summary()` (the daemon calls it when the window ends) gives
their number for one line. `total` only grows: it is the metric.

Invariants: no clock is read here (`now` is passed in); nothing is dropped from the count.
"""

from __future__ import annotations

from bgpd.throttle import WindowBudget

__all__ = ["REFUSAL_LOG_INTERVAL_S", "RefusedConnections"]

REFUSAL_LOG_INTERVAL_S = 10.0


class RefusedConnections:
    __slots__ = ("_budget", "_interval", "_last_address", "total")

    def __init__(self, interval: float = REFUSAL_LOG_INTERVAL_S) -> None:
        self._interval = interval
        # One key: every refusal shares the window (the rule is `bgpd.throttle`'s).
        self._budget: WindowBudget[None] = WindowBudget(burst=1, window=interval)
        self._last_address = ""
        self.total = 0

    @property
    def interval(self) -> float:
        return self._interval

    def refused(self, address: str, now: float) -> bool:
        """Counts one refusal; True when it opens a window and deserves its own log line."""
        self.total += 1
        if self._budget.admit(None, now):
            return True
        self._last_address = address
        return False

    def summary(self) -> tuple[int, str] | None:
        """(refusals not logged since the window opened, the last of their addresses), or
        None when there were none; the count starts again."""
        held = self._budget.take_held(None)
        if not held:
            return None
        return held, self._last_address

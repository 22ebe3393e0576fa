"""The sessions' next deadlines, and the earliest of them, without a pass over every peer.

Role: the runtime asks for the earliest deadline after every batch of input (to arm its one
timer) and fires the due sessions when it passes; with thousands of peers a pass over every
session each time is the loop's largest per-event cost. This index keeps each peer's last known
deadline in a min-heap and reads a session again only when it was handed an input or when its
heap entry comes to the top.

Invariants:
- A peer whose deadline may have come earlier was `touch`ed since it was last read: the speaker
  touches a peer whenever it hands its session an input or pumps its events (`Speaker._for_peer`,
  `Speaker._pump`), the only ways a session gains or advances a timer.
- A deadline that moved later without a touch (bytes sent push the keepalive on) is found when
  its entry reaches the top: the top entry is checked against the session before it is
  reported, so `earliest` is never later than the true earliest, and `due` never names a
  session with nothing due.
- Superseded heap entries are skipped, and the heap is rebuilt when they outnumber the live ones.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heapify, heappop, heappush

# deadline_of(peer name) -> the session's next deadline (None: no timer, or no such peer)
DeadlineOf = Callable[[str], float | None]


class Deadlines:
    __slots__ = ("_dirty", "_heap", "_known")

    def __init__(self) -> None:
        self._heap: list[tuple[float, str]] = []
        self._known: dict[str, float] = {}  # peer -> the deadline its live heap entry holds
        self._dirty: set[str] = set()

    def touch(self, name: str) -> None:
        """The peer's session was handed something: its deadline is read again."""
        self._dirty.add(name)

    def earliest(self, deadline_of: DeadlineOf) -> float | None:
        self._refresh(deadline_of)
        heap = self._heap
        known = self._known
        while heap:
            when, name = heap[0]
            if known.get(name) != when:
                heappop(heap)  # superseded
                continue
            actual = deadline_of(name)
            if actual == when:
                return when
            heappop(heap)
            self._set(name, actual)
        return None

    def due(self, now: float, deadline_of: DeadlineOf) -> list[str]:
        """The peers whose deadline is at or before `now`, earliest first (their entries are
        taken out: the speaker touches them when it fires their timers)."""
        self._refresh(deadline_of)
        heap = self._heap
        known = self._known
        fired: list[str] = []
        while heap and heap[0][0] <= now:
            when, name = heappop(heap)
            if known.get(name) != when:
                continue  # superseded
            actual = deadline_of(name)
            if actual is not None and actual <= now:
                del known[name]
                fired.append(name)
            else:
                self._set(name, actual)
        return fired

    def _refresh(self, deadline_of: DeadlineOf) -> None:
        dirty = self._dirty
        if not dirty:
            return
        for name in dirty:
            deadline = deadline_of(name)
            if self._known.get(name) != deadline:
                self._set(name, deadline)
        dirty.clear()
        if len(self._heap) > 2 * len(self._known) + 64:
            self._heap = [(when, name) for name, when in self._known.items()]
            heapify(self._heap)

    def _set(self, name: str, deadline: float | None) -> None:
        if deadline is None:
            self._known.pop(name, None)
        else:
            self._known[name] = deadline
            heappush(self._heap, (deadline, name))

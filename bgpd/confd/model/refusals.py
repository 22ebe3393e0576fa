"""The fields bgpd refuses, as the watcher reports them: once per change, and counted.

Role: `RefusalTracker` follows the refusals of one watcher's snapshots (`ClusterState.refusals`:
for each resource, the REFUSED fields of `bgpd.confd.model.field_ledger` it sets). `update`
returns those that are new since the previous snapshot (a resource that started setting a
field, or appeared), so the watcher warns once per (resource, field) change rather than on
every render pass; `counts` is the `bgpd_confd_unsupported_fields` gauge: how many resources
set each (kind, field) now.

Invariants: pure (no I/O, no clock). A (kind, field) once counted keeps a series (at 0 when no
resource sets it any more), so a fixed resource reads as 0, not as a vanished series. `update`
runs in the render thread while the metrics read `counts` on the event loop: the state is
immutable sets replaced whole, so a reader always sees one snapshot's sets.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from bgpd.confd.model.field_ledger import Refusal

__all__ = ["RefusalTracker"]


class RefusalTracker:
    __slots__ = ("_current", "_seen")

    def __init__(self) -> None:
        self._current: frozenset[Refusal] = frozenset()
        self._seen: frozenset[tuple[str, str]] = frozenset()

    def update(self, by_key: Mapping[str, Iterable[Refusal]]) -> tuple[Refusal, ...]:
        """Take the refusals of a new snapshot; return those the previous one did not have."""
        current = frozenset(r for refusals in by_key.values() for r in refusals)
        new = current - self._current
        self._seen = self._seen | {(r.kind, r.field) for r in current}
        self._current = current
        return _sorted(new)

    def current(self) -> tuple[Refusal, ...]:
        """Every refusal of the latest snapshot, by kind, name and field."""
        return _sorted(self._current)

    def counts(self) -> tuple[tuple[str, str, int], ...]:
        """(kind, field, resources setting it) for every (kind, field) refused so far."""
        current, seen = self._current, self._seen
        counted = Counter((r.kind, r.field) for r in current)
        return tuple((kind, field, counted[kind, field]) for kind, field in sorted(seen))


def _sorted(refusals: Iterable[Refusal]) -> tuple[Refusal, ...]:
    return tuple(sorted(refusals, key=lambda r: (r.kind, r.name, r.field)))

"""What an update group sent, derived from the Loc-RIB instead of kept per prefix.

Why: an Adj-RIB-Out that keeps a dict entry per prefix costs about 42 bytes per route and
group at a million prefixes, a quarter of what bgpd holds per route when it forwards a full
table (BIRD keeps no Adj-RIB-Out by default and computes its exports from its table).

When (`Exporter`, at a group's whole-table export): the group's export is a function of the
best path alone: no ADD-PATH send (every path under its own id), no Calico policy and no
export filters (their rules read the prefix and the kernel's interface names, which change
without a Loc-RIB change). Then what the group has sent for a prefix is the export of the
best path the Loc-RIB held at its last `take_changes` (`LocRib.best_at_take`), and while the
group applies those changes, at the take before (`LocRib.best_before_take`): the Adj-RIB-Out
(`AdjRibOut` in `bgpd.outbound.adj_out`) keeps explicitly only the keys where the two differ
(paths withheld as too big, the changes a blocked group has not sent).

What would break it, and is guarded: a change of the export without a Loc-RIB change (a new
export policy: `Exporter.set_policy`; the group's own-routes rule: `_open_up`; a group
regrouped or exported again: `_export_table`) turns the table back into a dict first, from
the derivation that still describes what was sent; and every `take_changes` is applied or
held by every derived group (`Exporter.propagate`, also while deferred).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass

from bgpd.net import Afi, Family
from bgpd.outbound.advertise import ExportCache
from bgpd.rib import Candidate, LocRib, PathInfo, SourceKind

_CONNECTED = SourceKind.CONNECTED


def export_best(
    best: Candidate | None, cache: ExportCache, *, self_skip: str, calico: bool, v6: bool
) -> PathInfo | None:
    """The part of a group's export that depends on the path, not on the prefix.

    The "never back to its sender" rule is applied per member when sending (the path's
    `origin`), so the group-wide decision ignores it; `self_skip` is the one member of a
    group made for it, whose own routes stay out of its table.
    """
    if best is None:
        return None
    source = best.source
    if source.name == self_skip:
        return None
    if source.kind is _CONNECTED and not calico:
        return None  # a plain router does not redistribute its interface subnets
    return cache.get(best, v6)


@dataclass(frozen=True, slots=True, eq=False)
class LocRibDerivation:
    """One group's export of one family, applied to the Loc-RIB. Frozen with what the export
    depended on when the table was derived (the group's own-routes rule), so a later change
    of the group cannot rewrite what the derivation says was sent."""

    rib: LocRib
    family: Family
    cache: ExportCache
    self_skip: str

    def _export(self, best: Candidate | None) -> PathInfo | None:
        v6 = self.family.afi is Afi.IPV6
        return export_best(best, self.cache, self_skip=self.self_skip, calico=False, v6=v6)

    def taken(self) -> Mapping[bytes, object]:
        """The keys of the last take, each to None when it had no path before it."""
        return self.rib.taken(self.family)

    def sent_before_take(self, key: bytes) -> PathInfo | None:
        return self._export(self.rib.best_before_take(self.family, key))

    def sent_at_take(self, key: bytes) -> PathInfo | None:
        return self._export(self.rib.best_at_take(self.family, key))

    def moved(self) -> Collection[bytes]:
        """The keys that moved since the last take (where `sent_at_take` and the Loc-RIB of
        now may differ)."""
        return self.rib.moved_since_take(self.family)

    def items(self) -> Iterator[tuple[bytes, PathInfo]]:
        export = self._export
        for nlri, best in self.rib.iter_best_at_take(self.family):
            info = export(best)
            if info is not None:
                yield nlri, info

"""Long-lived stale routes (RFC 9494 §4.2): what a peer's stale paths become once its graceful
restart time has passed and it negotiated long-lived graceful restart.

Role: `mark_long_lived` turns the peer's still-stale paths of one family into long-lived stale
ones: each gets the LLGR_STALE community (which puts it below every other path in the decision,
`bgpd.rib.decision` step 0, and keeps it from peers without LLGR, `bgpd.outbound.advertise`)
and keeps its stale mark, so the peer's End-of-RIB or the long-lived timer sweeps it like any
stale path (`LocRib.sweep_stale`). A path carrying NO_LLGR is removed instead (RFC 9494 §4.2).

Invariants: one new path per distinct stale path (the paths of a batch stay shared); the
change is a routing change (`take_changes` reports it: the kernel keeps the route, peers
see the community or a withdrawal); the next hop never changes, so forwarding goes on.
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

from bgpd.net import Family, Nlri
from bgpd.rib.candidate import Candidate
from bgpd.rib.decision import LLGR_STALE, NO_LLGR
from bgpd.rib.loc_rib import LocRib


class LongLivedMarked(NamedTuple):
    kept: int  # paths now long-lived stale
    dropped: int  # paths removed because they carried NO_LLGR


def is_long_lived_stale(candidate: Candidate) -> bool:
    communities = candidate.info.attributes.communities
    return bool(communities) and LLGR_STALE in communities


def as_long_lived(candidate: Candidate) -> Candidate:
    """The path with LLGR_STALE added (RFC 9494 §4.2) and its stale mark kept."""
    if is_long_lived_stale(candidate):
        return candidate.as_stale()
    attrs = candidate.info.attributes
    info = replace(
        candidate.info, attributes=attrs.replace(communities=(*attrs.communities, LLGR_STALE))
    )
    return replace(candidate, info=info, stale=True)


def mark_long_lived(rib: LocRib, source_name: str, family: Family) -> LongLivedMarked:
    """Makes the source's stale paths of `family` long-lived stale (NO_LLGR ones go)."""
    # Grouped per distinct path (by identity), so each becomes one shared new path.
    groups: dict[int, tuple[Candidate, list[Nlri], list[int]]] = {}
    dropped: dict[int, tuple[list[Nlri], list[int]]] = {}
    for nlri, path in rib.stale_paths(source_name, family):
        communities = path.info.attributes.communities
        if communities and NO_LLGR in communities:
            nlris, ids = dropped.setdefault(id(path), ([], []))
        else:
            entry = groups.get(id(path))
            if entry is None:
                entry = groups[id(path)] = (path, [], [])
            nlris, ids = entry[1], entry[2]
        nlris.append(nlri)
        ids.append(path.path_id)
    kept = removed = 0
    for nlris, ids in dropped.values():
        removed += rib.withdraw_many(family, nlris, source_name, ids)
    for path, nlris, ids in groups.values():
        rib.announce_many(family, nlris, as_long_lived(path), ids)
        kept += len(nlris)
    return LongLivedMarked(kept=kept, dropped=removed)

"""The decision process: which of a prefix's paths is best, and which form its ECMP set.

Role: pure functions over `Candidate`s. RFC 4271 §9.1.2.2 with the RFC 4456 §9 tie-breaks,
as an elimination in this order:

 0. a path without the LLGR_STALE community (RFC 9494 §4.3: a long-lived stale route, ours
    or one received so marked, is the least preferred, below any other path);
 1. highest LOCAL_PREF (100 when absent; the decoder already drops LOCAL_PREF received over
    eBGP, RFC 4271 §5.1.5, so import policy is the only other writer);
 1b. locally originated over BGP-learned, CONNECTED > STATIC > KERNEL (BIRD's protocol
    preferences 240 > 200 > 10, all above nothing; BGP is 0 here);
 2. shortest AS_PATH (`PathAttributes.as_path_length`, RFC 4271 §9.1.2.2 a);
 3. lowest ORIGIN (IGP < EGP < INCOMPLETE, §9.1.2.2 b);
 4. lowest MED, compared only between paths from the same neighbour AS, a missing MED being
    0 (§9.1.2.2 c). Paths whose AS_PATH is empty or starts with an AS_SET come from the local
    AS (§9.1.2.2 c, "neighborAS");
 5. eBGP over iBGP (§9.1.2.2 d); locally originated paths rank with eBGP, which never
    matters since step 1b already separated them from BGP paths;
 6. lowest ORIGINATOR_ID, or the peer's BGP Identifier without one (§9.1.2.2 f, RFC 4456 §9);
 7. shortest CLUSTER_LIST (RFC 4456 §9);
 8. lowest peer address (§9.1.2.2 g);
 9. lowest ADD-PATH path id, then source name: never ties, so the result is deterministic.

There is no IGP cost step (§9.1.2.2 e): bgpd has no IGP. Staleness (RFC 4724) is ignored:
a stale path is still a valid path (long-lived staleness is step 0, read from the community).

Invariants:
- Step 4 is not a total order (MED is compared only within one neighbour AS), so the best
  path is found by elimination over the whole set, never by pairwise sorting; the result does
  not depend on the order of the paths.
- ECMP (BIRD `merge paths on`): the multipath set is every path that survives steps 0-4 and
  has the best path's step-5 type, best first then by tie key, one path per next hop.
- Keys are computed once per `Candidate` (`path_keys`), so a decision costs tuple compares.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bgpd.rib.source import Source, SourceKind
from bgpd.wire.attributes import PathAttributes

if TYPE_CHECKING:
    from bgpd.rib.candidate import Candidate

DEFAULT_LOCAL_PREF = 100  # RFC 4271 §5.1.5 leaves it to policy; 100 is every implementation's
LOCAL_AS = -1  # the neighbour AS of paths originated inside our AS (§9.1.2.2 c)
LLGR_STALE = 0xFFFF0006  # RFC 9494 §2.1 well-known community 65535:6
NO_LLGR = 0xFFFF0007  # RFC 9494 §2.2 well-known community 65535:7

# Step 1b: higher wins; BGP-learned paths rank 0.
LOCAL_RANK: dict[SourceKind, int] = {
    SourceKind.CONNECTED: 3,
    SourceKind.STATIC: 2,
    SourceKind.KERNEL: 1,
    SourceKind.EBGP: 0,
    SourceKind.IBGP: 0,
}

# Steps 0-3, highest wins: (not LLGR stale, local pref, local rank, -AS_PATH length, -origin).
PrefKey = tuple[int, int, int, int, int]
# Steps 5-9, lowest wins: (iBGP?, BGP id, cluster list length, address length, address,
# path id, source name).
TieKey = tuple[int, int, int, int, bytes, int, str]
PathKeys = tuple[PrefKey, int, int, TieKey]


def path_keys(source: Source, attributes: PathAttributes, path_id: int) -> PathKeys:
    """(preference key, neighbour AS, MED, tie key) of one path; see the module docstring."""
    a = attributes
    local_pref = DEFAULT_LOCAL_PREF if a.local_pref is None else a.local_pref
    fresh = 0 if a.communities and LLGR_STALE in a.communities else 1
    pref: PrefKey = (
        fresh,
        local_pref,
        LOCAL_RANK[source.kind],
        -a.as_path_length(),
        -int(a.origin),
    )
    neighbor = a.neighbor_as()
    # RFC 4456 §9: ORIGINATOR_ID stands in for the BGP Identifier of the advertising router.
    bgp_id = source.router_id if a.originator_id is None else a.originator_id
    address = source.address
    tie: TieKey = (
        1 if source.kind is SourceKind.IBGP else 0,
        bgp_id,
        len(a.cluster_list),
        len(address),  # an IPv4 address sorts before any IPv6 one, like their integer values
        address,
        path_id,
        source.name,
    )
    return pref, LOCAL_AS if neighbor is None else neighbor, a.med or 0, tie


def _tie(candidate: Candidate) -> TieKey:
    return candidate.decision_keys()[3]


def _survivors(paths: Sequence[Candidate]) -> list[Candidate]:
    """The paths left after steps 0-4."""
    keyed = [(p, p.decision_keys()) for p in paths]
    top = max(k[0] for _, k in keyed)
    left = [(p, k) for p, k in keyed if k[0] == top]
    if len(left) > 1:
        # RFC 4271 §9.1.2.2 c: drop a path when another path from the same neighbour AS has
        # a lower MED. Paths from different neighbour ASes are not compared at all.
        lowest: dict[int, int] = {}
        for _, (_pref, neighbor_as, med, _tie_key) in left:
            m = lowest.get(neighbor_as)
            if m is None or med < m:
                lowest[neighbor_as] = med
        left = [(p, k) for p, k in left if k[2] == lowest[k[1]]]
    return [p for p, _ in left]


def select(paths: Sequence[Candidate]) -> tuple[Candidate, tuple[Candidate, ...]]:
    """(best path, ECMP set best first) of a non-empty set of paths for one prefix."""
    if len(paths) == 1:
        only = paths[0]
        return only, (only,)
    if len(paths) == 2:
        return _select_two(paths[0], paths[1])
    left = _survivors(paths)
    best = min(left, key=_tie)
    if len(left) == 1:
        return best, (best,)
    kind = _tie(best)[0]
    # BIRD merge paths: equal through step 5, one route per next hop (the best one first).
    multipath = [best]
    seen = {best.info.next_hop}
    for p in sorted(left, key=_tie):
        hop = p.info.next_hop
        if _tie(p)[0] == kind and hop not in seen:
            seen.add(hop)
            multipath.append(p)
    return best, tuple(multipath)


def _select_two(a: Candidate, b: Candidate) -> tuple[Candidate, tuple[Candidate, ...]]:
    """`select` for two paths, the usual contested prefix, without building lists."""
    pa, nas_a, med_a, ta = a.decision_keys()
    pb, nas_b, med_b, tb = b.decision_keys()
    if pa != pb:
        best = a if pa > pb else b
        return best, (best,)
    if nas_a == nas_b and med_a != med_b:
        best = a if med_a < med_b else b
        return best, (best,)
    best, other = (a, b) if ta < tb else (b, a)
    if ta[0] == tb[0] and a.info.next_hop != b.info.next_hop:
        return best, (best, other)
    return best, (best,)


def best_path(paths: Sequence[Candidate]) -> Candidate:
    return select(paths)[0]


def rank(paths: Sequence[Candidate]) -> tuple[Candidate, ...]:
    """Every path, best first: the best of all, then the best of the rest, and so on.

    Quadratic, because MED forbids a sort key (see the module docstring); meant for views.
    """
    rest = list(paths)
    ranked: list[Candidate] = []
    while rest:
        best = select(rest)[0]
        ranked.append(best)
        rest.remove(best)
    return tuple(ranked)


def prefer(a: Candidate, b: Candidate) -> Candidate:
    """The better of two paths."""
    return select((a, b))[0]

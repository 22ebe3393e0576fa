"""Answers to `bgpctl show routes` queries (`bgpd.speaker.route_query`), read from the
Loc-RIB, a peer's refused prefixes and the Adj-RIB-Out of its update group.

Role: turn a `RouteQuery` into views: the matching Loc-RIB paths, counts per family, what a
peer sent (`--received`) or what we sent it (`--advertised`). Nothing here changes state.

What `--received` can show, exactly: bgpd keeps no Adj-RIB-In (a second copy of every feed).
The peer's accepted paths are its paths in the Loc-RIB, with the attributes its import rules
left them (a rule that changed them shows the changed path); the prefixes it refused (a loop,
an unusable next hop, an import rule: `PeerState.rejected`) are known by prefix only, with no
attributes, so attribute filters cannot apply to them. A withdrawn route is gone from both.
The answer's `note` says so to the operator.

`--advertised` is what was sent: the update group's Adj-RIB-Out (`bgpd.outbound.adj_out`)
minus the member's own routes (never sent back to it); changes not yet flushed are not in it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

from bgpd.net import Family, Nlri, format_prefix
from bgpd.outbound.groups import Member
from bgpd.rib import Candidate, LocRib
from bgpd.speaker.route_query import (
    PathFilter,
    RouteQuery,
    RouteQueryError,
    select_prefixes,
    sort_key,
)
from bgpd.speaker.views import path_view, route_view
from bgpd.views import ReceivedView, RejectedPrefixView, RouteCountView, RouteView

if TYPE_CHECKING:
    from bgpd.speaker.peer_state import PeerState

RouteAnswer = list[RouteView] | list[RouteCountView] | ReceivedView

LOCAL_SOURCES = ("static", "kernel", "connected")

RECEIVED_NOTE = (
    "bgpd keeps no Adj-RIB-In: accepted routes are shown as the Loc-RIB holds them (after the "
    "peer's import rules); refused prefixes (loop, unusable next hop, import rule) are known by "
    "prefix only"
)
RECEIVED_FILTERED_NOTE = (
    RECEIVED_NOTE + "; attribute filters (--community, --large-community, --as-path, --stale, "
    "--best) cannot apply to them, so they are left out"
)


def answer(
    query: RouteQuery,
    rib: LocRib,
    peers: Mapping[str, PeerState],
    member: Callable[[str], Member | None],
) -> RouteAnswer:
    """The reply to `query`; `member`: the Established peers' places in their update groups.
    An unknown `--peer` is a `RouteQueryError`, not an empty answer."""
    if query.peer is not None and query.peer not in peers:
        local = query.peer in LOCAL_SOURCES and not (query.received or query.advertised)
        if not local:
            raise RouteQueryError(f"no peer named {query.peer!r}")
    if query.received:
        assert query.peer is not None
        return received(query, rib, query.peer, peers[query.peer].rejected)
    if query.advertised:
        assert query.peer is not None
        views = advertised(query, query.peer, member(query.peer))
        return count_views(views) if query.count else views
    if query.count:
        return count_routes(query, rib)
    return sorted_views(query, rib)


def rib_paths(query: RouteQuery, rib: LocRib) -> Iterator[tuple[Family, Nlri, Candidate, bool]]:
    """(family, prefix, path, is best) of every Loc-RIB path the query selects, unsorted."""
    keep = PathFilter(query)
    peer = query.peer
    for family in query.families(rib.families()):

        def contains(nlri: Nlri, family: Family = family) -> bool:
            return rib.best(family, nlri) is not None

        def keys(family: Family = family) -> Iterable[Nlri]:
            return rib.prefixes(family)

        nlris: Iterable[Nlri]
        if peer is not None and query.base() is None:
            # the source's own index: a peer's routes without a walk of the whole table
            nlris = dict.fromkeys(n for n, _ in rib.source_routes(peer, family)).keys()
        else:
            nlris = select_prefixes(query, family, contains, keys)
        for nlri in nlris:
            for rank, candidate in enumerate(rib.candidates(family, nlri)):
                if query.best and rank:
                    break
                if peer is not None and candidate.source.name != peer:
                    continue
                if keep(candidate.info, candidate.stale):
                    yield family, nlri, candidate, rank == 0


def sorted_views(query: RouteQuery, rib: LocRib) -> list[RouteView]:
    """The selected paths as views: per family, in address order, best first per prefix."""
    views: list[tuple[int, tuple[bytes, int], int, RouteView]] = []
    for i, (family, nlri, candidate, best) in enumerate(rib_paths(query, rib)):
        view = route_view(family, nlri, candidate, best=best)
        views.append((family.afi, sort_key(nlri), i, view))
    views.sort(key=lambda v: v[:3])
    return [v[3] for v in views]


def count_routes(query: RouteQuery, rib: LocRib) -> list[RouteCountView]:
    """Per family: prefixes, paths and best paths selected. Without a prefix, peer or path
    filter it is the Loc-RIB's own counters (no walk); otherwise a walk that builds nothing
    per route."""
    out: list[RouteCountView] = []
    plain = query.base() is None and query.peer is None and not query.filters_paths
    for family in query.families(rib.families()):
        if plain:
            prefixes, paths = rib.count(family)
            paths = prefixes if query.best else paths
            out.append(_count(family, prefixes, paths, prefixes))
            continue
        seen: set[Nlri] = set()
        paths = best = 0
        for _, nlri, _, is_best in rib_paths(_only(query, family), rib):
            seen.add(nlri)
            paths += 1
            best += is_best
        out.append(_count(family, len(seen), paths, best))
    return out


def received(
    query: RouteQuery, rib: LocRib, peer: str, rejected: set[tuple[Family, Nlri]]
) -> ReceivedView:
    """What bgpd knows of what `peer` sent (see the module doc for its limits)."""
    accepted = sorted_views(query, rib)
    refused: list[RejectedPrefixView] = []
    if not query.filters_paths and not query.best and rejected:
        present = {f for f, _ in rejected}
        for family in query.families(sorted(present)):
            mine = {n for f, n in rejected if f == family}
            picked = select_prefixes(query, family, mine.__contains__, partial(iter, mine))
            refused.extend(
                RejectedPrefixView(family=str(family), prefix=format_prefix(n, family.afi))
                for n in sorted(picked, key=sort_key)
            )
    note = RECEIVED_FILTERED_NOTE if query.filters_paths or query.best else RECEIVED_NOTE
    return ReceivedView(peer=peer, accepted=tuple(accepted), rejected=tuple(refused), note=note)


def advertised(query: RouteQuery, peer: str, member: Member | None) -> list[RouteView]:
    """The paths the peer's update group sent it (empty while the peer is not Established)."""
    if member is None:
        return []
    group = member.group
    keep = PathFilter(query)
    views: list[tuple[int, tuple[bytes, int], int, RouteView]] = []
    for family in query.families(sorted(group.families)):
        table = group.adj_out.table(family)
        if group.add_path(family):  # keys are the 4-octet path id, then the prefix
            by_prefix: dict[Nlri, list[tuple[int, bytes]]] = {}
            for key in table:
                by_prefix.setdefault(key[4:], []).append((int.from_bytes(key[:4], "big"), key))
            nlris = select_prefixes(query, family, by_prefix.__contains__, by_prefix.keys)
            entries = [(n, pid, key) for n in nlris for pid, key in by_prefix[n]]
        else:
            nlris = select_prefixes(query, family, table.__contains__, table.keys)
            entries = [(n, 0, n) for n in nlris]
        for nlri, path_id, key in entries:
            info = table[key]
            if info.origin == peer or not keep(info, False):
                continue
            view = path_view(
                family,
                nlri,
                info,
                peer=info.origin or "local",
                source="advertised",
                path_id=path_id,
                best=True,
                stale=False,
            )
            views.append((family.afi, sort_key(nlri), path_id, view))
    views.sort(key=lambda v: v[:3])
    return [v[3] for v in views]


def count_views(views: list[RouteView]) -> list[RouteCountView]:
    """Counts of an answer already built (the Adj-RIB-Out's, for `--advertised --count`)."""
    counts: dict[str, tuple[set[str], int]] = {}
    for view in views:
        name = "ipv6-unicast" if ":" in view.prefix else "ipv4-unicast"
        prefixes, paths = counts.setdefault(name, (set(), 0))
        prefixes.add(view.prefix)
        counts[name] = (prefixes, paths + 1)
    return [
        RouteCountView(family=name, prefixes=len(p), paths=n, best=n)
        for name, (p, n) in sorted(counts.items())
    ]


def _count(family: Family, prefixes: int, paths: int, best: int) -> RouteCountView:
    return RouteCountView(family=str(family), prefixes=prefixes, paths=paths, best=best)


def _only(query: RouteQuery, family: Family) -> RouteQuery:
    """The query restricted to one family (its prefix, if any, is of that family already)."""
    return query if query.base() is not None else replace(query, family=family)

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
`advertised` is the one reader of it: the BIRD sockets' `show route export` uses it too.

Walks of a whole table are `Steps` (`bgpd.speaker.steps`): the control socket lets the event
loop run between chunks; `answer` runs them at once.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from itertools import islice
from typing import TYPE_CHECKING

from bgpd.net import Family, Nlri, format_prefix
from bgpd.outbound.groups import Member, UpdateGroup
from bgpd.rib import Candidate, LocRib, PathInfo
from bgpd.speaker.route_query import (
    PathFilter,
    RouteQuery,
    RouteQueryError,
    select_prefixes,
)
from bgpd.speaker.steps import VIEW_CHUNK, Steps, Stream, chunks, collect, finish
from bgpd.speaker.views import path_view, route_view
from bgpd.views import (
    ADVERTISED_LOCAL,
    ADVERTISED_SOURCE,
    ReceivedView,
    RejectedPrefixView,
    RouteCountView,
    RouteView,
)

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
    """The reply to `query`, all steps at once (`answer_steps`)."""
    return finish(answer_steps(query, rib, peers, member))


def answer_steps(
    query: RouteQuery,
    rib: LocRib,
    peers: Mapping[str, PeerState],
    member: Callable[[str], Member | None],
) -> Steps[RouteAnswer]:
    """The reply to `query` in steps (a table walk pauses between chunks, `bgpd.speaker.steps`);
    `member`: the Established peers' places in their update groups. An unknown `--peer` is a
    `RouteQueryError` (at the first step), not an empty answer."""
    _check_peer(query, peers)
    if query.received:
        assert query.peer is not None
        return (yield from received(query, rib, query.peer, peers[query.peer].rejected))
    if query.advertised:
        assert query.peer is not None
        if query.count:
            return (yield from count_sent(query, query.peer, member))
        return (yield from advertised(query, query.peer, member))
    if query.count:
        return (yield from count_routes(query, rib))
    return (yield from sorted_views(query, rib))


def answer_chunks(
    query: RouteQuery,
    rib: LocRib,
    peers: Mapping[str, PeerState],
    member: Callable[[str], Member | None],
) -> Listing | None:
    """The reply to `query` as streams of chunks of rows when it is a list (an answer that
    can have a million rows; see `bgpd.speaker.route_json` for their JSON): Loc-RIB paths
    (`route_chunks`), `--advertised`'s paths (`SentRows`), `--received`'s (`ReceivedRows`);
    None for counts (`answer_steps`). An unknown `--peer` is a `RouteQueryError` raised here,
    before any chunk."""
    _check_peer(query, peers)
    if query.count:
        return None
    if query.received:
        assert query.peer is not None
        return received_rows(query, rib, query.peer, peers[query.peer].rejected)
    if query.advertised:
        assert query.peer is not None
        return SentRows(sent_chunks(query, query.peer, member))
    return route_chunks(query, rib)


def _check_peer(query: RouteQuery, peers: Mapping[str, PeerState]) -> None:
    if query.peer is not None and query.peer not in peers:
        local = query.peer in LOCAL_SOURCES and not (query.received or query.advertised)
        if not local:
            raise RouteQueryError(f"no peer named {query.peer!r}")


Row = tuple[Family, Nlri, Candidate, bool]


def rib_paths(query: RouteQuery, rib: LocRib) -> Iterator[list[Row]]:
    """(family, prefix, path, is best) of every Loc-RIB path the query selects, unsorted, in
    batches (one per chunk of a walk); a prefix gone since the walk started is skipped."""
    keep = PathFilter(query)
    for family in query.families(rib.families()):
        for nlris in _batches(query, rib, family):
            yield [
                (family, nlri, candidate, best)
                for nlri in nlris
                for candidate, best in _paths(query, keep, rib, family, nlri)
            ]


def _batches(query: RouteQuery, rib: LocRib, family: Family) -> Iterable[list[Nlri]]:
    """The prefixes of `family` the query's prefix and peer parts select, in batches (one per
    chunk of a walk, maybe empty), in no particular order."""

    def contains(nlri: Nlri) -> bool:
        return rib.best(family, nlri) is not None

    def keys() -> Collection[Nlri]:
        return rib.prefixes(family)

    if query.peer is not None and query.base() is None:
        # the source's own index (a big feed has none: then the table, walked), in steps
        index = rib.source_prefixes(query.peer, family)
        return chunks(keys() if index is None else index)
    return select_prefixes(query, family, contains, keys)


def _paths(
    query: RouteQuery, keep: PathFilter, rib: LocRib, family: Family, nlri: Nlri
) -> Iterator[tuple[Candidate, bool]]:
    """(path, is best) of the prefix's paths the query selects, best first."""
    peer = query.peer
    for rank, candidate in enumerate(rib.candidates(family, nlri)):
        if query.best and rank:
            break
        if peer is not None and candidate.source.name != peer:
            continue
        if keep(candidate.info, candidate.stale):
            yield candidate, rank == 0


def route_chunks(query: RouteQuery, rib: LocRib) -> Stream[Row]:
    """The selected paths, per family, in address order, best first per prefix, a chunk (the
    paths of `VIEW_CHUNK` prefixes) per step. The walk first selects prefixes (a chunk of keys
    a step, each chunk's matches sorted: runs of the table's own key objects, nothing built
    per route), then merges the runs lazily and reads each chunk of prefixes' paths as it goes
    (afresh: a prefix withdrawn meanwhile is skipped): the consumer turns a chunk into views
    or JSON, sends it and drops it, so no step sorts or builds the whole answer and the answer
    never lives whole in the daemon."""
    keep = PathFilter(query)
    # without a peer or path filter every selected prefix has rows: no look at its paths
    look = query.peer is not None or query.filters_paths
    for family in sorted(query.families(rib.families())):
        runs: list[list[Nlri]] = []
        for batch in _batches(query, rib, family):
            nlris = (
                [n for n in batch if next(_paths(query, keep, rib, family, n), None)]
                if look
                else batch
            )
            if nlris:
                runs.append(sorted(nlris, key=_address_order))
            yield []
        merged = (
            heapq.merge(*runs, key=_address_order)
            if len(runs) > 1
            else iter(runs[0] if runs else ())
        )
        while batch := list(islice(merged, VIEW_CHUNK)):
            yield [
                (family, nlri, candidate, best)
                for nlri in batch
                for candidate, best in _paths(query, keep, rib, family, nlri)
            ]


def _address_order(nlri: Nlri) -> bytes:
    """`sort_key` as one bytes object (the address padded to 16 octets, then the length): an
    object the collector does not track, made and dropped per comparison run."""
    return nlri[1:].ljust(16, b"\0") + nlri[:1]


def sorted_views(query: RouteQuery, rib: LocRib) -> Steps[list[RouteView]]:
    """The selected paths as views, whole (`route_chunks` gathered), a chunk a step."""
    views: list[RouteView] = []
    for rows in route_chunks(query, rib):
        views.extend(route_view(f, nlri, candidate, best=best) for f, nlri, candidate, best in rows)
        yield
    return views


def count_routes(query: RouteQuery, rib: LocRib) -> Steps[list[RouteCountView]]:
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
        for rows in rib_paths(_only(query, family), rib):
            for _, nlri, _, is_best in rows:
                seen.add(nlri)
                paths += 1
                best += is_best
            yield
        out.append(_count(family, len(seen), paths, best))
    return out


def received(
    query: RouteQuery, rib: LocRib, peer: str, rejected: set[tuple[Family, Nlri]]
) -> Steps[ReceivedView]:
    """What bgpd knows of what `peer` sent (see the module doc for its limits), whole: the
    streams of `received_rows` gathered."""
    rows = received_rows(query, rib, peer, rejected)
    accepted = yield from sorted_views(query, rib)
    refused = yield from collect(rows.rejected)
    return ReceivedView(
        peer=peer,
        accepted=tuple(accepted),
        rejected=tuple(rejected_view(family, nlri) for family, nlri in refused),
        note=rows.note,
    )


@dataclass(frozen=True, slots=True)
class ReceivedRows:
    """`--received` as streams: the accepted paths (`route_chunks`), then the refused
    prefixes (`rejected_chunks`), each in address order; `ReceivedView`'s other fields."""

    peer: str
    accepted: Stream[Row]
    rejected: Stream[tuple[Family, Nlri]]
    note: str


def received_rows(
    query: RouteQuery, rib: LocRib, peer: str, rejected: set[tuple[Family, Nlri]]
) -> ReceivedRows:
    note = RECEIVED_FILTERED_NOTE if query.filters_paths or query.best else RECEIVED_NOTE
    return ReceivedRows(
        peer=peer,
        accepted=route_chunks(query, rib),
        rejected=rejected_chunks(query, rejected),
        note=note,
    )


def rejected_view(family: Family, nlri: Nlri) -> RejectedPrefixView:
    return RejectedPrefixView(family=str(family), prefix=format_prefix(nlri, family.afi))


def rejected_chunks(
    query: RouteQuery, rejected: set[tuple[Family, Nlri]]
) -> Stream[tuple[Family, Nlri]]:
    """A peer's refused prefixes the query's prefix part selects (none with an attribute
    filter: they have no attributes), per family in address order, `VIEW_CHUNK` a step. A
    lookup (an exact prefix, `for`, `--shorter`) looks the prefixes up; otherwise a snapshot
    of the set is split and sorted a chunk a step and the sorted runs merged as they go."""
    if query.filters_paths or query.best or not rejected:
        return
    base = query.base()
    if base is not None and not query.longer:
        family = base.family
        found = select_prefixes(query, family, lambda n: (family, n) in rejected, tuple)
        yield [(family, n) for n in sorted((n for b in found for n in b), key=_address_order)]
        return
    runs: dict[Family, list[list[Nlri]]] = {}
    for part in chunks(rejected):
        mine: dict[Family, list[Nlri]] = {}
        for family, nlri in part:
            if base is None or (base.family == family and base.covers(nlri)):
                mine.setdefault(family, []).append(nlri)
        for family, nlris in mine.items():
            runs.setdefault(family, []).append(sorted(nlris, key=_address_order))
        yield []
    for family in query.families(sorted(runs)):
        merged = heapq.merge(*runs.pop(family), key=_address_order)
        while picked := list(islice(merged, VIEW_CHUNK)):
            yield [(family, nlri) for nlri in picked]


# (family, prefix, path id, the path as sent): a path of an Adj-RIB-Out (`sent_chunks`)
SentRow = tuple[Family, Nlri, int, PathInfo]


@dataclass(frozen=True, slots=True)
class SentRows:
    """`--advertised` as a stream (`sent_chunks`)."""

    rows: Stream[SentRow]


# a list answer as streams (`answer_chunks`)
Listing = Stream[Row] | SentRows | ReceivedRows


def advertised(
    query: RouteQuery, peer: str, member: Callable[[str], Member | None]
) -> Steps[list[RouteView]]:
    """`sent_chunks` as views, whole (`--advertised` without streaming: tests, `answer`)."""
    views: list[RouteView] = []
    for rows in sent_chunks(query, peer, member):
        views.extend(sent_view(*row) for row in rows)
        yield
    return views


def sent_view(family: Family, nlri: Nlri, path_id: int, info: PathInfo) -> RouteView:
    """A path of an Adj-RIB-Out as bgpctl shows it: `peer` the peer it was learned from
    ("local" for our own routes), `source` "advertised"."""
    return path_view(
        family,
        nlri,
        info,
        peer=info.origin or ADVERTISED_LOCAL,
        source=ADVERTISED_SOURCE,
        path_id=path_id,
        best=True,
        stale=False,
    )


def sent_chunks(
    query: RouteQuery, peer: str, member: Callable[[str], Member | None]
) -> Stream[SentRow]:
    """The one reader of a peer's Adj-RIB-Out: the paths its update group sent it (nothing
    while the peer is not Established), as sent, never its own ones, per family in address
    order (then path id), `VIEW_CHUNK` table keys a step. As `route_chunks`: the keys the
    query selects are sorted a chunk a step, the sorted runs merged as they go, and each
    chunk's paths read afresh (one gone meanwhile is left out). bgpctl encodes the rows
    (`route_json.SentRowEncoder`); the BIRD sockets' `show route export` renders them."""
    place = member(peer)
    if place is None:
        return
    group = place.group
    keep = PathFilter(query)
    for family in query.families(sorted(group.families)):
        order = _sent_order if group.add_path(family) else _address_order
        runs: list[list[bytes]] = []
        for keys in _sent_keys(query, group, family):
            if keys:
                runs.append(sorted(keys, key=order))
            yield []
        merged = heapq.merge(*runs, key=order) if len(runs) > 1 else iter(runs[0] if runs else ())
        add_path = group.add_path(family)
        while batch := list(islice(merged, VIEW_CHUNK)):
            sent = group.adj_out.table(family)  # read afresh: it may change between steps
            rows: list[SentRow] = []
            for key in batch:
                info = sent.get(key)
                if info is None or info.origin == peer or not keep(info, False):
                    continue  # gone since the walk started, the peer's own, or filtered out
                if add_path:  # the 4-octet path id, then the prefix
                    rows.append((family, key[4:], int.from_bytes(key[:4], "big"), info))
                else:
                    rows.append((family, key, 0, info))
            yield rows


def _sent_order(key: bytes) -> bytes:
    """An ADD-PATH key (path id, prefix) in address order, then path id."""
    return _address_order(key[4:]) + key[:4]


def _sent_keys(query: RouteQuery, group: UpdateGroup, family: Family) -> Iterator[list[bytes]]:
    """The Adj-RIB-Out keys the query's prefix part selects, in batches (one per chunk of a
    walk, maybe empty): a prefix is looked up, not walked for, unless the table has ADD-PATH
    keys (their path ids are not known without a walk)."""
    table = group.adj_out.table
    if not group.add_path(family):
        yield from select_prefixes(
            query, family, lambda n: n in table(family), lambda: table(family).keys()
        )
        return
    if query.base() is None:
        yield from chunks(table(family))
        return
    by_prefix: dict[Nlri, list[bytes]] = {}  # keys are the 4-octet path id, then the prefix
    for chunk in chunks(table(family)):
        for key in chunk:
            by_prefix.setdefault(key[4:], []).append(key)
        yield []
    for nlris in select_prefixes(query, family, by_prefix.__contains__, by_prefix.keys):
        yield [key for n in nlris for key in by_prefix[n]]


def count_sent(
    query: RouteQuery, peer: str, member: Callable[[str], Member | None]
) -> Steps[list[RouteCountView]]:
    """`--advertised --count`: per family sent to, prefixes and paths, no view built."""
    counts: dict[Family, list[int]] = {}
    last: tuple[Family, Nlri] | None = None
    for rows in sent_chunks(query, peer, member):
        for family, nlri, _, _ in rows:
            count = counts.setdefault(family, [0, 0])
            count[1] += 1
            if (family, nlri) != last:  # a prefix's paths come together
                count[0] += 1
                last = family, nlri
        yield
    return [_count(f, prefixes, paths, paths) for f, (prefixes, paths) in counts.items()]


def _count(family: Family, prefixes: int, paths: int, best: int) -> RouteCountView:
    return RouteCountView(family=str(family), prefixes=prefixes, paths=paths, best=best)


def _only(query: RouteQuery, family: Family) -> RouteQuery:
    """The query restricted to one family (its prefix, if any, is of that family already)."""
    return query if query.base() is not None else replace(query, family=family)

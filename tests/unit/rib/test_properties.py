"""Hypothesis: random operation sequences against a plain reference model of the Loc-RIB.

The reference keeps every path in nested dicts and selects with a literal, step-by-step
transcription of the decision process written from the RFC text (using the attributes, not
the precomputed keys of `Candidate`). After every operation the Loc-RIB must hold exactly
the model's paths and select the model's best path and ECMP set; at every `take` it must
report exactly the prefixes whose selection differs from what it reported last time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import permutations
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, Family, Nlri, pack_prefix
from bgpd.rib import Candidate, LocRib, PathInfo, RouteChange, Source, SourceKind, select
from bgpd.wire.attributes import AsPathSegment, PathAttributes
from bgpd.wire.constants import Origin, SegmentType

from .helpers import source

FAMILIES = (IPV4_UNICAST, IPV6_UNICAST)
PREFIXES: dict[Family, tuple[Nlri, ...]] = {
    IPV4_UNICAST: tuple(pack_prefix(p) for p in ("10.0.0.0/8", "10.1.0.0/16", "10.1.1.0/24")),
    IPV6_UNICAST: tuple(pack_prefix(p) for p in ("2001:db8::/32", "2001:db8:1::/48")),
}
SOURCES = (
    source("e1", SourceKind.EBGP, asn=1, router_id="10.0.0.3", address="10.0.0.3"),
    # The same peer on a later session: same name, another router id.
    source("e1", SourceKind.EBGP, asn=1, router_id="10.0.0.7", address="10.0.0.3"),
    source("e2", SourceKind.EBGP, asn=2, router_id="10.0.0.2", address="10.0.0.2"),
    source("i1", SourceKind.IBGP, router_id="10.0.0.1", address="10.0.0.9"),
    source("i2", SourceKind.IBGP, router_id="10.0.0.1", address="10.0.0.1"),
    source("st", SourceKind.STATIC),
    source("kr", SourceKind.KERNEL),
)
NAMES = sorted({s.name for s in SOURCES})
HOPS = (bytes((192, 0, 2, 1)), bytes((192, 0, 2, 2)), bytes((192, 0, 2, 3)))


@st.composite
def attribute_sets(draw: st.DrawFn) -> PathAttributes:
    segments = []
    sequence = draw(st.sampled_from(((), (1,), (2,), (1, 5), (2, 5, 6))))
    if sequence:
        segments.append(AsPathSegment(type=SegmentType.AS_SEQUENCE, asns=sequence))
    if draw(st.booleans()):
        segments.append(AsPathSegment(type=SegmentType.AS_SET, asns=(7, 8)))
    return PathAttributes(
        origin=draw(st.sampled_from(list(Origin))),
        as_path=tuple(segments),
        med=draw(st.sampled_from((None, 0, 5, 10))),
        local_pref=draw(st.sampled_from((None, 50, 100, 200))),
        originator_id=draw(st.sampled_from((None, 1, 0x0A000005))),
        cluster_list=draw(st.sampled_from(((), (1,), (1, 2)))),
    )


# A few fixed sets, so that equal paths (ECMP, ties on late steps) are frequent.
POOL = (
    PathAttributes(),
    PathAttributes(as_path=(AsPathSegment(type=SegmentType.AS_SEQUENCE, asns=(1,)),)),
    PathAttributes(as_path=(AsPathSegment(type=SegmentType.AS_SEQUENCE, asns=(2,)),), med=5),
    PathAttributes(local_pref=200, originator_id=1, cluster_list=(1,)),
)


@st.composite
def candidates(draw: st.DrawFn) -> Candidate:
    attributes = draw(st.one_of(st.sampled_from(POOL), attribute_sets()))
    return Candidate(
        source=draw(st.sampled_from(SOURCES)),
        info=PathInfo(attributes=attributes, next_hop=draw(st.sampled_from(HOPS))),
        path_id=draw(st.sampled_from((0, 0, 1))),
    )


# ---------------------------------------------------------------------- reference decision

LOCAL_PREFERENCE = {SourceKind.CONNECTED: 3, SourceKind.STATIC: 2, SourceKind.KERNEL: 1}


def _keep_best(paths: list[Candidate], key: Callable[[Candidate], Any]) -> list[Candidate]:
    """Keeps the paths with the LOWEST key."""
    low = min(key(p) for p in paths)
    return [p for p in paths if key(p) == low]


def _neighbour_as(p: Candidate) -> object:
    path = p.info.attributes.as_path
    if path and path[0].type == SegmentType.AS_SEQUENCE and path[0].asns:
        return path[0].asns[0]
    return "local AS"


def _med(p: Candidate) -> int:
    med = p.info.attributes.med
    return 0 if med is None else med


def _as_path_length(p: Candidate) -> int:
    return sum(
        len(s.asns) if s.type == SegmentType.AS_SEQUENCE else 1 for s in p.info.attributes.as_path
    )


def a(p: Candidate) -> PathAttributes:
    return p.info.attributes


def _local_pref(p: Candidate) -> int:
    value = a(p).local_pref
    return 100 if value is None else value


def reference_select(paths: Sequence[Candidate]) -> tuple[Candidate, tuple[Candidate, ...]]:
    left = list(paths)
    left = _keep_best(left, lambda p: -_local_pref(p))
    left = _keep_best(left, lambda p: -LOCAL_PREFERENCE.get(p.source.kind, 0))
    left = _keep_best(left, _as_path_length)
    left = _keep_best(left, lambda p: int(a(p).origin))
    left = [
        p
        for p in left
        if _med(p) == min(_med(q) for q in left if _neighbour_as(q) == _neighbour_as(p))
    ]
    left = _keep_best(left, lambda p: p.source.kind is SourceKind.IBGP)
    # Equal through step 5: the ECMP candidates, in the order of the remaining steps.
    ranked = sorted(
        left,
        key=lambda p: (
            p.source.router_id if a(p).originator_id is None else a(p).originator_id,
            len(a(p).cluster_list),
            len(p.source.address),
            int.from_bytes(p.source.address, "big"),
            p.path_id,
            p.source.name,
        ),
    )
    multipath: list[Candidate] = []
    for p in ranked:
        if all(p.info.next_hop != q.info.next_hop for q in multipath):
            multipath.append(p)
    return ranked[0], tuple(multipath)


# ------------------------------------------------------------------------------- the model


def _signature(c: Candidate | None) -> object:
    return None if c is None else (c.source, c.path_id, c.info)


@dataclass
class Model:
    paths: dict[tuple[Family, Nlri], dict[tuple[str, int], Candidate]]
    reported: dict[tuple[Family, Nlri], object]

    def selection(self, key: tuple[Family, Nlri]) -> tuple[Candidate | None, tuple[Candidate, ...]]:
        held = self.paths.get(key)
        if not held:
            return None, ()
        return reference_select(list(held.values()))

    def signature(self, key: tuple[Family, Nlri]) -> object:
        best, multipath = self.selection(key)
        return _signature(best), tuple(_signature(c) for c in multipath)


operations = st.one_of(
    st.tuples(
        st.just("announce"),
        st.sampled_from(FAMILIES),
        st.lists(st.integers(0, 2), min_size=1, max_size=3, unique=True),
        candidates(),
    ),
    st.tuples(
        st.just("withdraw"),
        st.sampled_from(FAMILIES),
        st.lists(st.integers(0, 2), min_size=1, max_size=3, unique=True),
        st.sampled_from(NAMES),
        st.sampled_from((0, 1)),
    ),
    st.tuples(st.just("withdraw_source"), st.sampled_from(NAMES), st.sampled_from((None, 0, 1))),
    st.tuples(st.just("mark_stale"), st.sampled_from(NAMES), st.sampled_from((0, 1))),
    st.tuples(st.just("sweep"), st.sampled_from(NAMES), st.sampled_from((0, 1))),
    st.just(("take",)),
)


def _prefixes(family: Family, indexes: list[int]) -> list[Nlri]:
    table = PREFIXES[family]
    return list(dict.fromkeys(table[i % len(table)] for i in indexes))


def apply(op: tuple[Any, ...], rib: LocRib, model: Model) -> None:
    kind = op[0]
    if kind == "announce":
        _, family, indexes, candidate = op
        nlris = _prefixes(family, indexes)
        rib.announce_many(family, nlris, candidate)
        for nlri in nlris:
            held = model.paths.setdefault((family, nlri), {})
            held[(candidate.source.name, candidate.path_id)] = candidate
    elif kind == "withdraw":
        _, family, indexes, name, path_id = op
        nlris = _prefixes(family, indexes)
        expected = sum(1 for n in nlris if (name, path_id) in model.paths.get((family, n), {}))
        assert rib.withdraw_many(family, nlris, name, [path_id] * len(nlris)) == expected
        for nlri in nlris:
            model.paths.get((family, nlri), {}).pop((name, path_id), None)
    elif kind == "withdraw_source":
        _, name, which = op
        families = FAMILIES if which is None else (FAMILIES[which],)
        expected = 0
        for (family, _nlri), held in model.paths.items():
            if family in families:
                for key in [k for k in held if k[0] == name]:
                    del held[key]
                    expected += 1
        assert rib.withdraw_source(name, None if which is None else families) == expected
    elif kind == "mark_stale":
        _, name, which = op
        expected = 0
        for (family, _nlri), held in model.paths.items():
            if family == FAMILIES[which]:
                for key, c in held.items():
                    if key[0] == name and not c.stale:
                        held[key] = c.as_stale()
                        expected += 1
        assert rib.mark_stale(name, [FAMILIES[which]]) == expected
    elif kind == "sweep":
        _, name, which = op
        expected = 0
        for (family, _nlri), held in model.paths.items():
            if family == FAMILIES[which]:
                for key in [k for k, c in held.items() if k[0] == name and c.stale]:
                    del held[key]
                    expected += 1
        assert rib.sweep_stale(name, FAMILIES[which]) == expected
    else:
        check_changes(rib.take_changes(), model)


def check_changes(changes: list[RouteChange], model: Model) -> None:
    keys = [(c.family, c.nlri) for c in changes]
    assert len(keys) == len(set(keys)), "one change per prefix"
    moved = {
        key
        for key in set(model.paths) | set(model.reported)
        if model.signature(key) != model.reported.get(key, (None, ()))
    }
    assert set(keys) == moved
    for change in changes:
        best, multipath = model.selection((change.family, change.nlri))
        assert change.best == best
        assert change.multipath == multipath
        model.reported[(change.family, change.nlri)] = model.signature((change.family, change.nlri))


def check_state(rib: LocRib, model: Model) -> None:
    for family in FAMILIES:
        held = {n: p for (f, n), p in model.paths.items() if f == family and p}
        assert rib.count(family) == (len(held), sum(len(p) for p in held.values()))
        assert {n for n, _ in rib.iter_best(family)} == set(held)
        for nlri, paths in held.items():
            best, multipath = model.selection((family, nlri))
            assert rib.best(family, nlri) == best  # == also compares the stale mark
            assert rib.multipath(family, nlri) == multipath
            assert sorted(map(repr, rib.candidates(family, nlri))) == sorted(
                map(repr, paths.values())
            )
    for name in NAMES:
        expected = sum(1 for held in model.paths.values() for k in held if k[0] == name)
        assert rib.source_count(name) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(operations, max_size=40))
def test_random_sequences_match_the_reference(ops: list[tuple[Any, ...]]) -> None:
    rib = LocRib()
    model = Model(paths={}, reported={})
    for op in ops:
        apply(op, rib, model)
        check_state(rib, model)
    check_changes(rib.take_changes(), model)


@settings(max_examples=200, deadline=None)
@given(st.lists(operations, max_size=30))
def test_change_groups_report_the_same_as_changes(ops: list[tuple[Any, ...]]) -> None:
    flat, grouped = LocRib(), LocRib()
    for op in ops:
        if op[0] == "take":
            expected = {(c.family, c.nlri): (c.best, c.multipath) for c in flat.take_changes()}
            got: dict[tuple[Family, Nlri], object] = {}
            for g in grouped.take_change_groups():
                for nlri in g.nlris:
                    assert (g.family, nlri) not in got
                    got[(g.family, nlri)] = (g.best, g.multipath)
            assert got == expected
            continue
        for rib in (flat, grouped):
            _apply_without_model(op, rib)


def _apply_without_model(op: tuple[Any, ...], rib: LocRib) -> None:
    kind = op[0]
    if kind == "announce":
        _, family, indexes, candidate = op
        rib.announce_many(family, _prefixes(family, indexes), candidate)
    elif kind == "withdraw":
        _, family, indexes, name, path_id = op
        nlris = _prefixes(family, indexes)
        rib.withdraw_many(family, nlris, name, [path_id] * len(nlris))
    elif kind == "withdraw_source":
        _, name, which = op
        rib.withdraw_source(name, None if which is None else (FAMILIES[which],))
    elif kind == "mark_stale":
        rib.mark_stale(op[1], [FAMILIES[op[2]]])
    elif kind == "sweep":
        rib.sweep_stale(op[1], FAMILIES[op[2]])


@settings(max_examples=300, deadline=None)
@given(st.lists(candidates(), min_size=1, max_size=5))
def test_select_matches_the_reference_in_every_order(paths: list[Candidate]) -> None:
    unique = list({(p.source.name, p.path_id): p for p in paths}.values())
    expected = reference_select(unique)
    for order in permutations(unique):
        assert select(order) == expected


def test_reference_sources_are_distinct_objects() -> None:
    # The two e1 sessions must differ, or the "new session" case would test nothing.
    e1_old, e1_new = (s for s in SOURCES if s.name == "e1")
    assert isinstance(e1_old, Source) and e1_old != e1_new

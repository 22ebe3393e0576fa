"""The Loc-RIB: announce/withdraw bookkeeping, change coalescing, per-source removal, GR."""

from __future__ import annotations

import pytest

from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, pack_prefix
from bgpd.rib import (
    Candidate,
    CandidateCache,
    GracefulRestartTracker,
    LocRib,
    NextHopRefused,
    PathInfo,
    RouteChange,
    Source,
    SourceKind,
)
from bgpd.wire.attributes import PathAttributes

from .helpers import P1, P2, P3, attrs, cand, source

V4 = IPV4_UNICAST
V6 = IPV6_UNICAST
A = source("a", SourceKind.EBGP, asn=65001, router_id="10.0.0.1", address="10.0.0.1")
B = source("b", SourceKind.EBGP, asn=65002, router_id="10.0.0.2", address="10.0.0.2")
C = source("c", SourceKind.IBGP, router_id="10.0.0.3", address="10.0.0.3")


def ca(**kw: object) -> Candidate:
    return cand(A, attrs(path=(65001,), **kw), next_hop="192.0.2.1")  # type: ignore[arg-type]


def cb(**kw: object) -> Candidate:
    return cand(B, attrs(path=(65002,), **kw), next_hop="192.0.2.2")  # type: ignore[arg-type]


def summary(changes: list[RouteChange]) -> list[tuple[bytes, str | None, list[str]]]:
    return [
        (
            ch.nlri,
            None if ch.best is None else ch.best.source.name,
            [c.source.name for c in ch.multipath],
        )
        for ch in changes
    ]


# ------------------------------------------------------------------------ basic bookkeeping


def test_announce_shares_the_candidate_and_counts() -> None:
    rib = LocRib()
    a = ca()
    assert rib.announce_many(V4, [P1, P2, P3], a) == 3
    assert rib.count(V4) == (3, 3)
    assert rib.count(V6) == (0, 0)
    assert all(rib.best(V4, p) is a for p in (P1, P2, P3))
    assert rib.multipath(V4, P1) == (a,)
    assert rib.source_count("a") == 3
    assert rib.source_count("a", V6) == 0
    assert sorted(rib.iter_best(V4)) == sorted([(P1, a), (P2, a), (P3, a)])
    assert rib.families() == [V4]


def test_reannouncing_replaces_the_sources_path() -> None:
    rib = LocRib()
    rib.announce(V4, P1, ca(med=5))
    newer = ca(med=1)
    rib.announce(V4, P1, newer)
    assert rib.count(V4) == (1, 1)
    assert rib.candidates(V4, P1) == (newer,)
    assert rib.source_count("a") == 1


def test_second_source_adds_a_path_and_withdraw_returns_to_one() -> None:
    rib = LocRib()
    a, b = ca(), cb()
    rib.announce(V4, P1, a)
    rib.announce(V4, P1, b)
    assert rib.count(V4) == (1, 2)
    assert rib.best(V4, P1) is a
    assert rib.multipath(V4, P1) == (a, b)
    assert rib.withdraw(V4, P1, "a")
    assert rib.best(V4, P1) is b
    assert rib.count(V4) == (1, 1)
    assert not rib.withdraw(V4, P1, "a")  # already gone
    assert not rib.withdraw(V4, P1, "b", path_id=3)  # no such path id
    assert rib.withdraw(V4, P1, "b")
    assert rib.best(V4, P1) is None
    assert rib.multipath(V4, P1) == ()
    assert rib.count(V4) == (0, 0)
    assert rib.source_names() == []


def test_withdraw_of_unknown_prefix_or_source_is_ignored() -> None:
    rib = LocRib()
    rib.announce(V4, P1, ca())
    assert rib.withdraw_many(V4, [P2, P3], "a") == 0
    assert rib.withdraw_many(V4, [P1], "zz") == 0
    assert rib.withdraw_many(V6, [P1], "a") == 0
    a = rib.best(V4, P1)
    assert a is not None
    assert rib.take_changes() == [RouteChange(V4, P1, a, (a,))]
    rib.withdraw_many(V4, [P2], "a")
    assert rib.take_changes() == []


def test_add_path_ids_are_separate_paths_of_one_source() -> None:
    rib = LocRib()
    base = cand(C, attrs(), next_hop="10.9.0.1")
    other_hop = Candidate(
        source=C, info=PathInfo(attributes=attrs(), next_hop=bytes((10, 9, 0, 2)))
    )
    assert rib.announce_many(V4, [P1, P2], base, path_ids=[1, 1]) == 2
    assert rib.announce_many(V4, [P1], other_hop, path_ids=[2]) == 1
    assert rib.count(V4) == (2, 3)
    paths = rib.candidates(V4, P1)
    assert [p.path_id for p in paths] == [1, 2]
    assert paths[0].info is base.info
    # The candidate with path id 1 is built once and shared by both prefixes.
    assert rib.best(V4, P1) is rib.best(V4, P2)
    assert len(rib.multipath(V4, P1)) == 2  # two next hops: ECMP
    assert sorted(p.path_id for _, p in rib.source_routes("c", V4)) == [1, 1, 2]
    assert rib.withdraw(V4, P1, "c", path_id=1)
    assert rib.source_count("c") == 2
    assert [p.path_id for p in rib.candidates(V4, P1)] == [2]
    assert rib.withdraw(V4, P1, "c", path_id=2)
    assert rib.best(V4, P1) is None
    assert [n for n, _ in rib.source_routes("c", V4)] == [P2]


def test_withdraw_source_with_several_paths_of_its_own_at_one_prefix() -> None:
    rib = LocRib()
    rib.announce_many(V4, [P1, P1], cand(C, attrs()), path_ids=[1, 2])
    assert rib.count(V4) == (1, 2)
    assert rib.withdraw_source("c") == 2
    assert rib.count(V4) == (0, 0)
    assert rib.best(V4, P1) is None


def test_withdraw_many_with_path_ids() -> None:
    rib = LocRib()
    c = cand(C, attrs())
    rib.announce_many(V4, [P1, P2, P3], c, path_ids=[7, 8, 9])
    assert rib.withdraw_many(V4, [P1, P2, P3], "c", path_ids=[7, 0, 9]) == 2
    assert [n for n, _ in rib.source_routes("c", V4)] == [P2]


def test_families_are_separate_tables() -> None:
    rib = LocRib()
    v6 = pack_prefix("2001:db8::/32")
    rib.announce(V4, P1, ca())
    rib.announce(V6, v6, ca())
    assert rib.count(V4) == (1, 1)
    assert rib.count(V6) == (1, 1)
    assert rib.withdraw_source("a", [V6]) == 1
    assert rib.count(V6) == (0, 0)
    assert rib.count(V4) == (1, 1)
    assert rib.source_count("a") == 1


def test_withdraw_source_removes_only_that_sources_paths() -> None:
    rib = LocRib()
    a, b = ca(), cb()
    rib.announce_many(V4, [P1, P2], a)
    rib.announce_many(V4, [P2, P3], b)
    rib.take_changes()
    assert rib.withdraw_source("a") == 2
    assert rib.count(V4) == (2, 2)
    assert rib.best(V4, P2) is b
    assert sorted(summary(rib.take_changes())) == [(P1, None, []), (P2, "b", ["b"])]
    assert rib.withdraw_source("a") == 0
    assert rib.source_names() == ["b"]


# ------------------------------------------------------------------------------- changes


def test_take_changes_reports_new_best_and_multipath() -> None:
    rib = LocRib()
    a, b = ca(), cb()
    rib.announce_many(V4, [P1, P2], a)
    assert rib.changes_pending and rib.pending_count == 2
    assert rib.take_changes() == [
        RouteChange(V4, P1, a, (a,)),
        RouteChange(V4, P2, a, (a,)),
    ]
    assert not rib.changes_pending and rib.pending_count == 0
    assert rib.take_changes() == []
    # b joins the ECMP set of P1: best unchanged, multipath changed.
    rib.announce(V4, P1, b)
    assert rib.take_changes() == [RouteChange(V4, P1, a, (a, b))]


def test_an_ecmp_set_shrinking_to_its_best_path_is_reported() -> None:
    rib = LocRib()
    a, b = ca(), cb()
    rib.announce(V4, P1, a)
    rib.announce(V4, P1, b)
    assert rib.take_changes() == [RouteChange(V4, P1, a, (a, b))]
    rib.withdraw(V4, P1, "b")  # best unchanged, multipath (a, b) -> (a,)
    assert rib.take_changes() == [RouteChange(V4, P1, a, (a,))]


def test_a_worse_path_that_changes_nothing_is_not_reported() -> None:
    rib = LocRib()
    a = ca(local_pref=None)
    rib.announce(V4, P1, a)
    rib.take_changes()
    rib.announce(V4, P1, cb(origin=2))  # loses on ORIGIN: not in the ECMP set
    assert rib.count(V4) == (1, 2)
    assert rib.take_changes() == []
    rib.withdraw(V4, P1, "b")
    assert rib.take_changes() == []


def test_changes_coalesce_to_the_latest_state() -> None:
    rib = LocRib()
    rib.announce(V4, P1, ca(med=1))
    rib.announce(V4, P1, ca(med=2))
    last = ca(med=3)
    rib.announce(V4, P1, last)
    assert rib.take_changes() == [RouteChange(V4, P1, last, (last,))]


def test_an_undone_change_is_not_reported() -> None:
    rib = LocRib()
    a = ca()
    rib.announce(V4, P1, a)
    rib.take_changes()
    rib.withdraw(V4, P1, "a")
    rib.announce(V4, P1, ca())  # an equal path (new objects): same selection as before
    assert rib.take_changes() == []
    rib.announce(V4, P2, a)
    rib.withdraw(V4, P2, "a")  # appeared and vanished between two takes
    assert rib.take_changes() == []


def test_a_replaced_path_with_new_attributes_is_reported() -> None:
    rib = LocRib()
    rib.announce(V4, P1, ca(med=1))
    rib.take_changes()
    newer = ca(med=2)
    rib.announce(V4, P1, newer)
    assert rib.take_changes() == [RouteChange(V4, P1, newer, (newer,))]


def test_change_groups_put_prefixes_with_the_same_selection_together() -> None:
    rib = LocRib()
    a, b = ca(), cb()
    rib.announce_many(V4, [P1, P2, P3], a)
    rib.announce(V6, pack_prefix("2001:db8::/32"), b)
    groups = rib.take_change_groups()
    assert [(g.family, g.best, g.multipath, g.nlris) for g in groups] == [
        (V4, a, (a,), [P1, P2, P3]),
        (V6, b, (b,), [pack_prefix("2001:db8::/32")]),
    ]
    rib.announce_many(V4, [P1, P2], b)  # P1 and P2 become ECMP a+b (separate entries)
    rib.withdraw(V4, P3, "a")
    groups = rib.take_change_groups()
    assert [(g.best, g.multipath, g.nlris) for g in groups] == [
        (a, (a, b), [P1, P2]),
        (None, (), [P3]),
    ]
    rib.withdraw_source("a")  # P1, P2 fall back to b alone
    groups = rib.take_change_groups()
    assert [(g.best, g.multipath, sorted(g.nlris)) for g in groups] == [(b, (b,), [P1, P2])]
    assert rib.take_change_groups() == []


def test_iter_routes_lists_the_whole_table() -> None:
    rib = LocRib()
    a, b = ca(), cb()
    rib.announce_many(V4, [P1, P2], a)
    rib.announce(V4, P2, b)
    assert sorted(rib.iter_routes(V4)) == sorted(
        [RouteChange(V4, P1, a, (a,)), RouteChange(V4, P2, a, (a, b))]
    )


# ----------------------------------------------------------------------- graceful restart


def test_mark_stale_keeps_routes_usable_and_is_not_a_change() -> None:
    rib = LocRib()
    a, b = ca(), cb(local_pref=None)
    rib.announce_many(V4, [P1, P2], a)
    rib.announce(V4, P2, b)
    rib.take_changes()
    assert rib.mark_stale("a", [V4, V6]) == 2
    assert rib.mark_stale("a", [V4]) == 0  # already stale
    assert rib.stale_count("a", V4) == 2
    assert rib.stale_count("b", V4) == 0
    best = rib.best(V4, P1)
    assert best is not None and best.stale and best.same_path(a)
    # The shared candidate stays shared: one stale twin for both prefixes.
    assert rib.best(V4, P2) is best
    assert rib.multipath(V4, P2)[0] is best
    assert rib.take_changes() == []


def test_reannounce_clears_stale_and_sweep_removes_the_rest() -> None:
    rib = LocRib()
    rib.announce_many(V4, [P1, P2, P3], ca())
    rib.announce(V4, P3, cb())
    rib.take_changes()
    rib.mark_stale("a", [V4])
    # The peer is back and re-announces P1 only.
    fresh = ca()
    rib.announce(V4, P1, fresh)
    assert rib.stale_count("a", V4) == 2
    assert rib.take_changes() == []  # P1: same path as before the restart
    assert rib.sweep_stale("a", V4) == 2
    assert rib.best(V4, P1) is fresh and not fresh.stale
    b_best = rib.best(V4, P3)
    assert b_best is not None and b_best.source.name == "b"
    # Per-source removals walk a set: their order is unspecified.
    assert sorted(summary(rib.take_changes())) == [(P2, None, []), (P3, "b", ["b"])]
    assert rib.sweep_stale("a", V4) == 0
    assert rib.count(V4) == (2, 2)


def test_sweep_of_a_source_with_nothing_left_forgets_it() -> None:
    rib = LocRib()
    rib.announce(V4, P1, ca())
    rib.mark_stale("a", [V4])
    assert rib.sweep_stale("a", V4) == 1
    assert rib.source_names() == []
    assert rib.sweep_stale("a", V4) == 0
    assert rib.mark_stale("a", [V4]) == 0


def test_stale_path_replaced_by_the_new_session_source() -> None:
    """After a restart the peer's session has a new Source (same name, new router id)."""
    rib = LocRib()
    rib.announce(V4, P1, ca())
    rib.take_changes()
    rib.mark_stale("a", [V4])
    new_a = source("a", SourceKind.EBGP, asn=65001, router_id="10.0.0.7", address="10.0.0.1")
    fresh = cand(new_a, attrs(path=(65001,)), next_hop="192.0.2.1")
    rib.announce(V4, P1, fresh)
    assert rib.candidates(V4, P1) == (fresh,)
    assert rib.take_changes() == [RouteChange(V4, P1, fresh, (fresh,))]  # router id moved


def test_graceful_restart_end_to_end_with_the_tracker() -> None:
    rib = LocRib()
    gr = GracefulRestartTracker(stale_time=100)
    rib.announce_many(V4, [P1, P2], ca())
    rib.announce(V6, pack_prefix("2001:db8::/32"), ca())
    rib.take_changes()
    # Session down gracefully at t=0 with GR for v4 only: v6 goes now, v4 is held.
    assert gr.peer_down("a", [V4], restart_time=120, now=0.0) == []
    rib.withdraw_source("a", [V6])
    rib.mark_stale("a", [V4])
    assert summary(rib.take_changes()) == [(pack_prefix("2001:db8::/32"), None, [])]
    assert gr.next_deadline() == 120.0
    # Back at t=30, forwarding preserved for v4; the peer re-sends P2 and End-of-RIB.
    assert gr.session_up("a", [V4], now=30.0) == []
    assert gr.next_deadline() == 130.0
    rib.announce(V4, P2, ca())
    assert gr.end_of_rib("a", V4)
    assert rib.sweep_stale("a", V4) == 1
    assert summary(rib.take_changes()) == [(P1, None, [])]
    assert gr.next_deadline() is None


# ------------------------------------------------------------------------- import cache


def test_candidate_cache_shares_one_candidate_per_path_and_remembers_loops() -> None:
    looped: list[PathAttributes] = []

    def loops(a: PathAttributes) -> bool:
        looped.append(a)
        return a.med == 666

    cache = CandidateCache(A, loops)
    a = attrs(path=(65001,))
    hop = bytes((192, 0, 2, 1))
    first = cache.candidate(a, hop)
    assert first is not None and first.source is A
    assert first.info == PathInfo(attributes=a, next_hop=hop)
    assert cache.candidate(a, hop) is first
    # A different next hop is a different path.
    other = cache.candidate(a, bytes((192, 0, 2, 2)))
    assert other is not None and other is not first
    assert other.info.next_hop == bytes((192, 0, 2, 2))
    # Both next hops of the set stay cached: each gets its own candidate back.
    assert cache.candidate(a, bytes((192, 0, 2, 2))) is other
    assert cache.candidate(a, hop) is first
    bad = attrs(med=666)
    assert cache.candidate(bad, hop) is None
    assert cache.candidate(bad, hop) is None
    assert looped == [a, a, bad]  # one loop check per distinct path


def test_candidate_cache_checks_the_next_hop_per_path() -> None:
    refused_hop = bytes((192, 0, 2, 9))
    cache = CandidateCache(A, next_hop_problem=lambda h: "unusable" if h == refused_hop else None)
    a = attrs(path=(65001,))
    good = cache.candidate(a, bytes((192, 0, 2, 1)))
    assert type(good) is Candidate
    refused = cache.candidate(a, refused_hop)
    assert isinstance(refused, NextHopRefused) and refused.reason == "unusable"
    assert cache.candidate(a, refused_hop) is refused
    assert cache.candidate(a, bytes((192, 0, 2, 1))) is good
    # Refused first, usable second: the same set with the other hop is a candidate.
    b = attrs(path=(65002,))
    assert isinstance(cache.candidate(b, refused_hop), NextHopRefused)
    assert type(cache.candidate(b, bytes((192, 0, 2, 1)))) is Candidate


def test_candidate_cache_is_bounded() -> None:
    cache = CandidateCache(A, max_size=2)
    sets = [attrs(med=i) for i in range(3)]
    hop = b"\x01\x02\x03\x04"
    first = cache.candidate(sets[0], hop)
    cache.candidate(sets[1], hop)
    cache.candidate(sets[2], hop)  # clears, then holds the third
    again = cache.candidate(sets[0], hop)
    assert again is not first and again == first


def test_values_reject_bad_fields() -> None:
    with pytest.raises(ValueError, match="name"):
        source("", SourceKind.STATIC)
    with pytest.raises(ValueError, match="octets"):
        Source(name="x", kind=SourceKind.IBGP, address=b"\x01")
    with pytest.raises(ValueError, match="32-bit"):
        Source(name="x", kind=SourceKind.IBGP, router_id=1 << 32)
    with pytest.raises(ValueError, match="path id"):
        Candidate(source=A, info=PathInfo(attributes=attrs(), next_hop=b""), path_id=-1)


# ----------------------------------------------------------- big sources without an index


def test_a_source_past_the_index_limit_is_found_by_scanning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("bgpd.rib.loc_rib.INDEX_LIMIT", 2)
    rib = LocRib()
    a, b = ca(), cb()
    big = [pack_prefix(f"10.{i}.0.0/16") for i in range(6)]
    rib.announce_many(V4, big, a)  # six prefixes: past the limit, no index kept
    rib.announce_many(V4, [big[0], P1], b)
    rib.take_changes()
    assert sorted(n for n, _ in rib.source_routes("a", V4)) == sorted(big)
    assert rib.withdraw_many(V4, [big[5]], "a") == 1
    assert rib.mark_stale("a", [V4]) == 5
    assert rib.stale_count("a", V4) == 5
    rib.announce_many(V4, big[:2], a)  # refreshed; the other three stay stale
    assert rib.sweep_stale("a", V4) == 3
    assert rib.count(V4) == (3, 4)  # big[0] (a and b), big[1], P1
    assert rib.withdraw_source("a") == 2
    assert rib.source_names() == ["b"]
    assert rib.count(V4) == (2, 2)

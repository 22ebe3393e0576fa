"""What the Loc-RIB's consumers were last told (`best_at_take`, `best_before_take`,
`iter_best_at_take`, `taken`): the views a derived Adj-RIB-Out reads what it sent from."""

from __future__ import annotations

from bgpd.net import IPV4_UNICAST
from bgpd.rib import Candidate, LocRib, SourceKind

from .helpers import P1, P2, P3, attrs, cand, source

V4 = IPV4_UNICAST
A = source("a", SourceKind.EBGP, asn=65001, router_id="10.0.0.1", address="10.0.0.1")
B = source("b", SourceKind.EBGP, asn=65002, router_id="10.0.0.2", address="10.0.0.2")


def ca(med: int = 0) -> Candidate:
    return cand(A, attrs(path=(65001,), med=med), next_hop="192.0.2.1")


def cb() -> Candidate:
    return cand(B, attrs(path=(65002, 65002)), next_hop="192.0.2.2")


def test_between_takes_the_views_keep_what_the_last_take_reported() -> None:
    rib = LocRib()
    a, b = ca(), cb()
    rib.announce_many(V4, [P1, P2], a)
    rib.take_change_groups()
    # Moves after the take: P1 gets a second (worse) path, P2 goes, P3 appears.
    rib.announce(V4, P1, b)
    rib.withdraw(V4, P2, "a")
    rib.announce(V4, P3, b)
    assert rib.best_at_take(V4, P1) is a
    assert rib.best_at_take(V4, P2) is a  # withdrawn since: still what was reported
    assert rib.best_at_take(V4, P3) is None  # new since: nothing reported yet
    assert dict(rib.iter_best_at_take(V4)) == {P1: a, P2: a}
    assert set(rib.moved_since_take(V4)) == {P1, P2, P3}
    assert dict(rib.iter_best(V4)) == {P1: a, P3: b}  # the table itself moved on


def test_after_a_take_the_before_view_is_the_take_before() -> None:
    rib = LocRib()
    a, a2, b = ca(), ca(med=5), cb()
    rib.announce_many(V4, [P1, P2], a)
    rib.take_change_groups()
    rib.announce(V4, P1, a2)  # replaced
    rib.withdraw(V4, P2, "a")  # withdrawn
    rib.announce(V4, P3, b)  # new
    rib.take_change_groups()
    taken = rib.taken(V4)
    assert taken[P3] is None  # had no path before: the bulk case a consumer tests first
    assert taken[P1] is not None and taken[P2] is not None
    assert rib.best_before_take(V4, P1) is a
    assert rib.best_before_take(V4, P2) is a
    assert rib.best_before_take(V4, P3) is None
    # Now the consumers were told: the at-take view is the table.
    assert rib.best_at_take(V4, P1) is a2
    assert rib.best_at_take(V4, P2) is None
    assert dict(rib.iter_best_at_take(V4)) == {P1: a2, P3: b}
    # Moves after a take leave the before view alone until the next take.
    rib.announce(V4, P2, b)
    assert rib.best_before_take(V4, P2) is a
    rib.take_change_groups()
    assert rib.best_before_take(V4, P2) is None  # it had no path at the take before
    assert rib.best_before_take(V4, P1) is a2  # not in this take: as the table holds it


def test_the_flat_take_keeps_its_before_view_too() -> None:
    rib = LocRib()
    a = ca()
    rib.announce(V4, P1, a)
    rib.take_changes()
    rib.withdraw(V4, P1, "a")
    rib.take_changes()
    assert rib.best_before_take(V4, P1) is a
    assert rib.best_at_take(V4, P1) is None


# ------------------------------------------------------------- fresh batches (a first load)


def test_a_first_load_is_reported_as_fresh_batches_with_nothing_remembered() -> None:
    rib = LocRib()
    a, b = ca(), cb()
    rib.announce_many(V4, [P1, P2], a)
    rib.announce_many(V4, [P3], b)
    rib.announce_many(V4, [P1], a)  # the same announcement again: nothing moved
    assert rib.changes_pending and rib.pending_count == 3
    groups = rib.take_change_groups()
    assert [(g.best, g.nlris, g.fresh) for g in groups] == [(a, [P1, P2], True), (b, [P3], True)]
    assert not rib.taken(V4)  # nothing was remembered per prefix
    assert rib.best_before_take(V4, P1) is None and rib.best_before_take(V4, P3) is None


def test_a_change_after_a_fresh_batch_keeps_the_fresh_prefixes_before_as_nothing() -> None:
    rib = LocRib()
    a, a2, b = ca(), ca(med=5), cb()
    rib.announce_many(V4, [P1, P2], a)
    assert rib.best_at_take(V4, P1) is None  # a reader settles the batch: still nothing told
    rib.announce(V4, P1, a2)  # P1 replaced in the same take period: not fresh any more
    rib.withdraw(V4, P2, "a")  # P2 gone again: no change at all
    rib.announce_many(V4, [P3], b)  # after a remembered change: the general way
    groups = rib.take_change_groups()
    assert sorted((g.nlris[0], g.best is a2 or g.best is b, g.fresh) for g in groups) == [
        (P1, True, False),
        (P3, True, False),
    ]
    assert rib.best_before_take(V4, P1) is None
    assert rib.best_before_take(V4, P2) is None


def test_a_batch_partly_held_is_remembered_prefix_by_prefix() -> None:
    rib = LocRib()
    a, b = ca(), cb()
    rib.announce_many(V4, [P2], b)
    rib.take_change_groups()
    rib.announce_many(V4, [P1, P2, P3], a)  # P1 new, P2 held by b, P3 new
    groups = rib.take_change_groups()
    assert [(g.best, g.nlris) for g in groups] == [(a, [P1, P2, P3])]  # a beats b's longer path
    assert groups[0].fresh is False
    assert rib.best_before_take(V4, P2) is b
    assert rib.best_before_take(V4, P1) is None and rib.best_before_take(V4, P3) is None


def test_stale_marking_after_a_fresh_batch_reports_the_table_s_object() -> None:
    rib = LocRib()
    a = ca()
    rib.announce_many(V4, [P1, P2], a)
    assert rib.mark_stale("a", [V4]) == 2
    (group,) = rib.take_change_groups()
    assert group.best is rib.best(V4, P1) and group.best is not None and group.best.stale


def test_a_fresh_batch_repeating_a_prefix_holds_it_once() -> None:
    rib = LocRib()
    a = ca()
    assert rib.announce_many(V4, [P1, P2, P1], a) == 2
    assert rib.count(V4) == (2, 2) and rib.pending_count == 2
    (group,) = rib.take_change_groups()
    assert group.nlris == [P1, P2] and group.fresh

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

"""The decision process, one tie-break per case, each in both orders, plus the ECMP sets.

Every case is a pair (winner, loser) that differs in the step under test and is equal in
every earlier step; later steps are arranged to favour the LOSER, so the case only passes
when that very step decides.
"""

from __future__ import annotations

from itertools import permutations

import pytest

from bgpd.net import IPV4_UNICAST
from bgpd.rib import Candidate, LocRib, SourceKind, best_path, prefer, rank, select
from bgpd.wire.constants import Origin

from .helpers import P1, attrs, cand, source

IBGP = SourceKind.IBGP
EBGP = SourceKind.EBGP

# Sources whose later tie-breaks favour the second one ("late"): lower router id and address.
early_i = source("early-i", IBGP, router_id="10.0.0.9", address="10.0.0.9")
late_i = source("late-i", IBGP, router_id="10.0.0.1", address="10.0.0.1")
early_e = source("early-e", EBGP, asn=65001, router_id="10.0.0.9", address="10.0.0.9")
late_e = source("late-e", EBGP, asn=65001, router_id="10.0.0.1", address="10.0.0.1")
other_as_e = source("other-as", EBGP, asn=65002, router_id="10.0.0.1", address="10.0.0.1")
static = source("static", SourceKind.STATIC)
kernel = source("kernel", SourceKind.KERNEL)
connected = source("direct", SourceKind.CONNECTED)

CASES: list[tuple[str, Candidate, Candidate]] = [
    # (1) LOCAL_PREF, highest wins; absent means 100.
    (
        "local-pref higher wins",
        cand(early_i, attrs(local_pref=200, path=(1, 2, 3))),
        cand(late_i, attrs(local_pref=100)),
    ),
    (
        "local-pref absent counts as 100, beats 99",
        cand(early_i, attrs(local_pref=None)),
        cand(late_i, attrs(local_pref=99)),
    ),
    (
        "local-pref 101 beats absent",
        cand(early_i, attrs(local_pref=101)),
        cand(late_i, attrs(local_pref=None)),
    ),
    (
        "local-pref beats eBGP over iBGP",
        cand(early_i, attrs(local_pref=150)),
        cand(late_e, attrs(path=(65001,))),
    ),
    (
        "iBGP local-pref above 100 beats a static route",
        cand(early_i, attrs(local_pref=150, path=(1, 2))),
        cand(static, attrs()),
    ),
    # (1b) locally originated over BGP at equal local-pref; connected > static > kernel.
    (
        "static beats eBGP at equal local-pref",
        cand(static, attrs(origin=Origin.INCOMPLETE, path=(1, 2, 3))),
        cand(late_e, attrs(path=(65001,))),
    ),
    (
        "kernel beats iBGP at equal local-pref",
        cand(kernel, attrs(origin=Origin.INCOMPLETE)),
        cand(late_i, attrs()),
    ),
    (
        "connected beats static",
        cand(connected, attrs(origin=Origin.INCOMPLETE, path=(1,))),
        cand(static, attrs()),
    ),
    (
        "static beats kernel",
        cand(static, attrs(origin=Origin.INCOMPLETE, path=(1,))),
        cand(kernel, attrs()),
    ),
    # (2) shortest AS_PATH; an AS_SET counts one.
    (
        "shorter AS_PATH wins",
        cand(early_e, attrs(path=(65001,), origin=Origin.INCOMPLETE)),
        cand(late_e, attrs(path=(65001, 3))),
    ),
    (
        "an AS_SET counts as one AS",
        cand(early_e, attrs(path=(65001,), as_set=(7, 8, 9), origin=Origin.INCOMPLETE)),
        cand(late_e, attrs(path=(65001, 3, 4))),
    ),
    # (3) lowest ORIGIN.
    (
        "IGP beats EGP",
        cand(early_e, attrs(path=(65001,), origin=Origin.IGP, med=50)),
        cand(late_e, attrs(path=(65001,), origin=Origin.EGP)),
    ),
    (
        "EGP beats INCOMPLETE",
        cand(early_e, attrs(path=(65001,), origin=Origin.EGP, med=50)),
        cand(late_e, attrs(path=(65001,), origin=Origin.INCOMPLETE)),
    ),
    # (4) lowest MED, only within one neighbour AS; missing MED is 0.
    (
        "lower MED wins within one neighbour AS",
        cand(early_e, attrs(path=(65001,), med=10)),
        cand(late_e, attrs(path=(65001,), med=20)),
    ),
    (
        "missing MED counts as 0",
        cand(early_e, attrs(path=(65001,), med=None)),
        cand(late_e, attrs(path=(65001,), med=1)),
    ),
    (
        "MED is compared between iBGP routes originated in our AS",
        cand(early_i, attrs(med=5)),
        cand(late_i, attrs(med=6)),
    ),
    (
        "MED is not compared across neighbour ASes: router id decides",
        cand(other_as_e, attrs(path=(65002,), med=500)),
        cand(early_e, attrs(path=(65001,), med=1)),
    ),
    # (5) eBGP over iBGP.
    (
        "eBGP beats iBGP",
        cand(early_e, attrs(path=(65001,))),
        cand(late_i, attrs(path=(65001,))),
    ),
    # (6) lowest ORIGINATOR_ID or router id.
    (
        "lower router id wins",
        cand(source("a", IBGP, router_id="10.0.0.1", address="10.0.0.9"), attrs()),
        cand(source("b", IBGP, router_id="10.0.0.2", address="10.0.0.1"), attrs()),
    ),
    (
        "ORIGINATOR_ID stands in for the router id (RFC 4456 §9)",
        cand(source("a", IBGP, router_id="10.0.0.9", address="10.0.0.9"), attrs()),
        cand(late_i, attrs(originator_id="10.0.0.10")),
    ),
    (
        "a low ORIGINATOR_ID beats a lower router id without one",
        cand(early_i, attrs(originator_id="1.1.1.1")),
        cand(source("b", IBGP, router_id="1.1.1.2", address="10.0.0.1"), attrs()),
    ),
    # (7) shortest CLUSTER_LIST.
    (
        "shorter CLUSTER_LIST wins",
        cand(
            source("a", IBGP, router_id="10.0.0.5", address="10.0.0.9"),
            attrs(originator_id="1.1.1.1", cluster_list=("2.2.2.2",)),
        ),
        cand(
            source("b", IBGP, router_id="10.0.0.6", address="10.0.0.1"),
            attrs(originator_id="1.1.1.1", cluster_list=("2.2.2.2", "3.3.3.3")),
        ),
    ),
    # (8) lowest peer address.
    (
        "lower peer address wins",
        cand(source("b", IBGP, router_id="10.0.0.5", address="10.0.0.2"), attrs(), path_id=9),
        cand(source("a", IBGP, router_id="10.0.0.5", address="10.0.0.3"), attrs(), path_id=1),
    ),
    # (9) lowest path id, then source name.
    (
        "lower path id wins",
        cand(source("b", IBGP, router_id="10.0.0.5"), attrs(), path_id=1),
        cand(source("a", IBGP, router_id="10.0.0.5"), attrs(), path_id=2),
    ),
    (
        "source name decides when all else is equal",
        cand(source("a", IBGP, router_id="10.0.0.5"), attrs()),
        cand(source("b", IBGP, router_id="10.0.0.5"), attrs()),
    ),
]


@pytest.mark.parametrize(("winner", "loser"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_tie_break_in_both_orders(winner: Candidate, loser: Candidate) -> None:
    assert select((winner, loser))[0] is winner
    assert select((loser, winner))[0] is winner
    assert prefer(loser, winner) is winner
    assert rank((loser, winner)) == (winner, loser)


@pytest.mark.parametrize(("winner", "loser"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_tie_break_through_the_loc_rib_in_both_orders(winner: Candidate, loser: Candidate) -> None:
    for order in ((winner, loser), (loser, winner)):
        rib = LocRib()
        for c in order:
            rib.announce(IPV4_UNICAST, P1, c)
        assert rib.best(IPV4_UNICAST, P1) is winner
        assert rib.candidates(IPV4_UNICAST, P1) == (winner, loser)
        # Withdrawing the winner leaves the loser as best.
        assert rib.withdraw(IPV4_UNICAST, P1, winner.source.name, winner.path_id)
        assert rib.best(IPV4_UNICAST, P1) is loser


def test_every_step_of_the_chain_has_a_case() -> None:
    names = " ".join(c[0] for c in CASES)
    for word in (
        "local-pref",
        "static",
        "kernel",
        "connected",
        "AS_PATH",
        "IGP",
        "MED",
        "eBGP beats iBGP",
        "router id",
        "ORIGINATOR_ID",
        "CLUSTER_LIST",
        "peer address",
        "path id",
        "source name",
    ):
        assert word in names, word


def test_med_elimination_does_not_depend_on_order() -> None:
    """RFC 4271 §9.1.2.2 c over a set: C's lower MED removes A (same neighbour AS), then B
    beats C on router id. Pairwise comparison in arrival order would give A or C."""
    a = cand(
        source("a", EBGP, asn=65001, router_id="10.0.0.1", address="10.0.0.1"),
        attrs(path=(65001,), med=10),
        next_hop="192.0.2.1",
    )
    b = cand(
        source("b", EBGP, asn=65002, router_id="10.0.0.2", address="10.0.0.2"),
        attrs(path=(65002,)),
        next_hop="192.0.2.2",
    )
    c = cand(
        source("c", EBGP, asn=65001, router_id="10.0.0.3", address="10.0.0.3"),
        attrs(path=(65001,), med=5),
        next_hop="192.0.2.3",
    )
    for order in permutations((a, b, c)):
        best, multipath = select(order)
        assert best is b
        assert multipath == (b, c)  # A lost on MED: not equal through step 4
        rib = LocRib()
        for path in order:
            rib.announce(IPV4_UNICAST, P1, path)
        assert rib.best(IPV4_UNICAST, P1) is b
        assert rib.multipath(IPV4_UNICAST, P1) == (b, c)
    # Ranked: B, then of {A, C} the lower MED of their common neighbour AS.
    assert rank((a, b, c)) == (b, c, a)
    assert best_path((a, c)) is c
    assert best_path((a, b)) is a  # different neighbour ASes: router id


def test_rank_is_repeated_selection() -> None:
    x = cand(late_i, attrs(local_pref=300))
    y = cand(early_i, attrs(local_pref=200))
    z = cand(source("z", IBGP, router_id="10.0.0.3"), attrs(local_pref=100))
    assert rank((z, x, y)) == (x, y, z)


def test_stale_does_not_take_part_in_the_decision() -> None:
    fresh_loser = cand(late_i, attrs(local_pref=100))
    stale_winner = cand(early_i, attrs(local_pref=200)).as_stale()
    assert stale_winner.stale
    assert select((fresh_loser, stale_winner))[0] is stale_winner


# --------------------------------------------------------------------------------------- ECMP


def ebgp(name: str, asn: int, rid: str, **kw: object) -> Candidate:
    hop = str(kw.pop("next_hop", f"192.0.2.{rid.rsplit('.', 1)[1]}"))
    a = attrs(path=(asn,), **kw)  # type: ignore[arg-type]
    return cand(source(name, EBGP, asn=asn, router_id=rid, address=rid), a, next_hop=hop)


def test_ecmp_equal_paths_through_step_5_with_distinct_next_hops() -> None:
    a = ebgp("a", 65001, "10.0.0.1")
    b = ebgp("b", 65002, "10.0.0.2")
    c = ebgp("c", 65003, "10.0.0.3")
    for order in permutations((a, b, c)):
        assert select(order) == (a, (a, b, c))


def test_ecmp_deduplicates_next_hops_keeping_the_better_path() -> None:
    a = ebgp("a", 65001, "10.0.0.1", next_hop="192.0.2.7")
    b = ebgp("b", 65002, "10.0.0.2", next_hop="192.0.2.9")
    c = ebgp("c", 65003, "10.0.0.3", next_hop="192.0.2.7")
    for order in permutations((a, b, c)):
        assert select(order) == (a, (a, b))
    assert select((b, c)) == (b, (b, c))
    assert select((a, c)) == (a, (a,))


@pytest.mark.parametrize(
    ("other", "why"),
    [
        (ebgp("b", 65002, "10.0.0.2", local_pref=None, origin=Origin.EGP), "origin"),
        (ebgp("b", 65001, "10.0.0.2", med=7), "MED within the same neighbour AS"),
        (
            cand(
                source("b", EBGP, asn=65002, router_id="10.0.0.2", address="10.0.0.2"),
                attrs(path=(65002, 1)),
                next_hop="192.0.2.2",
            ),
            "AS_PATH length",
        ),
        (
            cand(
                source("b", IBGP, router_id="10.0.0.2", address="10.0.0.2"),
                attrs(path=(65001,)),
                next_hop="192.0.2.2",
            ),
            "iBGP beside an eBGP best",
        ),
    ],
)
def test_ecmp_excludes_paths_that_lose_before_step_6(other: Candidate, why: str) -> None:
    a = ebgp("a", 65001, "10.0.0.1")
    for order in ((a, other), (other, a)):
        assert select(order) == (a, (a,)), why


def test_ecmp_across_neighbour_ases_ignores_their_meds() -> None:
    a = ebgp("a", 65001, "10.0.0.1", med=100)
    b = ebgp("b", 65002, "10.0.0.2", med=5)
    assert select((b, a)) == (a, (a, b))


def test_ecmp_of_ibgp_paths_from_a_reflector() -> None:
    """Calico service IPs: every node announces the same prefix; all are equal iBGP paths."""
    nodes = [
        cand(
            source(f"node{i}", IBGP, router_id=f"10.0.0.{i}", address=f"10.0.0.{i}"),
            attrs(local_pref=100, originator_id=f"10.0.0.{i}", cluster_list=("1.1.1.1",)),
            next_hop=f"10.0.0.{i}",
        )
        for i in (5, 3, 4)
    ]
    best, multipath = select(nodes)
    assert best is nodes[1]
    assert [c.source.name for c in multipath] == ["node3", "node4", "node5"]


def test_a_single_path_is_its_own_ecmp_set() -> None:
    a = ebgp("a", 65001, "10.0.0.1")
    assert select((a,)) == (a, (a,))

"""Long-lived graceful restart in the RIB (RFC 9494): the lowest preference, the long-lived
phase of the tracker, and turning stale paths into LLGR_STALE ones (NO_LLGR ones go)."""

from __future__ import annotations

from bgpd.net import IPV4_UNICAST, IPV6_UNICAST
from bgpd.rib import GracefulRestartTracker, LocRib, SourceKind, select
from bgpd.rib.decision import LLGR_STALE, NO_LLGR
from bgpd.rib.long_lived import as_long_lived, is_long_lived_stale, mark_long_lived

from .helpers import P1, P2, P3, attrs, cand, source

IBGP = SourceKind.IBGP
# The stale path's source wins every other step (higher local pref, shorter path, lower id).
strong = source("strong", IBGP, router_id="10.0.0.1", address="10.0.0.1")
weak = source("weak", IBGP, router_id="10.0.0.9", address="10.0.0.9")


def test_any_path_beats_a_long_lived_stale_one() -> None:
    stale = as_long_lived(cand(strong, attrs(local_pref=500)))
    fresh = cand(weak, attrs(local_pref=10, path=(1, 2, 3, 4)), next_hop="192.0.2.9")
    assert is_long_lived_stale(stale) and stale.stale
    for order in ((stale, fresh), (fresh, stale)):
        best, multipath = select(order)
        assert best is fresh
        assert multipath == (fresh,)  # a long-lived stale path is not an ECMP partner either
    assert select((stale,))[0] is stale  # alone, it still forwards


def test_a_received_llgr_stale_route_is_least_preferred_too() -> None:
    received = cand(strong, attrs(local_pref=500).replace(communities=(LLGR_STALE,)))
    fresh = cand(weak, attrs(local_pref=10), next_hop="192.0.2.9")
    assert select((received, fresh))[0] is fresh


def test_mark_long_lived_adds_the_community_keeps_stale_and_drops_no_llgr() -> None:
    rib = LocRib()
    plain = cand(strong, attrs().replace(communities=(0xFDE80001,)))
    refused = cand(strong, attrs().replace(communities=(NO_LLGR,)), next_hop="192.0.2.7")
    rib.announce_many(IPV4_UNICAST, [P1, P2], plain)
    rib.announce_many(IPV4_UNICAST, [P3], refused)
    rib.take_changes()
    rib.mark_stale("strong", [IPV4_UNICAST])
    assert rib.take_changes() == []  # GR staleness is not a routing change
    marked = mark_long_lived(rib, "strong", IPV4_UNICAST)
    assert (marked.kept, marked.dropped) == (2, 1)
    changes = {c.nlri: c for c in rib.take_changes()}
    assert set(changes) == {P1, P2, P3}  # the community is news to peers; P3 is gone
    assert changes[P3].best is None
    p1, p2 = changes[P1].best, changes[P2].best
    assert p1 is p2 and p1 is not None  # the batch stays one shared path
    assert p1.stale and p1.info.attributes.communities == (0xFDE80001, LLGR_STALE)
    assert p1.info.next_hop == plain.info.next_hop  # forwarding unchanged
    assert rib.sweep_stale("strong", IPV4_UNICAST) == 2  # End-of-RIB or the timer sweeps them


def test_tracker_enters_the_long_lived_phase_after_the_restart_time() -> None:
    gr = GracefulRestartTracker()
    ll = {IPV4_UNICAST: 60.0}
    assert gr.peer_down("p", [IPV4_UNICAST, IPV6_UNICAST], 3, now=0, long_lived=ll) == []
    assert gr.next_deadline() == 3
    # v6 negotiated GR only: swept at the restart time; v4 enters the long-lived phase.
    assert gr.handle_timer(3) == [("p", IPV6_UNICAST)]
    assert gr.take_long_lived() == [("p", IPV4_UNICAST)]
    assert gr.take_long_lived() == []
    assert gr.long_lived("p") == {IPV4_UNICAST}
    assert gr.restarting("p")
    assert gr.next_deadline() == 63
    assert gr.handle_timer(62) == []
    assert gr.handle_timer(63) == [("p", IPV4_UNICAST)]
    assert gr.peers() == [] and gr.next_deadline() is None


def test_restart_time_zero_goes_long_lived_at_once() -> None:
    gr = GracefulRestartTracker()
    gr.peer_down("p", [IPV4_UNICAST], 0, now=10, long_lived={IPV4_UNICAST: 5.0})
    assert gr.handle_timer(10) == []
    assert gr.take_long_lived() == [("p", IPV4_UNICAST)]


def test_peer_back_in_the_long_lived_phase_waits_for_end_of_rib() -> None:
    gr = GracefulRestartTracker(stale_time=100)
    gr.peer_down(
        "p",
        [IPV4_UNICAST, IPV6_UNICAST],
        3,
        now=0,
        long_lived={IPV4_UNICAST: 60.0, IPV6_UNICAST: 60.0},
    )
    gr.handle_timer(3)
    assert len(gr.take_long_lived()) == 2
    # Back at 20 preserving v4 only: v6 goes now, v4 waits for its End-of-RIB.
    assert gr.session_up("p", {IPV4_UNICAST}, now=20) == [IPV6_UNICAST]
    assert gr.long_lived("p") == frozenset()
    assert gr.next_deadline() == 120  # the stale-routes timer, not the long-lived one
    assert gr.end_of_rib("p", IPV4_UNICAST)
    assert gr.peers() == []


def test_without_long_lived_families_the_restart_timer_sweeps_as_before() -> None:
    gr = GracefulRestartTracker()
    gr.peer_down("p", [IPV4_UNICAST], 3, now=0)
    assert gr.handle_timer(3) == [("p", IPV4_UNICAST)]
    assert gr.take_long_lived() == []

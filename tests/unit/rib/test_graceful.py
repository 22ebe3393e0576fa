"""Graceful Restart helper timers (RFC 4724 §4.2) on a fake clock."""

from __future__ import annotations

import pytest

from bgpd.net import IPV4_UNICAST, IPV6_UNICAST
from bgpd.rib import DEFAULT_STALE_TIME, GracefulRestartTracker

V4 = IPV4_UNICAST
V6 = IPV6_UNICAST


def test_restart_timer_expiry_sweeps_every_held_family() -> None:
    gr = GracefulRestartTracker()
    assert gr.peer_down("p", [V6, V4], restart_time=120, now=10.0) == []
    assert gr.restarting("p")
    assert gr.stale_families("p") == {V4, V6}
    assert gr.deadline("p") == 130.0
    assert gr.next_deadline() == 130.0
    assert gr.handle_timer(129.9) == []
    assert gr.handle_timer(130.0) == [("p", V4), ("p", V6)]
    assert gr.next_deadline() is None
    assert not gr.restarting("p")
    assert gr.peers() == []


def test_end_of_rib_sweeps_each_family_and_the_stale_timer_the_rest() -> None:
    gr = GracefulRestartTracker(stale_time=50)
    gr.peer_down("p", [V4, V6], restart_time=120, now=0.0)
    assert not gr.end_of_rib("p", V4)  # no session yet: cannot be
    assert gr.session_up("p", [V4, V6], now=20.0) == []
    assert not gr.restarting("p")
    assert gr.next_deadline() == 70.0  # the stale-routes timer replaced the restart timer
    assert gr.end_of_rib("p", V4)
    assert not gr.end_of_rib("p", V4)  # once
    assert gr.stale_families("p") == {V6}
    assert gr.handle_timer(69.0) == []
    assert gr.handle_timer(70.0) == [("p", V6)]
    assert gr.peers() == []


def test_families_the_new_open_does_not_preserve_are_swept_at_once() -> None:
    gr = GracefulRestartTracker()
    gr.peer_down("p", [V4, V6], restart_time=120, now=0.0)
    # RFC 4724 §4.2: F bit clear (or family absent) for v6 in the new OPEN.
    assert gr.session_up("p", [V4], now=5.0) == [V6]
    assert gr.stale_families("p") == {V4}
    assert gr.end_of_rib("p", V4)
    assert gr.next_deadline() is None


def test_no_gr_capability_on_the_new_session_sweeps_everything() -> None:
    gr = GracefulRestartTracker()
    gr.peer_down("p", [V4, V6], restart_time=120, now=0.0)
    assert gr.session_up("p", [], now=5.0) == [V4, V6]
    assert gr.peers() == []


def test_consecutive_restart_sweeps_what_is_still_stale_first() -> None:
    gr = GracefulRestartTracker()
    gr.peer_down("p", [V4, V6], restart_time=120, now=0.0)
    gr.session_up("p", [V4, V6], now=5.0)
    assert gr.end_of_rib("p", V6)
    # Down again before v4's End-of-RIB: v4's leftovers go, then everything is held again.
    assert gr.peer_down("p", [V4, V6], restart_time=60, now=10.0) == [V4]
    assert gr.restarting("p")
    assert gr.stale_families("p") == {V4, V6}
    assert gr.deadline("p") == 70.0


def test_peer_down_without_families_holds_nothing() -> None:
    gr = GracefulRestartTracker()
    assert gr.peer_down("p", [], restart_time=120, now=0.0) == []
    assert gr.peers() == []


def test_zero_restart_time_expires_at_once() -> None:
    gr = GracefulRestartTracker()
    gr.peer_down("p", [V4], restart_time=0, now=3.0)
    assert gr.handle_timer(3.0) == [("p", V4)]


def test_forget_returns_the_held_families() -> None:
    gr = GracefulRestartTracker()
    gr.peer_down("p", [V4], restart_time=120, now=0.0)
    assert gr.forget("p") == [V4]
    assert gr.forget("p") == []
    assert gr.next_deadline() is None
    assert gr.session_up("p", [V4], now=1.0) == []
    assert not gr.end_of_rib("p", V4)


def test_several_peers_expire_in_name_order() -> None:
    gr = GracefulRestartTracker()
    gr.peer_down("zeta", [V4], restart_time=10, now=0.0)
    gr.peer_down("alpha", [V6], restart_time=5, now=0.0)
    gr.peer_down("mid", [V4], restart_time=30, now=0.0)
    assert gr.next_deadline() == 5.0
    assert gr.handle_timer(10.0) == [("alpha", V6), ("zeta", V4)]
    assert gr.peers() == ["mid"]
    assert gr.next_deadline() == 30.0


def test_defaults_and_validation() -> None:
    assert GracefulRestartTracker().stale_time == DEFAULT_STALE_TIME == 360.0
    with pytest.raises(ValueError, match="negative"):
        GracefulRestartTracker(stale_time=-1)


# ------------------------------------------------------------- enhanced route refresh (RFC 7313)


def test_eorr_ends_a_refresh_and_one_without_borr_is_ignored() -> None:
    gr = GracefulRestartTracker(stale_time=50)
    assert not gr.refresh_end("p", V4)  # no BoRR: nothing to sweep
    gr.refresh_begin("p", V4, now=10.0)
    assert gr.refreshing("p") == {V4}
    assert gr.stale_families("p") == {V4}
    assert gr.next_deadline() == 60.0
    assert gr.refresh_end("p", V4)
    assert not gr.refresh_end("p", V4)  # once
    assert gr.next_deadline() is None and gr.refreshing("p") == frozenset()


def test_a_missing_eorr_sweeps_the_family_at_the_stale_time() -> None:
    gr = GracefulRestartTracker(stale_time=50)
    gr.refresh_begin("p", V4, now=0.0)
    gr.refresh_begin("p", V6, now=20.0)
    gr.refresh_begin("p", V4, now=30.0)  # a second BoRR restarts the family's wait
    assert gr.handle_timer(60.0) == []
    assert gr.handle_timer(70.0) == [("p", V6)]
    assert gr.handle_timer(80.0) == [("p", V4)]
    assert gr.next_deadline() is None


def test_a_refresh_ends_with_its_session() -> None:
    gr = GracefulRestartTracker(stale_time=50)
    gr.refresh_begin("p", V4, now=0.0)
    assert gr.peer_down("p", [V4], restart_time=120, now=5.0) == []  # GR holds it all now
    assert gr.refreshing("p") == frozenset()
    assert gr.deadline("p") == 125.0 and gr.next_deadline() == 125.0
    gr.refresh_begin("q", V6, now=0.0)
    assert gr.forget("q") == [V6]
    assert gr.next_deadline() == 125.0


def test_end_of_rib_during_a_refresh_leaves_the_sweep_to_the_eorr() -> None:
    gr = GracefulRestartTracker(stale_time=50)
    gr.peer_down("p", [V4, V6], restart_time=120, now=0.0)
    gr.session_up("p", [V4, V6], now=10.0)
    gr.refresh_begin("p", V4, now=12.0)  # BoRR before the End-of-RIB
    assert not gr.end_of_rib("p", V4)  # the GR wait is over, the refresh is not
    assert gr.stale_families("p") == {V4, V6}
    assert gr.refresh_end("p", V4)
    assert gr.stale_families("p") == {V6}


def test_eorr_during_the_gr_wait_ends_both_and_the_gr_timer_spares_a_refresh() -> None:
    gr = GracefulRestartTracker(stale_time=50)
    gr.peer_down("p", [V4, V6], restart_time=120, now=0.0)
    gr.session_up("p", [V4, V6], now=10.0)  # stale-routes timer at 60
    gr.refresh_begin("p", V4, now=40.0)  # its own deadline at 90
    gr.refresh_begin("p", V6, now=40.0)
    assert gr.refresh_end("p", V6)  # the whole family came after the restart
    assert not gr.end_of_rib("p", V6)  # nothing left for GR to sweep in v6
    assert gr.handle_timer(60.0) == []  # v4 is under refresh: the GR timer leaves it
    assert gr.peers() == []
    assert gr.handle_timer(90.0) == [("p", V4)]

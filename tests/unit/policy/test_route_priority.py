"""The priority <-> LOCAL_PREF mapping of newer Calico (bgp_processor.go, template_funcs.go)."""

from __future__ import annotations

from bgpd.policy.route_priority import (
    DEFAULT_NORMAL_PRIORITY,
    MAX_PRIORITY,
    local_pref_of_priority,
    priority_of_local_pref,
    route_priority,
)


def test_normal_priority_travels_as_calicos_local_pref() -> None:
    # Calico: bgp_local_pref = 2147483647 - krt_metric, krt_metric 1024 by default.
    assert local_pref_of_priority(DEFAULT_NORMAL_PRIORITY) == 2_147_482_623


def test_a_lower_priority_number_is_a_higher_local_pref() -> None:
    elevated, normal = 512, DEFAULT_NORMAL_PRIORITY
    assert local_pref_of_priority(elevated) > local_pref_of_priority(normal)


def test_round_trip_and_clamp() -> None:
    for priority in (0, 1, 512, 1024, MAX_PRIORITY):
        assert priority_of_local_pref(local_pref_of_priority(priority)) == priority
    assert priority_of_local_pref(4_294_967_295) == 0


def test_route_priority_as_calicos_filters_read_it() -> None:
    assert route_priority(2_147_483_135, from_bgp=True) == 512
    assert route_priority(2_147_483_135, from_bgp=False) == 512
    # BIRD 1.6 gives a BGP route received without LOCAL_PREF its default, 100.
    assert route_priority(None, from_bgp=True) == MAX_PRIORITY - 100
    # A local route: the normal priority (Calico: krt_metric, 1024 when the kernel gave none).
    assert route_priority(None, from_bgp=False) == DEFAULT_NORMAL_PRIORITY
    assert route_priority(None, from_bgp=False, normal=2048) == 2048

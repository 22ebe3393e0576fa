"""The priority <-> LOCAL_PREF mapping of newer Calico (bgp_processor.go, template_funcs.go)."""

from __future__ import annotations

from bgpd.policy.route_priority import (
    DEFAULT_NORMAL_PRIORITY,
    MAX_PRIORITY,
    local_pref_of_priority,
    priority_of_local_pref,
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

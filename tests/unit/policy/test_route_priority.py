"""The priority <-> LOCAL_PREF mapping of newer Calico (bgp_processor.go, template_funcs.go)."""

from __future__ import annotations

from bgpd.policy.route_priority import (
    DEFAULT_NORMAL_PRIORITY,
    MAX_PRIORITY,
    is_elevated,
    kernel_metric,
    local_pref_of_priority,
    local_route_pref,
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


def test_kernel_metric_of_bgp_routes() -> None:
    # SetMetricForBGPRoutes: no LOCAL_PREF (eBGP) -> the normal priority; else its priority.
    assert kernel_metric(None, 1024) == 1024
    assert kernel_metric(local_pref_of_priority(512), 1024) == 512
    assert kernel_metric(100, 1024) == MAX_PRIORITY - 100  # an older node's default LOCAL_PREF
    assert kernel_metric(2**32 - 1, 1024) == 0  # above the largest priority: clamped


def test_local_routes_carry_their_metrics_priority() -> None:
    assert local_route_pref(1024, 1024) == local_pref_of_priority(1024)
    assert local_route_pref(512, 1024) == local_pref_of_priority(512)
    # metric 0 is BIRD's undefined krt_metric (IPv4 routes without RTA_PRIORITY): normal
    assert local_route_pref(0, 2000) == local_pref_of_priority(2000)
    assert local_route_pref(2**32 - 1, 1024) == 0


def test_elevated_means_a_priority_below_the_normal_one() -> None:
    assert is_elevated(local_pref_of_priority(512), 1024)
    assert not is_elevated(local_pref_of_priority(1024), 1024)
    assert not is_elevated(local_pref_of_priority(2000), 1024)
    assert not is_elevated(None, 1024)
    assert not is_elevated(100, 1024)

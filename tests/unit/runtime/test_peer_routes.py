"""Static routes to peers behind a gateway (`[[peer]] reachable_by`, Calico's `reachableBy`):
what kernel sync is asked to install, how a reload moves them, and that they win over BGP.

The kernel itself is exercised in tests/integration/test_peer_reachability.py; here the
desired table of `KernelWiring` is read before any socket is opened."""

from __future__ import annotations

import ipaddress

import pytest

from bgpd.config import ConfigError, parse_config
from bgpd.kernel import KernelRoute, NextHop
from bgpd.kernel.peer_routes import peer_routes
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, pack_prefix
from bgpd.runtime.kernel_wiring import KernelWiring
from bgpd.runtime.reload import plan_reload
from bgpd.speaker import FibUpdate
from tests.unit.config.helpers import build

KERNEL = "\n[kernel]\nenabled = true\n"
TOR = {"name": '"tor"', "address": '"10.2.0.1"', "asn": "65010", "local_address": None}


def config(**peer: str | None) -> str:
    return build(peers=[{}, {**TOR, **peer}], extra=KERNEL)


def fib(prefix: str, *hops: str) -> FibUpdate:
    net = ipaddress.ip_network(prefix)
    return FibUpdate(
        family=IPV4_UNICAST,
        nlris=(pack_prefix(net),),
        next_hops=tuple(ipaddress.ip_address(h).packed for h in hops),
    )


def desired(wiring: KernelWiring, prefix: str) -> KernelRoute | None:
    return wiring.sync.desired.get((IPV4_UNICAST, prefix))


def test_peer_routes_are_host_routes_through_the_gateway() -> None:
    v4, gw4 = ipaddress.ip_address("10.2.0.1"), ipaddress.ip_address("10.1.0.2")
    v6, gw6 = ipaddress.ip_address("fd00:2::1"), ipaddress.ip_address("fd00:1::2")
    routes = peer_routes([(v4, gw4), (v6, gw6), (v4, gw6)], metric=7)
    assert routes == {
        (IPV4_UNICAST, "10.2.0.1/32"): KernelRoute(
            family=IPV4_UNICAST,
            prefix="10.2.0.1/32",
            nexthops=(NextHop(gateway="10.1.0.2"),),
            metric=7,
        ),
        (IPV6_UNICAST, "fd00:2::1/128"): KernelRoute(
            family=IPV6_UNICAST,
            prefix="fd00:2::1/128",
            nexthops=(NextHop(gateway="fd00:1::2"),),
            metric=7,
        ),
    }


def test_the_route_is_desired_and_wins_over_bgp() -> None:
    cfg = parse_config(config(reachable_by='"10.1.0.2"'))
    wiring = KernelWiring(cfg, lambda added, removed: None)
    # The peer announces a route to its own address: BIRD's static protocol (preference
    # 200) beats BGP (100), so the kernel keeps the route through the gateway.
    wiring.reload(cfg, [fib("10.2.0.1/32", "10.2.0.1"), fib("10.30.0.0/24", "10.2.0.1")])
    route = desired(wiring, "10.2.0.1/32")
    assert route is not None and route.nexthops == (NextHop(gateway="10.1.0.2"),)
    assert desired(wiring, "10.30.0.0/24") is not None  # other BGP routes are programmed
    wiring.apply([fib("10.2.0.1/32", "10.2.0.7")])
    assert desired(wiring, "10.2.0.1/32") == route
    wiring.apply([fib("10.2.0.1/32")])  # BGP withdraws it: the static route stays
    assert desired(wiring, "10.2.0.1/32") == route


def test_a_reload_moves_or_removes_the_route_and_resets_no_session() -> None:
    old = parse_config(config(reachable_by='"10.1.0.2"'))
    moved = parse_config(config(reachable_by='"10.1.0.3"'))
    plan = plan_reload(old, moved)
    # The kernel's desired table is re-planned; the session is only updated in place.
    assert plan.kernel and not plan.md5_keys
    d = plan.diff
    assert not (d.peers_added or d.peers_removed or d.session_changed or d.policy_changed)
    assert d.settings_changed == ("tor",)
    wiring = KernelWiring(old, lambda added, removed: None)
    wiring.reload(old, [])
    wiring.reload(moved, [fib("10.2.0.1/32", "10.2.0.7")])
    route = desired(wiring, "10.2.0.1/32")
    assert route is not None and route.nexthops == (NextHop(gateway="10.1.0.3"),)
    gone = parse_config(config())
    assert plan_reload(moved, gone).kernel
    # Without the static route, the BGP route to the peer's address is what is programmed.
    wiring.reload(gone, [fib("10.2.0.1/32", "10.2.0.7")])
    route = desired(wiring, "10.2.0.1/32")
    assert route is not None and route.nexthops == (NextHop(gateway="10.2.0.7"),)
    wiring.reload(gone, [])
    assert desired(wiring, "10.2.0.1/32") is None


@pytest.mark.parametrize(
    ("gateway", "message"),
    [
        ('"fd00::1"', "is IPv6 but address 10.2.0.1 is IPv4"),
        ('"10.2.0.1"', "is the peer itself"),
        ('"0.0.0.0"', "must be a unicast gateway"),
        ('"224.0.0.1"', "must be a unicast gateway"),
    ],
)
def test_bad_gateways_are_refused(gateway: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(config(reachable_by=gateway))


def test_reachable_by_needs_kernel_sync() -> None:
    text = build(peers=[{}, {**TOR, "reachable_by": '"10.1.0.2"'}])
    with pytest.raises(ConfigError, match=r"peer\[1\]\.reachable_by .*needs \[kernel\] enabled"):
        parse_config(text)

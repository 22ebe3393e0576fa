"""KernelRoute values and the learning rules (which alien routes enter the RIB)."""

from __future__ import annotations

import pytest

from bgpd.kernel import KernelRoute, LearnRules, NextHop
from bgpd.kernel.kernel_route import RouteKind
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST

CALI = "cali1234567890a"


def route(
    prefix: str,
    protocol: int,
    *,
    dev: str | None = None,
    gw: str | None = None,
    kind: RouteKind = "unicast",
    metric: int = 0,
) -> KernelRoute:
    family = IPV6_UNICAST if ":" in prefix else IPV4_UNICAST
    hops = (NextHop(gateway=gw, ifname=dev),) if (dev or gw) else ()
    return KernelRoute(
        family=family,
        prefix=prefix,
        kind=kind,
        nexthops=hops,
        protocol=protocol,
        metric=metric,
    )


def test_ipv6_metric_zero_is_stored_as_the_kernel_stores_it() -> None:
    assert route("fd00::/64", 12, gw="fd00::1").metric == 1024
    assert route("fd00::/64", 12, gw="fd00::1", metric=5).metric == 5
    assert route("10.0.0.0/24", 12, gw="10.0.0.1").metric == 0
    r = route("fd00::/64", 12, gw="fd00::1")
    assert r.key == (IPV6_UNICAST, "fd00::/64") and r.id == (IPV6_UNICAST, "fd00::/64", 1024)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"family": IPV4_UNICAST, "prefix": "fd00::/64"},  # family mismatch
        {"family": IPV6_UNICAST, "prefix": "10.0.0.0/8"},
        {"family": IPV4_UNICAST, "prefix": "10.0.0.0"},  # no length
        {"family": IPV4_UNICAST, "prefix": "10.0.0.0/8", "kind": "local"},
        {
            "family": IPV4_UNICAST,
            "prefix": "10.0.0.0/8",
            "kind": "blackhole",
            "nexthops": (NextHop(gateway="10.0.0.1"),),
        },
        {"family": IPV4_UNICAST, "prefix": "10.0.0.0/8", "protocol": 256},
        {"family": IPV4_UNICAST, "prefix": "10.0.0.0/8", "table": 0},
    ],
)
def test_invalid_routes_cannot_be_built(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        KernelRoute(**kwargs)  # type: ignore[arg-type]


def test_next_hop_validation() -> None:
    with pytest.raises(ValueError):
        NextHop()
    with pytest.raises(ValueError):
        NextHop(gateway="10.0.0.1", onlink=True)  # onlink needs the device
    assert str(NextHop(gateway="10.0.0.1", ifname="tunl0", onlink=True)) == (
        "via 10.0.0.1 dev tunl0 onlink"
    )


def test_route_text_and_single_path_ifname() -> None:
    ecmp = KernelRoute(
        family=IPV4_UNICAST,
        prefix="10.1.0.0/24",
        nexthops=(NextHop(gateway="10.0.0.2", ifname="eth0"), NextHop(gateway="10.0.0.3")),
    )
    assert ecmp.ifname is None
    assert str(ecmp) == "10.1.0.0/24 nexthop via 10.0.0.2 dev eth0 nexthop via 10.0.0.3 proto 12"
    assert route("10.9.0.5/32", 3, dev=CALI).ifname == CALI
    assert str(route("10.2.0.0/26", 80, kind="blackhole")) == "blackhole 10.2.0.0/26 proto 80"


LEARN_CASES = [
    # (route, learned?, why)
    (route("10.65.0.5/32", 3, dev=CALI), True, "Felix workload route"),
    (route("fd00:65::5/128", 3, dev=CALI), True, "Felix IPv6 workload route"),
    (route("10.65.0.6/32", 3, dev="eth0"), False, "proto 3 /32 not on a workload interface"),
    (route("10.65.0.0/26", 3, dev=CALI), False, "proto 3 but not a host route"),
    (route("10.70.0.0/24", 3, gw="10.0.0.2"), False, "an administrator's `ip route add`"),
    (route("10.65.0.0/26", 80, gw="10.0.0.2"), True, "Felix no-encap / VXLAN route"),
    (route("10.66.0.0/26", 80, dev="vxlan.calico", gw="10.1.0.1"), True, "Felix VXLAN route"),
    (route("10.67.0.0/26", 80, kind="blackhole"), True, "Felix IPAM-block blackhole"),
    (route("10.68.0.0/26", 3, kind="blackhole"), True, "blackhole of any alien protocol"),
    (route("10.68.0.0/26", 4, kind="blackhole"), True, "blackhole of proto static"),
    (route("10.68.0.0/26", 12, kind="blackhole"), False, "our own blackhole"),
    (route("10.69.0.0/24", 12, gw="10.0.0.2"), False, "our own route"),
    (route("10.69.0.5/32", 12, dev=CALI), False, "our own, even on a workload interface"),
    (route("10.0.0.0/24", 2, dev="eth0"), True, "interface subnet: connected (direct)"),
    (route("fd00:1::/64", 2, dev="eth0"), True, "IPv6 interface subnet: connected"),
    (route("fe80::/64", 2, dev="eth0"), False, "IPv6 link-local is never connected"),
    (route("10.0.9.0/24", 2, dev=CALI), False, "no connected routes from workload interfaces"),
    (route("10.0.8.0/24", 2, dev="kube-ipvs0"), False, "nor from kube-ipvs"),
    (route("10.0.7.0/24", 2, gw="10.0.0.1"), False, "proto kernel with a gateway"),
    (route("10.71.0.0/24", 4, gw="10.0.0.2"), False, "protocol not in the list"),
    (route("10.72.0.0/24", 80, kind="unreachable"), False, "unreachable is not learned"),
]


@pytest.mark.parametrize(("kernel_route", "expected", "why"), LEARN_CASES)
def test_default_learning_rules(kernel_route: KernelRoute, expected: bool, why: str) -> None:
    assert LearnRules().learnable(kernel_route) is expected, why


def test_configurable_learning_rules() -> None:
    rules = LearnRules(
        protocols=frozenset({3, 80, 186}),
        interface_prefixes=("cali", "tap"),
        blackholes=False,
    )
    assert rules.learnable(route("10.65.0.5/32", 3, dev="tap0123"))
    assert rules.learnable(route("10.9.0.0/16", 186, gw="10.0.0.2"))
    assert not rules.learnable(route("10.68.0.0/26", 4, kind="blackhole"))
    assert rules.learnable(route("10.68.0.0/26", 80, kind="blackhole"))  # proto 80 itself
    with pytest.raises(ValueError):
        LearnRules(protocols=frozenset({12}))
    with pytest.raises(ValueError):
        LearnRules(protocols=frozenset({2}))
    with pytest.raises(ValueError):
        LearnRules(interface_prefixes=("",))


def test_connected_routes_can_be_turned_off_and_are_told_apart() -> None:
    subnet = route("10.0.0.0/24", 2, dev="eth0")
    assert LearnRules().is_connected(subnet)
    assert not LearnRules().is_connected(route("10.65.0.5/32", 3, dev=CALI))
    assert not LearnRules(connected=False).learnable(subnet)

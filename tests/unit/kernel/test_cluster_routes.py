"""Who programs a cluster route (BGPConfiguration programClusterRoutes, the WireGuard peer
filter) and with which metric: the pure rules of bgpd.kernel.programming and learn.py's
ignoredInterfaces. Calico's source: confd bgp_processor.go (processIPPool, clusterRoutePolicy,
processWireguardPeerFilter), design/cluster-route-programming/DESIGN.md."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pytest

from bgpd.config import parse_config
from bgpd.config.calico_release import cluster_route_policy
from bgpd.kernel import KernelRoute, LearnRules, NextHop, ProgrammingRules
from bgpd.kernel.kernel_route import RTPROT_KERNEL
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, IPNetwork
from bgpd.runtime.kernel_wiring import learn_rules, programming_rules


@dataclass(frozen=True)
class Pool:
    cidr: IPNetwork
    ipip: str = "never"
    vxlan: str = "never"
    disabled: bool = False


def net(text: str) -> IPNetwork:
    return ipaddress.ip_network(text)


POOLS = (
    Pool(cidr=net("192.168.0.0/16"), ipip="always"),
    Pool(cidr=net("172.20.0.0/16"), ipip="cross-subnet"),
    Pool(cidr=net("10.244.0.0/16"), vxlan="always"),
    Pool(cidr=net("10.50.0.0/16")),  # no encapsulation
    Pool(cidr=net("fd00:50::/48")),
)


def rules(value: str | None, compat: str = "3.33", **kw: object) -> ProgrammingRules:
    policy = cluster_route_policy(value, compat)
    return ProgrammingRules(
        pools=POOLS,
        reject_cidrs=(net("10.96.0.0/12"),),
        node_network_v4=ipaddress.IPv4Network("172.18.18.0/24"),
        program_ipip=policy.ipip,
        program_no_encap=policy.no_encap,
        **kw,  # type: ignore[arg-type]
    )


HOP = ("172.18.18.102",)
# (prefix, installed by bgpd?) per programClusterRoutes value, Calico's ownership matrix.
CASES = {
    "192.168.1.0/26": {"Enabled": 1, "EnabledIPIPOnly": 1, "EnabledNoEncapOnly": 0, "Disabled": 0},
    "172.20.1.0/26": {"Enabled": 1, "EnabledIPIPOnly": 1, "EnabledNoEncapOnly": 0, "Disabled": 0},
    "10.50.1.0/26": {"Enabled": 1, "EnabledIPIPOnly": 0, "EnabledNoEncapOnly": 1, "Disabled": 0},
    "10.244.1.0/26": {"Enabled": 0, "EnabledIPIPOnly": 0, "EnabledNoEncapOnly": 0, "Disabled": 0},
    "10.200.0.0/16": {"Enabled": 1, "EnabledIPIPOnly": 1, "EnabledNoEncapOnly": 1, "Disabled": 1},
}


@pytest.mark.parametrize("value", ["Enabled", "EnabledIPIPOnly", "EnabledNoEncapOnly", "Disabled"])
@pytest.mark.parametrize("prefix", list(CASES))
def test_each_pool_class_has_one_owner(value: str, prefix: str) -> None:
    r = rules(value)
    route = r.program(IPV4_UNICAST, prefix, HOP)
    installed = bool(CASES[prefix][value])
    assert (route is not None) is installed
    # Outside every pool bgpd always programs (Calico's trailing `accept;`): never Felix's.
    assert r.left_to_felix(IPV4_UNICAST, prefix, HOP) is (not installed)


def test_unset_means_the_compat_releases_default() -> None:
    # 3.33: Felix programs IPIP, bgpd unencapsulated pools; 3.30-3.32: bgpd both.
    assert rules(None).program(IPV4_UNICAST, "192.168.1.0/26", HOP) is None
    assert rules(None).program(IPV4_UNICAST, "10.50.1.0/26", HOP) is not None
    for compat in ("3.30", "3.31", "3.32"):
        route = rules(None, compat).program(IPV4_UNICAST, "192.168.1.0/26", HOP)
        assert route is not None and route.nexthops[0].ifname == "tunl0"


def test_rejected_ranges_belong_to_nobody() -> None:
    assert rules("Disabled").program(IPV4_UNICAST, "10.96.0.10/32", HOP) is None
    assert not rules("Disabled").left_to_felix(IPV4_UNICAST, "10.96.0.10/32", HOP)


def test_ipv6_pools_follow_the_no_encap_class() -> None:
    assert rules("EnabledIPIPOnly").program(IPV6_UNICAST, "fd00:50::/122", ("fd00::2",)) is None
    assert rules("EnabledNoEncapOnly").program(IPV6_UNICAST, "fd00:50::/122", ("fd00::2",))


def test_no_blackhole_for_a_block_felix_programs() -> None:
    blocks = ["192.168.1.0/26", "10.50.1.0/26", "10.244.1.0/26"]
    assert [r.prefix for r in rules("EnabledNoEncapOnly").blackholes(blocks)] == ["10.50.1.0/26"]
    assert [r.prefix for r in rules("Enabled").blackholes(blocks)] == blocks[:2]


def test_next_hops_through_wireguard_peers_are_felixs() -> None:
    wg = frozenset({ipaddress.ip_address("172.18.18.103")})
    r = rules("Enabled", wireguard_peers=wg)
    mixed = r.program(IPV4_UNICAST, "10.50.1.0/26", ("172.18.18.103", "172.18.18.104"))
    assert mixed is not None
    assert mixed.nexthops == (NextHop(gateway="172.18.18.104"),)
    assert not r.left_to_felix(IPV4_UNICAST, "10.50.1.0/26", ("172.18.18.103", "172.18.18.104"))
    assert r.program(IPV4_UNICAST, "10.50.1.0/26", ("172.18.18.103",)) is None
    assert r.left_to_felix(IPV4_UNICAST, "10.50.1.0/26", ("172.18.18.103",))
    # an address of the other family never matches
    assert rules("Enabled").program(IPV4_UNICAST, "10.50.1.0/26", ("172.18.18.103",)) is not None


def test_a_per_route_metric_overrides_the_rules_one() -> None:
    r = rules("Enabled", metric=0)
    assert r.program(IPV4_UNICAST, "10.50.1.0/26", HOP, 512) == KernelRoute(
        family=IPV4_UNICAST, prefix="10.50.1.0/26", nexthops=(NextHop(gateway=HOP[0]),), metric=512
    )
    route = r.program(IPV4_UNICAST, "10.50.1.0/26", HOP)
    assert route is not None and route.metric == 0


def test_the_wiring_builds_the_rules_from_config() -> None:
    cfg = parse_config(
        '[bgp]\nasn = 64512\nrouter_id = "10.0.0.1"\n'
        '[calico]\nprogram_cluster_routes = "Disabled"\nwireguard_peers = ["10.0.0.3"]\n'
        '[kernel]\nignored_interfaces = ["eth9*", "dummy0"]\n'
    )
    r = programming_rules(cfg)
    assert (r.program_ipip, r.program_no_encap) == (False, False)
    assert r.wireguard_peers == frozenset({ipaddress.ip_address("10.0.0.3")})
    assert learn_rules(cfg).ignored_interfaces == ("eth9*", "dummy0")


def subnet(ifname: str) -> KernelRoute:
    return KernelRoute(
        family=IPV4_UNICAST,
        prefix="10.9.0.0/24",
        nexthops=(NextHop(ifname=ifname),),
        protocol=RTPROT_KERNEL,
    )


@pytest.mark.parametrize(
    ("ifname", "learned"),
    [
        ("eth0", True),
        ("eth9", False),  # eth9*: the run may be empty
        ("eth91", False),
        ("xeth9", True),  # the whole name must match
        ("dummy0", False),
        ("dummy01", True),
        ("cali1234", False),  # the built-in exclusions stay
        ("kube-ipvs0", False),
    ],
)
def test_ignored_interfaces_are_birds_direct_exclusions(ifname: str, learned: bool) -> None:
    rules = LearnRules(ignored_interfaces=("eth9*", "dummy0"))
    assert rules.is_connected(subnet(ifname)) is learned
    assert rules.learnable(subnet(ifname)) is learned


def test_ignored_interfaces_leave_alien_routes_alone() -> None:
    # As in BIRD: the direct protocol's exclusions; the kernel protocol learns Felix's routes.
    felix = KernelRoute(
        family=IPV4_UNICAST,
        prefix="10.244.1.0/26",
        nexthops=(NextHop(gateway="10.0.0.2", ifname="eth9"),),
        protocol=80,
    )
    assert LearnRules(ignored_interfaces=("eth9*",)).learnable(felix)

"""Calico's calico_export_to_bgp_peers, rule by rule and in order, and the plain mode."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Network, ip_network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bgpd.config import (
    BgpSection,
    CalicoSection,
    Community,
    Config,
    IPNetwork,
    LargeCommunity,
    Pool,
    PrefixAdvertisement,
    parse_config,
)
from bgpd.net import Afi, family_of, pack_network
from bgpd.policy import ExportDecision, ExportPolicy, ExportRoute, ExportRule, merge_communities

# A Calico-shaped node: one IPIP pool with this node's block, a pool that is not exported, a
# VXLAN v6 pool, a service range, an LB range, and communities on the main pool.
CALICO = """\
[bgp]
asn = 64512

[node]
name = "node-a"
ipv4 = "172.18.0.2/16"
ipv6 = "fd00::2/64"

[calico]
blocks = ["192.168.221.64/26", "192.168.7.7/32", "fd10::a:0/122"]
advertise = ["10.96.0.0/12", "fd00:96::/112"]
reject = ["10.96.0.0/12"]
lb_ranges = ["10.200.0.0/24", "fd00:200::/120"]

[[calico.pool]]
cidr = "192.168.0.0/16"
ipip = "always"

[[calico.pool]]
cidr = "10.244.0.0/16"
disable_bgp_export = true

[[calico.pool]]
cidr = "10.245.0.0/16"
disabled = true

[[calico.pool]]
cidr = "fd10::/48"
vxlan = "cross-subnet"

[[calico.prefix_advertisement]]
cidr = "192.168.0.0/16"
communities = ["65000:100", "65000:1:2"]

[[calico.prefix_advertisement]]
cidr = "192.168.221.64/26"
communities = ["65000:200", "65000:100"]
"""

RR = CALICO.replace('name = "node-a"', 'name = "node-a"\nrr_cluster_id = "224.0.0.1"')


def decide(
    policy: ExportPolicy, prefix: str, *, ifname: str | None = None, internal: bool = True
) -> ExportDecision:
    net = ip_network(prefix)
    route = ExportRoute(family=family_of(net), prefix=net, source_kind="kernel", ifname=ifname)
    result = policy.decide(route, internal)
    # The packed-prefix path must always agree with the ipaddress path.
    afi = Afi.IPV4 if net.version == 4 else Afi.IPV6
    assert policy.decide_nlri(afi, pack_network(net), ifname, internal) == result
    return result


@pytest.fixture(scope="module")
def calico() -> ExportPolicy:
    return ExportPolicy.from_config(parse_config(CALICO))


@pytest.fixture(scope="module")
def reflector() -> ExportPolicy:
    return ExportPolicy.from_config(parse_config(RR))


C100 = (65000 << 16) | 100
C200 = (65000 << 16) | 200


def test_plain_mode_accepts_everything_unchanged() -> None:
    policy = ExportPolicy.from_config(parse_config('[bgp]\nasn = 1\nrouter_id = "1.1.1.1"\n'))
    assert not policy.calico
    for prefix, ifname in [("0.0.0.0/0", None), ("10.0.0.1/32", "vxlan.calico"), ("::/0", None)]:
        for internal in (True, False):
            d = decide(policy, prefix, ifname=ifname, internal=internal)
            assert d == ExportDecision(accept=True, rule=ExportRule.PLAIN)


# (prefix, ifname, internal peer, rule that decides, accepted)
CASES = [
    # 1. reject_disabled_pools: anything inside a pool with BGP export disabled.
    ("10.244.3.0/26", None, True, ExportRule.DISABLED_POOL, False),
    ("10.244.0.0/16", None, False, ExportRule.DISABLED_POOL, False),
    # ...a merely *disabled* pool is still exported (its addresses are in use).
    ("10.245.1.0/26", None, True, ExportRule.POOL, True),
    # 2. reject_tunnel_routes, for internal peers only.
    ("192.168.5.0/26", "vxlan.calico", True, ExportRule.TUNNEL_ROUTE, False),
    ("192.168.5.9/32", "wireguard.cali", True, ExportRule.TUNNEL_ROUTE, False),
    ("192.168.5.0/26", "vxlan.calico", False, ExportRule.POOL, True),
    ("192.168.5.9/32", "wireguard.cali", False, ExportRule.POOL, True),
    # workload interfaces (cali + hex) are not tunnel devices
    ("192.168.5.9/32", "cali1f3c9fa633a", True, ExportRule.POOL, True),
    # the IPIP device: Felix programs the IPIP pools' routes (compat 3.33's default), so what
    # bgpd learns through tunl0 is another node's and stays away from iBGP peers
    ("192.168.5.9/32", "tunl0", True, ExportRule.TUNNEL_ROUTE, False),
    ("192.168.5.9/32", "tunl0", False, ExportRule.POOL, True),
    # 3. reject_local_routes: eBPF devices, for every peer.
    ("192.168.5.9/32", "bpfin.cali", False, ExportRule.LOCAL_ROUTE, False),
    ("192.168.5.9/32", "bpfout.cali", False, ExportRule.LOCAL_ROUTE, False),
    ("192.168.5.9/32", "bpf.cali", False, ExportRule.LOCAL_ROUTE, False),
    # (towards an internal peer rule 2 already rejected it)
    ("192.168.5.9/32", "bpfin.cali", True, ExportRule.TUNNEL_ROUTE, False),
    # 5. calico_aggr: the block itself, not the pods behind it.
    ("192.168.221.64/26", None, True, ExportRule.BLOCK, True),
    ("192.168.221.64/26", None, False, ExportRule.BLOCK, True),
    ("192.168.221.70/32", "cali0123456789a", True, ExportRule.INSIDE_BLOCK, False),
    ("192.168.221.64/27", None, False, ExportRule.INSIDE_BLOCK, False),
    # a /32 block is accepted as itself
    ("192.168.7.7/32", "cali0123456789a", True, ExportRule.BLOCK, True),
    # a borrowed /32 outside our blocks is inside the pool: exported (rule 8)
    ("192.168.221.128/32", "cali0123456789a", True, ExportRule.POOL, True),
    # a shorter prefix covering the block is not "inside" it
    ("192.168.221.0/24", None, True, ExportRule.POOL, True),
    # 6. advertised service ranges, exact or inside (single service IPs)
    ("10.96.0.0/12", None, False, ExportRule.ADVERTISE, True),
    ("10.96.0.10/32", None, False, ExportRule.ADVERTISE, True),
    ("10.96.0.0/11", None, False, ExportRule.NO_MATCH, False),
    # 7. LB ranges only on a route reflector (see test below)
    ("10.200.0.5/32", None, True, ExportRule.NO_MATCH, False),
    # 8. pools
    ("192.168.9.0/26", None, True, ExportRule.POOL, True),
    ("192.168.0.0/16", None, True, ExportRule.POOL, True),
    # 9. everything else
    ("0.0.0.0/0", None, False, ExportRule.NO_MATCH, False),
    ("172.18.0.0/16", "eth0", False, ExportRule.NO_MATCH, False),
    ("192.0.0.0/8", None, False, ExportRule.NO_MATCH, False),
    # IPv6 uses the IPv6 data only
    ("fd10::a:0/122", None, True, ExportRule.BLOCK, True),
    ("fd10::a:5/128", "cali0123456789a", True, ExportRule.INSIDE_BLOCK, False),
    ("fd10::9:0/122", None, True, ExportRule.POOL, True),
    ("fd00:96::1/128", None, False, ExportRule.ADVERTISE, True),
    ("fd00:200::1/128", None, False, ExportRule.NO_MATCH, False),
    ("::/0", None, False, ExportRule.NO_MATCH, False),
    ("::ffff:192.168.0.0/112", None, False, ExportRule.NO_MATCH, False),
]


@pytest.mark.parametrize(("prefix", "ifname", "internal", "rule", "accept"), CASES)
def test_calico_rules(
    calico: ExportPolicy,
    prefix: str,
    ifname: str | None,
    internal: bool,
    rule: ExportRule,
    accept: bool,
) -> None:
    d = decide(calico, prefix, ifname=ifname, internal=internal)
    assert (d.rule, d.accept) == (rule, accept)
    if not d.accept:
        assert (d.communities, d.large_communities) == ((), ())


def test_route_reflector_passes_on_lb_ranges(reflector: ExportPolicy) -> None:
    assert reflector.route_reflector
    assert decide(reflector, "10.200.0.5/32").rule is ExportRule.LB_RANGE
    assert decide(reflector, "10.200.0.0/24").accept
    assert decide(reflector, "fd00:200::1/128").rule is ExportRule.LB_RANGE
    assert decide(reflector, "10.200.1.0/32").rule is ExportRule.NO_MATCH


def test_communities_of_every_matching_advertisement_are_added_once(
    calico: ExportPolicy,
) -> None:
    block = decide(calico, "192.168.221.64/26")
    # Both advertisements contain the block; 65000:100 appears in both but is added once.
    assert block.communities == (C100, C200)
    assert block.large_communities == ((65000, 1, 2),)
    pool_route = decide(calico, "192.168.9.0/26")
    assert (pool_route.communities, pool_route.large_communities) == ((C100,), ((65000, 1, 2),))
    # Outside every advertisement: nothing added.
    assert decide(calico, "10.96.0.0/12").communities == ()


def test_communities_never_ride_on_a_rejected_route(calico: ExportPolicy) -> None:
    d = decide(calico, "192.168.221.70/32")
    assert not d.accept
    assert (d.communities, d.large_communities) == ((), ())


def test_rule_order_disabled_pool_beats_block_and_block_beats_service_range() -> None:
    cfg = parse_config(
        '[bgp]\nasn = 1\nrouter_id = "1.1.1.1"\n[calico]\n'
        'blocks = ["10.1.0.0/26", "10.2.0.0/26"]\n'
        'advertise = ["10.2.0.0/24"]\n'
        '[[calico.pool]]\ncidr = "10.1.0.0/16"\ndisable_bgp_export = true\n'
        '[[calico.pool]]\ncidr = "10.2.0.0/16"\n'
    )
    policy = ExportPolicy.from_config(cfg)
    # Rule 1 before rule 5: a block inside an export-disabled pool is not advertised.
    assert decide(policy, "10.1.0.0/26").rule is ExportRule.DISABLED_POOL
    # Rule 5 before rule 6: pods behind our block stay hidden even inside a service range.
    assert decide(policy, "10.2.0.5/32").rule is ExportRule.INSIDE_BLOCK
    assert decide(policy, "10.2.0.128/32").rule is ExportRule.ADVERTISE


def test_merge_communities_keeps_order_and_skips_present_values() -> None:
    assert merge_communities((3, 1), (1, 2, 2)) == (3, 1, 2)
    assert merge_communities((), ()) == ()
    existing = ((1, 2, 3),)
    assert merge_communities(existing, ()) is existing


# --- Cross-check against a straightforward transcription of the BIRD functions. ---------------


def reference(
    calico: CalicoSection,
    rr: bool,
    net: IPNetwork,
    ifname: str | None,
    internal: bool,
) -> tuple[bool, tuple[int, ...], tuple[tuple[int, int, int], ...]]:
    """bird_ipam.cfg + bird_aggr.cfg, one `if` per line, with ipaddress objects."""

    def inside(n: IPNetwork, cidr: IPNetwork) -> bool:  # BIRD `net ~ cidr`
        return n.version == cidr.version and n.subnet_of(cidr)  # type: ignore[arg-type]

    for pool in calico.pools:
        if pool.disable_bgp_export and inside(net, pool.cidr):
            return False, (), ()
    if internal and ifname is not None and ifname.endswith((".cali", ".calico")):
        return False, (), ()
    if ifname is not None and ifname.startswith("bpf") and ifname.endswith(".cali"):
        return False, (), ()
    comms: list[int] = []
    large: list[tuple[int, int, int]] = []
    for adv in calico.prefix_advertisements:
        if inside(net, adv.cidr):
            for c in adv.communities:
                if isinstance(c, Community) and c.value not in comms:
                    comms.append(c.value)
                if isinstance(c, LargeCommunity):
                    t = (c.global_admin, c.local1, c.local2)
                    if t not in large:
                        large.append(t)
    accepted = True, tuple(comms), tuple(large)
    for block in calico.blocks:
        if net == block:
            return accepted
        if inside(net, block):
            return False, (), ()
    for cidr in calico.advertise:
        if inside(net, cidr):
            return accepted
    if rr:
        for cidr in calico.lb_ranges:
            if inside(net, cidr):
                return accepted
    for pool in calico.pools:
        if not pool.disable_bgp_export and inside(net, pool.cidr):
            return accepted
    return False, (), ()


# A small space so that random prefixes often hit random rules: 10.0.0.0/16 and fd00::/112.
def _net(v: int, value: int, length: int) -> IPNetwork:
    if v == 4:
        return IPv4Network(((10 << 24) | value, length), strict=False)
    return IPv6Network(((0xFD00 << 112) | value, 96 + length - 16), strict=False)


nets = st.builds(_net, st.sampled_from([4, 6]), st.integers(0, 0xFFFF), st.integers(16, 32))


def _disjoint(candidates: Sequence[IPNetwork]) -> tuple[IPNetwork, ...]:
    out: list[IPNetwork] = []
    for n in candidates:
        if all(n.version != o.version or not n.overlaps(o) for o in out):
            out.append(n)
    return tuple(out)


communities = st.one_of(
    st.builds(Community, high=st.integers(0, 3), low=st.integers(0, 3)),
    st.builds(
        LargeCommunity, global_admin=st.integers(0, 2), local1=st.just(0), local2=st.integers(0, 2)
    ),
)


@st.composite
def calico_sections(draw: st.DrawFn) -> CalicoSection:
    pool_nets = draw(st.lists(nets, max_size=4, unique=True))
    pools = tuple(
        Pool(cidr=n, disable_bgp_export=draw(st.booleans()), disabled=draw(st.booleans()))
        for n in pool_nets
    )
    adverts = tuple(
        PrefixAdvertisement(cidr=n, communities=tuple(draw(st.lists(communities, unique=True))))
        for n in draw(st.lists(nets, max_size=3))
    )
    return CalicoSection(
        pools=pools,
        blocks=_disjoint(draw(st.lists(nets, max_size=4))),
        advertise=tuple(draw(st.lists(nets, max_size=3, unique=True))),
        lb_ranges=tuple(draw(st.lists(nets, max_size=3, unique=True))),
        prefix_advertisements=adverts,
    )


IFNAMES = st.sampled_from(
    [None, "eth0", "cali0123", "vxlan.calico", "wireguard.cali", "bpfin.cali"]
)


@settings(max_examples=300, deadline=None)
@given(
    calico_sections(),
    st.booleans(),
    st.lists(st.tuples(nets, IFNAMES, st.booleans()), min_size=1, max_size=20),
)
def test_policy_equals_the_sequential_bird_rules(
    section: CalicoSection,
    rr: bool,
    routes: list[tuple[IPNetwork, str | None, bool]],
) -> None:
    cfg = Config(
        bgp=BgpSection(
            asn=64512,
            router_id=IPv4Address("10.0.0.1"),
            cluster_id=IPv4Address("224.0.0.1") if rr else None,
        ),
        calico=section,
    )
    policy = ExportPolicy.from_config(cfg)
    for net, ifname, internal in routes:
        d = decide(policy, str(net), ifname=ifname, internal=internal)
        assert (d.accept, d.communities, d.large_communities) == reference(
            section, rr, net, ifname, internal
        )

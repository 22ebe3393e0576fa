"""Calico's calico_kernel_programming and the IPAM-block blackholes (calico-bgp.md §2.5, §2.7)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pytest

from bgpd.kernel import KernelRoute, NextHop, ProgrammingRules
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, Family, IPNetwork, pack_prefix


@dataclass(frozen=True)
class Pool:
    cidr: IPNetwork
    ipip: str = "never"
    vxlan: str = "never"
    disabled: bool = False


def net(text: str) -> IPNetwork:
    return ipaddress.ip_network(text)


RULES = ProgrammingRules(
    pools=(
        Pool(cidr=net("192.168.0.0/16"), ipip="always"),
        Pool(cidr=net("172.20.0.0/16"), ipip="cross-subnet"),
        Pool(cidr=net("10.244.0.0/16"), vxlan="always"),
        Pool(cidr=net("10.245.0.0/16"), vxlan="CrossSubnet"),
        Pool(cidr=net("10.50.0.0/16")),  # no encapsulation
        Pool(cidr=net("10.51.0.0/16"), ipip="always", disabled=True),
        Pool(cidr=net("fd00:244::/48"), vxlan="always"),
        Pool(cidr=net("fd00:50::/48")),
    ),
    reject_cidrs=(net("10.96.0.0/12"), net("fd00:96::/108")),
    node_network_v4=ipaddress.IPv4Network("172.18.18.0/24"),
)


def tunnel(*gateways: str) -> tuple[NextHop, ...]:
    return tuple(NextHop(gateway=g, ifname="tunl0", onlink=True) for g in gateways)


def via(*gateways: str) -> tuple[NextHop, ...]:
    return tuple(NextHop(gateway=g) for g in gateways)


V4_CASES = [
    # (prefix, BGP next hops, expected next hops or None, why)
    ("192.168.154.192/26", ("172.18.18.102",), tunnel("172.18.18.102"), "IPIP always"),
    ("192.168.0.0/16", ("10.1.1.1",), tunnel("10.1.1.1"), "the pool itself is inside it"),
    ("172.20.1.0/26", ("172.18.18.102",), via("172.18.18.102"), "CrossSubnet, same subnet"),
    ("172.20.1.0/26", ("10.9.9.9",), tunnel("10.9.9.9"), "CrossSubnet, other subnet"),
    (
        "172.20.2.0/26",
        ("172.18.18.2", "10.9.9.9"),
        (NextHop(gateway="172.18.18.2"), NextHop(gateway="10.9.9.9", ifname="tunl0", onlink=True)),
        "CrossSubnet decides per next hop",
    ),
    ("10.244.1.0/26", ("172.18.18.102",), None, "VXLAN pool: Felix's"),
    ("10.245.1.0/26", ("172.18.18.102",), None, "VXLAN CrossSubnet pool: Felix's"),
    ("10.96.0.0/12", ("172.18.18.102",), None, "reject CIDR itself"),
    ("10.100.0.10/32", ("172.18.18.102",), None, "inside a reject CIDR"),
    ("10.50.3.0/26", ("172.18.18.102",), via("172.18.18.102"), "no-encap pool"),
    ("10.51.3.0/26", ("10.9.9.9",), tunnel("10.9.9.9"), "disabled pool still routed"),
    ("8.8.8.0/24", ("172.18.18.1",), via("172.18.18.1"), "outside every pool"),
    ("10.0.0.0/8", ("172.18.18.1",), via("172.18.18.1"), "covering a pool is not inside it"),
    (
        "10.50.4.0/26",
        ("172.18.18.2", "172.18.18.3", "172.18.18.2"),
        via("172.18.18.2", "172.18.18.3"),
        "ECMP, duplicates merged",
    ),
    ("10.50.5.0/26", ("fd00::1",), None, "next hop of the other family only"),
    ("10.50.6.0/26", ("0.0.0.0",), None, "unspecified next hop"),
]


@pytest.mark.parametrize(("prefix", "nexthops", "expected", "why"), V4_CASES)
def test_ipv4_kernel_programming(
    prefix: str, nexthops: tuple[str, ...], expected: tuple[NextHop, ...] | None, why: str
) -> None:
    got = RULES.program(IPV4_UNICAST, prefix, nexthops)
    if expected is None:
        assert got is None, why
        return
    assert got == KernelRoute(family=IPV4_UNICAST, prefix=prefix, nexthops=expected), why


V6_CASES = [
    ("fd00:244:0:1::/64", ("fd00::2",), None, "VXLAN v6 pool"),
    ("fd00:96::1/128", ("fd00::2",), None, "reject CIDR v6"),
    ("fd00:50:0:1::/64", ("fd00::2", "fd00::3"), via("fd00::2", "fd00::3"), "ECMP v6"),
    (
        "fd00:51::/64",
        ("fe80::1%eth1",),
        (NextHop(gateway="fe80::1", ifname="eth1"),),
        "link-local next hop with its interface",
    ),
]


@pytest.mark.parametrize(("prefix", "nexthops", "expected", "why"), V6_CASES)
def test_ipv6_kernel_programming(
    prefix: str, nexthops: tuple[str, ...], expected: tuple[NextHop, ...] | None, why: str
) -> None:
    got = RULES.program(IPV6_UNICAST, prefix, nexthops)
    if expected is None:
        assert got is None, why
        return
    assert got == KernelRoute(family=IPV6_UNICAST, prefix=prefix, nexthops=expected), why
    assert got.metric == 1024


def test_ipip_needs_the_node_subnet_as_in_the_template() -> None:
    rules = ProgrammingRules(pools=(Pool(cidr=net("192.168.0.0/16"), ipip="always"),))
    got = rules.program(IPV4_UNICAST, "192.168.1.0/26", ("10.1.1.1",))
    assert got is not None and got.nexthops == via("10.1.1.1")


def test_vxlan_rejected_even_without_the_node_subnet() -> None:
    rules = ProgrammingRules(pools=(Pool(cidr=net("10.244.0.0/16"), vxlan="always"),))
    assert rules.program(IPV4_UNICAST, "10.244.1.0/26", ("10.1.1.1",)) is None


def test_first_matching_pool_wins_and_options_apply() -> None:
    rules = ProgrammingRules(
        pools=(Pool(cidr=net("10.0.0.0/8"), ipip="always"), Pool(cidr=net("10.1.0.0/16"))),
        node_network_v4=ipaddress.IPv4Network("192.0.2.0/24"),
        tunnel_device="tunl9",
        protocol=13,
        table=100,
        metric=20,
    )
    got = rules.program(IPV4_UNICAST, "10.1.2.0/24", ("198.51.100.1",))
    assert got == KernelRoute(
        family=IPV4_UNICAST,
        prefix="10.1.2.0/24",
        nexthops=(NextHop(gateway="198.51.100.1", ifname="tunl9", onlink=True),),
        protocol=13,
        table=100,
        metric=20,
    )


def test_bad_input_is_a_caller_bug() -> None:
    with pytest.raises(ValueError):
        RULES.program(IPV4_UNICAST, "10.0.0.1/8", ("10.0.0.2",))  # host bits
    with pytest.raises(ValueError):
        RULES.program(IPV6_UNICAST, "10.0.0.0/8", ("10.0.0.2",))
    with pytest.raises(ValueError):
        RULES.program(IPV4_UNICAST, "10.0.0.0/8", ("not-an-address",))


def test_blackholes_for_own_blocks() -> None:
    routes = RULES.blackholes(
        [
            "192.168.221.64/26",  # IPIP pool block
            net("10.50.7.0/26"),  # no-encap block
            "10.50.8.9/32",  # /32 block: none
            "10.244.3.0/26",  # VXLAN block: Felix installs its own
            "10.96.0.0/12",  # service range (static route) rejected from the kernel
            "fd00:50::/122",
            "fd00:50::1/128",
        ]
    )
    assert [(r.prefix, r.kind, r.protocol, r.nexthops) for r in routes] == [
        ("192.168.221.64/26", "blackhole", 12, ()),
        ("10.50.7.0/26", "blackhole", 12, ()),
        ("fd00:50::/122", "blackhole", 12, ()),
    ]
    assert routes[2].family == IPV6_UNICAST


def test_the_config_pool_is_accepted() -> None:
    from bgpd.config import EncapMode
    from bgpd.config import Pool as ConfigPool

    rules = ProgrammingRules(
        pools=(
            ConfigPool(cidr=net("192.168.0.0/16"), ipip=EncapMode.CROSS_SUBNET),
            ConfigPool(cidr=net("10.244.0.0/16"), vxlan=EncapMode.ALWAYS),
        ),
        node_network_v4=ipaddress.IPv4Network("172.18.18.0/24"),
    )
    got = rules.program(IPV4_UNICAST, "192.168.1.0/26", ("10.9.9.9",))
    assert got is not None and got.nexthops == tunnel("10.9.9.9")
    assert rules.program(IPV4_UNICAST, "10.244.1.0/26", ("10.9.9.9",)) is None


@pytest.mark.parametrize(("family", "cases"), [(IPV4_UNICAST, V4_CASES), (IPV6_UNICAST, V6_CASES)])
def test_program_many_decides_as_program_does(
    family: Family, cases: list[tuple[str, tuple[str, ...], object, str]]
) -> None:
    """The bulk path (integer matching, next hops parsed once per pool mode) gives, prefix
    by prefix, what `program` gives, over every case and for one next-hop set at a time."""
    for nexthops in dict.fromkeys(hops for _, hops, _, _ in cases):
        more = (
            ["0.0.0.0/0", "172.20.0.0/16"]
            if family == IPV4_UNICAST
            # the default route, outside every pool, an embedded IPv4 address (the text form
            # where inet_ntop and ipaddress differ), inside the reject CIDR and pools
            else ["::/0", "2001:db8::/32", "::ffff:a01:200/120", "fd00:96::/64", "fd00:50::/48"]
        )
        prefixes = [prefix for prefix, *_ in cases] + more
        nlris = [pack_prefix(p) for p in prefixes]
        got = list(RULES.program_many(family, nlris, nexthops, metric=7))
        want = [(p, RULES.program(family, p, nexthops, metric=7)) for p in prefixes]
        assert got == want


def test_program_many_refuses_host_bits_as_program_does() -> None:
    with pytest.raises(ValueError, match="host bits"):
        list(RULES.program_many(IPV4_UNICAST, [b"\x18\x0a\x32\x01\x05"], ("172.18.18.1",)))
    with pytest.raises(ValueError, match="host bits"):
        list(RULES.program_many(IPV6_UNICAST, [b"\x10\xfd\x00\x01"], ("fd00::2",)))

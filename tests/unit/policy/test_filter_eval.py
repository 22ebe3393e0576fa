"""bgpd.policy.filter_eval: first-match evaluation, BIRD's meaning of Calico's BGPFilter rules."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bgpd.config.filter_section import (
    FilterAction,
    FilterConfig,
    FilterRule,
    MatchOperator,
    RouteSource,
)
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, Afi, IPNetwork, pack_network
from bgpd.policy.filter_eval import (
    FilterChain,
    compile_filters,
    evaluate,
    glob_matches,
    import_accepts,
)

A, R = FilterAction.ACCEPT, FilterAction.REJECT
IN, NOT_IN, EQ, NE = (
    MatchOperator.IN,
    MatchOperator.NOT_IN,
    MatchOperator.EQUAL,
    MatchOperator.NOT_EQUAL,
)
net = ipaddress.ip_network


def rule(
    action: FilterAction = A, cidr: str | None = None, op: MatchOperator | None = None, **kw: object
) -> FilterRule:
    return FilterRule(
        action=action,
        cidr=None if cidr is None else net(cidr),
        match_operator=op,
        **kw,  # type: ignore[arg-type]
    )


# (rule, prefix, interface, from_remote_peer, matches)
CASES = [
    (rule(cidr="10.0.0.0/8", op=IN), "10.0.0.0/8", None, True, True),  # net ~ cidr: equal
    (rule(cidr="10.0.0.0/8", op=IN), "10.1.2.0/24", None, True, True),  # more specific
    (rule(cidr="10.0.0.0/8", op=IN), "10.0.0.0/7", None, True, False),  # less specific
    (rule(cidr="10.0.0.0/8", op=IN), "11.0.0.0/8", None, True, False),
    (rule(cidr="10.0.0.0/8", op=NOT_IN), "11.0.0.0/8", None, True, True),
    (rule(cidr="10.0.0.0/8", op=NOT_IN), "10.9.0.0/16", None, True, False),
    (rule(cidr="10.0.0.0/8", op=EQ), "10.0.0.0/8", None, True, True),
    (rule(cidr="10.0.0.0/8", op=EQ), "10.0.0.0/9", None, True, False),
    (rule(cidr="10.0.0.0/8", op=NE), "10.0.0.0/9", None, True, True),
    (rule(cidr="10.0.0.0/8", op=NE), "10.0.0.0/8", None, True, False),
    (rule(cidr="0.0.0.0/0", op=IN), "192.0.2.0/24", None, True, True),
    # net ~ [ 10.0.0.0/8{16,24} ]
    (
        rule(cidr="10.0.0.0/8", op=IN, prefix_length_min=16, prefix_length_max=24),
        "10.1.0.0/16",
        None,
        True,
        True,
    ),
    (
        rule(cidr="10.0.0.0/8", op=IN, prefix_length_min=16, prefix_length_max=24),
        "10.1.1.0/24",
        None,
        True,
        True,
    ),
    (
        rule(cidr="10.0.0.0/8", op=IN, prefix_length_min=16, prefix_length_max=24),
        "10.1.1.0/25",
        None,
        True,
        False,
    ),
    (
        rule(cidr="10.0.0.0/8", op=IN, prefix_length_min=16, prefix_length_max=24),
        "10.0.0.0/8",
        None,
        True,
        False,
    ),
    (rule(cidr="10.0.0.0/8", op=NOT_IN, prefix_length_min=16), "10.0.0.0/8", None, True, True),
    (rule(cidr="fd00::/8", op=IN), "fd00:1::/64", None, True, True),
    (rule(cidr="fd00::/8", op=IN), "fe80::/64", None, True, False),
    # source ~ [ RTS_BGP ]
    (rule(source=RouteSource.REMOTE_PEERS), "192.0.2.0/24", None, True, True),
    (rule(source=RouteSource.REMOTE_PEERS), "192.0.2.0/24", None, False, False),
    # defined(ifname) && ifname ~ "eth*"
    (rule(interface="eth*"), "192.0.2.0/24", "eth0", False, True),
    (rule(interface="eth*"), "192.0.2.0/24", "cali123", False, False),
    (rule(interface="eth*"), "192.0.2.0/24", None, False, False),
    (rule(interface="eth?"), "192.0.2.0/24", "eth10", False, False),
    (rule(interface="*"), "192.0.2.0/24", "x", False, True),
    # All conditions are ANDed.
    (rule(cidr="10.0.0.0/8", op=IN, interface="eth0"), "10.0.0.0/24", "eth0", False, True),
    (rule(cidr="10.0.0.0/8", op=IN, interface="eth0"), "10.0.0.0/24", "eth1", False, False),
    (
        rule(cidr="10.0.0.0/8", op=IN, source=RouteSource.REMOTE_PEERS),
        "10.0.0.0/24",
        None,
        False,
        False,
    ),
    (rule(), "192.0.2.0/24", None, False, True),  # no condition: always matches
]


@pytest.mark.parametrize(("r", "prefix", "interface", "remote", "expected"), CASES)
def test_rule_semantics(
    r: FilterRule, prefix: str, interface: str | None, remote: bool, expected: bool
) -> None:
    network = net(prefix)
    family = IPV4_UNICAST if network.version == 4 else IPV6_UNICAST
    for p in (network, pack_network(network)):
        got = evaluate([r], family, p, interface=interface, from_remote_peer=remote)
        assert got is (True if expected else None)
        got = evaluate(
            [rule(R, None if r.cidr is None else str(r.cidr), r.match_operator, **_extras(r))],
            family,
            p,
            interface=interface,
            from_remote_peer=remote,
        )
        assert got is (False if expected else None)


def _extras(r: FilterRule) -> dict[str, object]:
    return {
        "prefix_length_min": r.prefix_length_min,
        "prefix_length_max": r.prefix_length_max,
        "source": r.source,
        "interface": r.interface,
    }


def test_first_match_wins_across_filters_in_peer_order() -> None:
    first = FilterConfig(name="first", import_v4=(rule(R, "10.0.0.0/8", IN),))
    second = FilterConfig(name="second", import_v4=(rule(A, "10.0.0.0/16", IN), rule(R)))
    p = net("10.0.1.0/24")
    chain = compile_filters([first, second], ["first", "second"], export=False, version=4)
    assert chain.decide(p, interface=None, from_remote_peer=True) is False
    chain = compile_filters(
        {"first": first, "second": second}, ["second", "first"], export=False, version=4
    )
    assert chain.decide(p, interface=None, from_remote_peer=True) is True
    # Outside both specific rules, "second" ends with an unconditional reject.
    assert chain.decide(net("192.0.2.0/24"), interface=None, from_remote_peer=True) is False


def test_chain_uses_only_its_direction_and_family() -> None:
    f = FilterConfig(
        name="f",
        import_v4=(rule(R, "10.0.0.0/8", IN),),
        export_v4=(rule(A, "10.0.0.0/8", IN),),
        import_v6=(rule(R, "fd00::/8", IN),),
        export_v6=(rule(A),),
    )
    imp4 = compile_filters([f], ["f"], export=False, version=4)
    exp4 = compile_filters([f], ["f"], export=True, version=4)
    imp6 = compile_filters([f], ["f"], export=False, version=6)
    assert imp4.decide(net("10.1.0.0/16"), interface=None, from_remote_peer=True) is False
    assert exp4.decide(net("10.1.0.0/16"), interface=None, from_remote_peer=True) is True
    assert imp6.decide(net("fd00:1::/64"), interface=None, from_remote_peer=True) is False
    # A network of the other version never matches a chain.
    assert imp6.decide(net("10.1.0.0/16"), interface=None, from_remote_peer=True) is None


def test_unknown_names_are_skipped_and_empty_chain_is_falsy() -> None:
    chain = compile_filters([], ["missing"], export=False, version=4)
    assert not chain
    assert chain.decide(net("10.0.0.0/8"), interface=None, from_remote_peer=True) is None


def test_import_default_is_accept() -> None:
    reject_private = FilterChain([rule(R, "10.0.0.0/8", IN)], 4)
    assert import_accepts(reject_private, pack_network(net("10.0.0.0/24"))) is False
    assert import_accepts(reject_private, pack_network(net("192.0.2.0/24"))) is True
    assert import_accepts(FilterChain([], 4), pack_network(net("10.0.0.0/24"))) is True


def test_evaluate_accepts_an_afi() -> None:
    assert (
        evaluate(
            [rule(R, "fd00::/8", IN)],
            Afi.IPV6,
            net("fd00::/16"),
            interface=None,
            from_remote_peer=True,
        )
        is False
    )


def test_chain_version_is_checked() -> None:
    with pytest.raises(ValueError, match="4 or 6"):
        FilterChain([], 5)


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("eth*", "eth0", True),
        ("eth*", "eth", True),
        ("*.cali", "x.cali", True),
        ("e?h0", "eth0", True),
        ("eth0", "eth00", False),
        ("a.b", "axb", False),
    ],
)
def test_glob(pattern: str, text: str, expected: bool) -> None:
    assert glob_matches(pattern, text) is expected


# ---- property: the integer evaluation agrees with an ipaddress-based reading of BIRD --------


def _reference(r: FilterRule, p: IPNetwork) -> bool:
    if r.cidr is None:
        return True
    inside = p.version == r.cidr.version and p.subnet_of(r.cidr)  # type: ignore[arg-type]
    low, high = r.length_range or (0, 128)
    match r.match_operator:
        case MatchOperator.IN:
            return inside and low <= p.prefixlen <= high
        case MatchOperator.NOT_IN:
            return not (inside and low <= p.prefixlen <= high)
        case MatchOperator.EQUAL:
            return p == r.cidr
        case _:
            return p != r.cidr


_V4_NETS = st.builds(
    lambda addr, length: ipaddress.IPv4Network((addr, length), strict=False),
    st.integers(0, 2**32 - 1),
    st.integers(0, 32),
)


@st.composite
def _rules(draw: st.DrawFn) -> FilterRule:
    cidr = draw(_V4_NETS)
    op = draw(st.sampled_from(list(MatchOperator)))
    lengths: dict[str, int] = {}
    if op in (IN, NOT_IN) and draw(st.booleans()):
        low = draw(st.integers(cidr.prefixlen, 32))
        lengths = {"prefix_length_min": low, "prefix_length_max": draw(st.integers(low, 32))}
    return FilterRule(action=A, cidr=cidr, match_operator=op, **lengths)  # type: ignore[arg-type]


@settings(max_examples=400, deadline=None)
@given(_rules(), st.lists(_V4_NETS, min_size=1, max_size=5))
def test_compiled_matches_reference(r: FilterRule, prefixes: list[IPNetwork]) -> None:
    chain = FilterChain([r], 4)
    cidr = r.cidr
    assert cidr is not None
    for p in prefixes:
        # Prefixes near the rule's cidr too, so "inside" cases are common.
        near = ipaddress.IPv4Network(
            (int(cidr.network_address), max(p.prefixlen, cidr.prefixlen)), strict=False
        )
        for candidate in (p, near):
            expected = True if _reference(r, candidate) else None
            assert (
                chain.decide_nlri(pack_network(candidate), interface=None, from_remote_peer=True)
                is expected
            )

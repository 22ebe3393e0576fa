"""BGPFilter's route conditions and operations, table by table, against what Calico's BIRD
filter does for the same route.

The expected outcomes are written from the BIRD text Calico renders (confd
`pkg/resource/template/template_funcs.go` and `pkg/backends/calico/bgp_processor.go`, Calico
main 87c15906) and BIRD's meaning of it:

- template_funcs.go:147-151 `filterStatement`: the rule's conditions joined with `&&`, the
  operations then `accept;`/`reject;` inside `if (...) then { ... }`;
- :232-249 `filterMatchCommunity`: `((A, B) ~ bgp_community)` for "A:B",
  `((A, B, C) ~ bgp_large_community)` for "A:B:C": membership of one value (values[0]);
- :253-262 `filterMatchASPathPrefix`: `(bgp_path ~ [= A B * =])`: the path starts with A B
  (`*` any number of ASNs, also none; an AS_SET is one position);
- :266-271 `filterMatchPriority`: `(defined(bgp_local_pref)&&(bgp_local_pref = 2147483647-P))`;
- :292-324 `filterOperationStatements`: `bgp_community.add((A, B));`,
  `bgp_large_community.add((A, B, C));`, `bgp_path.prepend(X);` once per ASN from the last,
  `bgp_local_pref = 2147483647-P;`;
- :486-491 `BGPFilterBIRDFuncs`: an eBGP rule is wrapped in `if (!is_same_as)`, an iBGP rule in
  `if (is_same_as)`; bgp_processor.go:715/800 `sameAS := peerAS == nodeAS`;
- bgp_processor.go:786-791 (export only, before the filter functions): a BGP route with a
  LOCAL_PREF keeps it, any other gets `bgp_local_pref = 2147483647 - krt_metric`, krt_metric
  the normal priority (1024) when the kernel gave none.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from bgpd.config.checks import Community, LargeCommunity
from bgpd.config.filter_section import (
    FilterAction,
    FilterOperation,
    FilterRule,
    MatchOperator,
    PeerType,
)
from bgpd.net import pack_network
from bgpd.policy.filter_eval import FilterChain, as_path_starts_with
from bgpd.policy.filter_ops import RouteOperations, prepend_as_path
from bgpd.wire.attributes import AsPathSegment, PathAttributes
from bgpd.wire.constants import SegmentType

SEQ, SET = SegmentType.AS_SEQUENCE, SegmentType.AS_SET
A, R = FilterAction.ACCEPT, FilterAction.REJECT
MAX = 2_147_483_647
net = ipaddress.ip_network
PREFIX = {4: "10.1.2.0/24", 6: "fd00:1:2::/48"}
OUTSIDE = {4: "192.0.2.0/24", 6: "2001:db8::/32"}
INSIDE_CIDR = {4: "10.0.0.0/8", 6: "fd00::/8"}


def seq(*asns: int) -> AsPathSegment:
    return AsPathSegment(type=SEQ, asns=asns)


def aset(*asns: int) -> AsPathSegment:
    return AsPathSegment(type=SET, asns=asns)


def route(
    *path: AsPathSegment | int,
    communities: tuple[str, ...] = (),
    large: tuple[tuple[int, int, int], ...] = (),
    local_pref: int | None = None,
) -> PathAttributes:
    segments: list[AsPathSegment] = []
    flat = tuple(p for p in path if isinstance(p, int))
    if flat:
        segments.append(seq(*flat))
    segments.extend(p for p in path if isinstance(p, AsPathSegment))
    values = tuple((int(a) << 16) | int(b) for a, b in (c.split(":") for c in communities))
    return PathAttributes(
        as_path=tuple(segments),
        communities=values,
        large_communities=large,
        local_pref=local_pref,
    )


def decide(
    rule: FilterRule,
    attrs: PathAttributes,
    *,
    export: bool,
    version: int,
    ibgp: bool = False,
    prefix: str | None = None,
) -> bool | None:
    chain = FilterChain([rule], version, export=export, ibgp=ibgp)
    nlri = pack_network(net(prefix or PREFIX[version]))
    return chain.decide_nlri(nlri, interface=None, from_remote_peer=not export, attributes=attrs)


BOTH = [(export, version) for export in (False, True) for version in (4, 6)]
BOTH_IDS = [f"{'export' if e else 'import'}-v{v}" for e, v in BOTH]

# (rule fields, route, matches: the rule's `if` holds) -- the same in both directions.
COMMUNITY_CASES: list[tuple[dict[str, Any], PathAttributes, bool]] = [
    # ((65000, 100) ~ bgp_community)
    ({"community": Community(high=65000, low=100)}, route(communities=("65000:100",)), True),
    (
        {"community": Community(high=65000, low=100)},
        route(communities=("1:1", "65000:100", "2:2")),
        True,
    ),
    ({"community": Community(high=65000, low=100)}, route(communities=("65000:101",)), False),
    ({"community": Community(high=65000, low=100)}, route(), False),
    # A standard community is looked for in bgp_community only, never in the large list.
    ({"community": Community(high=65000, low=100)}, route(large=((65000, 100, 0),)), False),
    # ((65000, 10, 20) ~ bgp_large_community)
    (
        {"community": LargeCommunity(global_admin=65000, local1=10, local2=20)},
        route(large=((65000, 10, 20),)),
        True,
    ),
    (
        {"community": LargeCommunity(global_admin=65000, local1=10, local2=20)},
        route(large=((65000, 10, 21),), communities=("65000:10",)),
        False,
    ),
    (
        {"community": LargeCommunity(global_admin=4_294_967_295, local1=0, local2=1)},
        route(large=((4_294_967_295, 0, 1),)),
        True,
    ),
]

# (bgp_path ~ [= A B * =])
PATH_CASES: list[tuple[dict[str, Any], PathAttributes, bool]] = [
    ({"as_path_prefix": (65001,)}, route(65001, 65002), True),
    ({"as_path_prefix": (65001,)}, route(65001), True),  # `*` matches no ASN too
    ({"as_path_prefix": (65001,)}, route(65002, 65001), False),  # anchored at the start
    ({"as_path_prefix": (65001,)}, route(), False),
    ({"as_path_prefix": (65001, 65002)}, route(65001, 65002, 65003), True),
    ({"as_path_prefix": (65001, 65002)}, route(65001, 65003, 65002), False),
    ({"as_path_prefix": (65001, 65002)}, route(65001), False),  # shorter than the prefix
    ({"as_path_prefix": (65001, 65002)}, route(seq(65001), seq(65002)), True),
    # An AS_SET is one position, matching an ASN it holds.
    ({"as_path_prefix": (65001, 65003)}, route(seq(65001), aset(65002, 65003)), True),
    ({"as_path_prefix": (65001, 65004)}, route(seq(65001), aset(65002, 65003)), False),
    ({"as_path_prefix": (65001, 65002, 65003)}, route(seq(65001), aset(65002, 65003)), False),
    ({"as_path_prefix": (65002, 65009)}, route(aset(65002, 65003), seq(65009)), True),
]


@pytest.mark.parametrize(("export", "version"), BOTH, ids=BOTH_IDS)
@pytest.mark.parametrize(("fields", "attrs", "matches"), COMMUNITY_CASES + PATH_CASES)
def test_route_condition(
    fields: dict[str, Any], attrs: PathAttributes, matches: bool, export: bool, version: int
) -> None:
    accept = FilterRule(action=A, **fields)
    reject = FilterRule(action=R, **fields)
    assert decide(accept, attrs, export=export, version=version) is (True if matches else None)
    assert decide(reject, attrs, export=export, version=version) is (False if matches else None)


# (priority P, the route's LOCAL_PREF, learned over BGP, matches on import, on export)
PRIORITY_CASES = [
    (512, MAX - 512, True, True, True),
    (512, 100, True, False, False),
    (1024, MAX - 1024, True, True, True),
    # Received without LOCAL_PREF (over eBGP): Calico's BIRD 1.6 gives it its default, 100,
    # as it decodes the UPDATE (seen with `birdc show route all`: BGP.local_pref: 100), so
    # `defined(bgp_local_pref)` holds and the priority is 2147483647 - 100.
    (1024, None, True, False, False),
    (MAX - 100, None, True, True, True),
    # A local route: bgp_processor.go:788-790 sets bgp_local_pref = 2147483647 - krt_metric,
    # krt_metric the normal priority (1024) when the kernel gave none.
    (1024, None, False, None, True),
    (512, None, False, None, False),
    (1, MAX - 1, True, True, True),
    (MAX - 1, 1, True, True, True),
]


@pytest.mark.parametrize("version", [4, 6])
@pytest.mark.parametrize(
    ("priority", "local_pref", "from_bgp", "on_import", "on_export"), PRIORITY_CASES
)
def test_priority(
    priority: int,
    local_pref: int | None,
    from_bgp: bool,
    on_import: bool | None,
    on_export: bool,
    version: int,
) -> None:
    rule = FilterRule(action=A, priority=priority)
    attrs = route(local_pref=local_pref)
    nlri = pack_network(net(PREFIX[version]))
    if on_import is not None:  # every imported route is learned over BGP
        chain = FilterChain([rule], version, export=False)
        got = chain.decide_nlri(nlri, interface=None, from_remote_peer=True, attributes=attrs)
        assert got is (True if on_import else None)
    chain = FilterChain([rule], version, export=True)
    # On export the rules get the exported attributes and the route's own LOCAL_PREF.
    exported = route(local_pref=None)
    match = chain.match_nlri(
        nlri,
        interface=None,
        from_remote_peer=from_bgp,
        attributes=exported,
        route_local_pref=local_pref,
    )
    assert (match is not None) is on_export


@pytest.mark.parametrize(("export", "version"), BOTH, ids=BOTH_IDS)
@pytest.mark.parametrize(
    ("peer_type", "ibgp", "matches"),
    [
        (PeerType.EBGP, False, True),  # if (!is_same_as)
        (PeerType.EBGP, True, False),
        (PeerType.IBGP, True, True),  # if (is_same_as)
        (PeerType.IBGP, False, False),
    ],
)
def test_peer_type(
    peer_type: PeerType, ibgp: bool, matches: bool, export: bool, version: int
) -> None:
    rule = FilterRule(action=R, peer_type=peer_type)
    got = decide(rule, route(), export=export, version=version, ibgp=ibgp)
    assert got is (False if matches else None)


def test_a_peer_type_rule_needs_the_peer_type() -> None:
    with pytest.raises(ValueError, match="peer's type"):
        FilterChain([FilterRule(action=A, peer_type=PeerType.EBGP)], 4)


@pytest.mark.parametrize(("export", "version"), BOTH, ids=BOTH_IDS)
@pytest.mark.parametrize(
    ("prefix_inside", "has_community", "path_ok", "matches"),
    [
        (True, True, True, True),
        (False, True, True, False),
        (True, False, True, False),
        (True, True, False, False),
    ],
)
def test_conditions_are_anded(
    prefix_inside: bool,
    has_community: bool,
    path_ok: bool,
    matches: bool,
    export: bool,
    version: int,
) -> None:
    # if ((net ~ cidr)&&((65000, 100) ~ bgp_community)&&(bgp_path ~ [= 65001 * =])) then ...
    rule = FilterRule(
        action=A,
        cidr=net(INSIDE_CIDR[version]),
        match_operator=MatchOperator.IN,
        community=Community(high=65000, low=100),
        as_path_prefix=(65001,),
        peer_type=PeerType.EBGP,
    )
    attrs = route(65001 if path_ok else 65002, communities=("65000:100",) if has_community else ())
    prefix = PREFIX[version] if prefix_inside else OUTSIDE[version]
    got = decide(rule, attrs, export=export, version=version, prefix=prefix)
    assert got is (True if matches else None)


def test_first_match_decides_and_carries_its_operations() -> None:
    ops = (FilterOperation(add_community=Community(high=1, low=1)),)
    chain = FilterChain(
        [
            FilterRule(action=R, community=Community(high=65000, low=666)),
            FilterRule(action=A, as_path_prefix=(65001,), operations=ops),
            FilterRule(action=R),
        ],
        4,
    )
    nlri = pack_network(net("10.0.0.0/24"))

    def match(attrs: PathAttributes) -> tuple[bool, bool] | None:
        rule = chain.match_nlri(nlri, interface=None, from_remote_peer=True, attributes=attrs)
        return None if rule is None else (rule.accept, rule.operations is not None)

    assert match(route(65001, communities=("65000:666",))) == (False, False)
    assert match(route(65001)) == (True, True)
    assert match(route(65002)) == (False, False)


# ---- operations: the route after `if (...) then { <operations> accept; }` ------------------

C = Community
L = LargeCommunity


def ops(*operations: FilterOperation) -> RouteOperations:
    compiled = RouteOperations.compile(operations)
    assert compiled is not None
    return compiled


def op(**kw: Any) -> FilterOperation:
    return FilterOperation(**kw)


OPERATION_CASES: list[tuple[RouteOperations, PathAttributes, PathAttributes]] = [
    # bgp_community.add((65000, 200)); appended, kept once
    (
        ops(op(add_community=C(high=65000, low=200))),
        route(65001, communities=("65000:100",)),
        route(65001, communities=("65000:100", "65000:200")),
    ),
    (
        ops(op(add_community=C(high=65000, low=100))),
        route(65001, communities=("65000:100",)),
        route(65001, communities=("65000:100",)),
    ),
    # bgp_large_community.add((65000, 1, 2));
    (
        ops(op(add_community=L(global_admin=65000, local1=1, local2=2))),
        route(65001, large=((1, 1, 1),)),
        route(65001, large=((1, 1, 1), (65000, 1, 2))),
    ),
    # bgp_path.prepend(65000);
    (ops(op(prepend_as_path=(65000,))), route(65001), route(65000, 65001)),
    # bgp_path.prepend(65001); bgp_path.prepend(65000); -> "65000 65001 <original>"
    (ops(op(prepend_as_path=(65000, 65001))), route(65009), route(65000, 65001, 65009)),
    # Two operations: the later one's statements run later, so its ASNs end up in front.
    (
        ops(op(prepend_as_path=(1,)), op(prepend_as_path=(2, 3))),
        route(65009),
        route(2, 3, 1, 65009),
    ),
    # Prepending to a path that starts with an AS_SET makes a new sequence in front.
    (
        ops(op(prepend_as_path=(65000,))),
        route(aset(1, 2)),
        route(seq(65000), aset(1, 2)),
    ),
    (ops(op(prepend_as_path=(65000, 65000))), route(), route(65000, 65000)),
    # A full sequence (255 ASNs) gets a new segment in front (BIRD's as_path_prepend2).
    (
        ops(op(prepend_as_path=(7, 8))),
        route(seq(*range(1, 255))),
        route(seq(7), seq(8, *range(1, 255))),
    ),
    # bgp_local_pref = 2147483647 - P; the last one wins
    (ops(op(set_priority=512)), route(65001), route(65001, local_pref=MAX - 512)),
    (
        ops(op(set_priority=512), op(set_priority=10)),
        route(65001, local_pref=100),
        route(65001, local_pref=MAX - 10),
    ),
    # Calico's own example (template_funcs_test.go): community, prepend, priority
    (
        ops(
            op(add_community=C(high=65001, low=200)),
            op(prepend_as_path=(65000,)),
            op(set_priority=100),
        ),
        route(65010, communities=("65000:100",)),
        route(65000, 65010, communities=("65000:100", "65001:200"), local_pref=2147483547),
    ),
]


@pytest.mark.parametrize(("operations", "before", "after"), OPERATION_CASES)
def test_operation(
    operations: RouteOperations, before: PathAttributes, after: PathAttributes
) -> None:
    assert operations.apply(before) == after


def test_no_operations_compile_to_none() -> None:
    assert RouteOperations.compile(()) is None


def test_prepend_folds_one_asn_at_a_time() -> None:
    # 254 ASNs: 8 still fits (255), then 7 needs a segment of its own.
    path = (seq(*range(1, 255)),)
    assert prepend_as_path(path, (7, 8)) == (seq(7), seq(8, *range(1, 255)))
    assert as_path_starts_with(route(seq(7), seq(8, 1)), (7, 8, 1))

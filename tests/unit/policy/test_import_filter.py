"""bgpd.policy.import_filter: one UPDATE batch through a session's import rules.

The route conditions are decided once per batch; the changed route is built once per
(candidate, rule) and shared by every prefix and every later batch with that candidate.
"""

from __future__ import annotations

import ipaddress

from bgpd.config.checks import Community
from bgpd.config.filter_section import (
    FilterAction,
    FilterConfig,
    FilterOperation,
    FilterRule,
    MatchOperator,
    PeerType,
)
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, Afi, pack_network
from bgpd.policy.import_filter import ImportFilter, import_filter
from bgpd.rib import Candidate, PathInfo, Source, SourceKind
from bgpd.wire.attributes import AsPathSegment, PathAttributes
from bgpd.wire.constants import SegmentType

A, R = FilterAction.ACCEPT, FilterAction.REJECT
SOURCE = Source(name="tor", kind=SourceKind.EBGP, peer_asn=65010)
TAG = (FilterOperation(add_community=Community(high=65000, low=1)),)
MAX = 2_147_483_647


def nlri(text: str) -> bytes:
    return pack_network(ipaddress.ip_network(text))


def candidate(*path: int, communities: tuple[int, ...] = ()) -> Candidate:
    attrs = PathAttributes(
        as_path=(AsPathSegment(type=SegmentType.AS_SEQUENCE, asns=path),),
        communities=communities,
    )
    return Candidate(source=SOURCE, info=PathInfo(attributes=attrs, next_hop=b"\x0a\x00\x00\x01"))


def filt(*rules: FilterRule, ibgp: bool = False, v6: bool = False) -> ImportFilter:
    lists = {"import_v6" if v6 else "import_v4": rules}
    return ImportFilter([FilterConfig(name="f", **lists)], ibgp=ibgp)  # type: ignore[arg-type]


def test_no_filters_is_no_import_filter() -> None:
    assert import_filter((), ibgp=False) is None
    f = filt(FilterRule(action=R))
    assert f.applies(Afi.IPV4) and not f.applies(Afi.IPV6)


def test_a_route_rule_decides_the_whole_batch_at_once() -> None:
    f = filt(FilterRule(action=A, as_path_prefix=(65010,), operations=TAG), FilterRule(action=R))
    prefixes = [nlri("10.0.0.0/24"), nlri("10.0.1.0/24"), nlri("192.0.2.0/24")]
    cand = candidate(65010, 65020)
    ((changed, got, ids),) = f.split(IPV4_UNICAST, prefixes, None, cand)
    assert got is prefixes and ids is None
    assert changed is not None and changed is not cand
    assert changed.info.attributes.communities == ((65000 << 16) | 1,)
    assert changed.source is cand.source and changed.info.next_hop == cand.info.next_hop
    # The next UPDATE with the same shared candidate gets the very same changed route.
    ((again, _, _),) = f.split(IPV4_UNICAST, [nlri("10.9.0.0/24")], None, cand)
    assert again is changed
    # Another path falls through to the reject rule.
    ((rejected, _, _),) = f.split(IPV4_UNICAST, prefixes, None, candidate(65030))
    assert rejected is None


def test_prefix_rules_split_the_batch_by_outcome_and_keep_path_ids() -> None:
    f = filt(
        FilterRule(
            action=R,
            cidr=ipaddress.ip_network("10.0.0.0/8"),
            match_operator=MatchOperator.IN,
            prefix_length_min=25,
        ),
        FilterRule(
            action=A,
            cidr=ipaddress.ip_network("10.0.0.0/8"),
            match_operator=MatchOperator.IN,
            operations=TAG,
        ),
    )
    prefixes = [
        nlri("10.0.0.0/24"),  # tagged
        nlri("10.0.0.128/25"),  # rejected
        nlri("192.0.2.0/24"),  # no rule: kept as it came
        nlri("10.1.0.0/16"),  # tagged
    ]
    cand = candidate(65010)
    runs = f.split(IPV4_UNICAST, prefixes, [1, 2, 3, 4], cand)
    outcome = {tuple(p): (c, ids) for c, p, ids in runs}
    tagged, tagged_ids = outcome[(prefixes[0], prefixes[3])]
    assert tagged is not None and tagged is not cand and tagged_ids == [1, 4]
    assert outcome[(prefixes[1],)] == (None, [2])
    assert outcome[(prefixes[2],)] == (cand, [3])
    # One changed route for both tagged prefixes, and for the next batch.
    ((again, _, _),) = f.split(IPV4_UNICAST, [nlri("10.7.0.0/24")], None, cand)
    assert again is tagged


def test_nothing_matching_returns_the_batch_untouched() -> None:
    f = filt(FilterRule(action=R, community=Community(high=1, low=1)), v6=True)
    prefixes = [nlri("fd00::/64")]
    cand = candidate(65010)
    assert f.split(IPV6_UNICAST, prefixes, None, cand) == [(cand, prefixes, None)]


def test_peer_type_is_the_sessions() -> None:
    rules = (FilterRule(action=R, peer_type=PeerType.IBGP),)
    prefixes = [nlri("10.0.0.0/24")]
    cand = candidate(65010)
    assert filt(*rules, ibgp=True).split(IPV4_UNICAST, prefixes, None, cand)[0][0] is None
    assert filt(*rules, ibgp=False).split(IPV4_UNICAST, prefixes, None, cand)[0][0] is cand


def test_set_priority_on_import_sets_local_pref() -> None:
    f = filt(FilterRule(action=A, operations=(FilterOperation(set_priority=512),)))
    ((changed, _, _),) = f.split(IPV4_UNICAST, [nlri("10.0.0.0/24")], None, candidate(1))
    assert changed is not None and changed.info.attributes.local_pref == MAX - 512


def test_the_changed_routes_cache_is_bounded() -> None:
    f = ImportFilter(
        [FilterConfig(name="f", import_v4=(FilterRule(action=A, operations=TAG),))],
        ibgp=False,
        max_size=2,
    )
    cands = [candidate(65000 + i) for i in range(5)]
    firsts = [f.split(IPV4_UNICAST, [nlri("10.0.0.0/24")], None, c)[0][0] for c in cands]
    assert len({id(c) for c in firsts}) == 5
    assert len(f._modified) <= 2

"""`bgpctl show routes` queries over a Loc-RIB: longest match, more and less specifics,
attribute filters, families, stale and best paths, counts, and the errors of a bad query."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest

from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, pack_prefix
from bgpd.rib import Candidate, LocRib, SourceKind
from bgpd.speaker import RouteQuery, RouteQueryError
from bgpd.speaker.route_answers import answer
from bgpd.views import ReceivedView, RouteCountView, RouteView
from tests.unit.rib.helpers import attrs, cand, source

A = source("a", SourceKind.EBGP, asn=65001, router_id="10.0.0.1", address="10.0.0.1")
B = source("b", SourceKind.EBGP, asn=65005, router_id="10.0.0.2", address="10.0.0.2")


def _with(c: Candidate, **changes: Any) -> Candidate:
    info = replace(c.info, attributes=replace(c.info.attributes, **changes))
    return replace(c, info=info)


def rib() -> LocRib:
    r = LocRib()
    r.announce(IPV4_UNICAST, pack_prefix("10.0.0.0/8"), cand(A, attrs(path=(65001,))))
    r.announce(
        IPV4_UNICAST,
        pack_prefix("10.1.0.0/16"),
        _with(cand(A, attrs(path=(65001, 65002))), communities=(65001 << 16 | 7,)),
    )
    r.announce(IPV4_UNICAST, pack_prefix("10.1.0.0/16"), cand(B, attrs(path=(65005, 65006, 65007))))
    r.announce(
        IPV4_UNICAST,
        pack_prefix("10.1.2.0/24"),
        _with(
            cand(A, attrs(path=(65001,), as_set=(65003, 65004))),
            large_communities=((65001, 1, 2),),
        ),
    )
    r.announce(IPV4_UNICAST, pack_prefix("10.1.2.128/25"), cand(B, attrs(path=(65005,))).as_stale())
    r.announce(IPV4_UNICAST, pack_prefix("192.168.0.0/16"), cand(B, attrs(path=(65005,))))
    r.announce(IPV6_UNICAST, pack_prefix("2001:db8::/32"), cand(A, attrs(path=(65001,))))
    r.take_changes()
    return r


PEERS = {"a": SimpleNamespace(rejected=set()), "b": SimpleNamespace(rejected=set())}


def ask(**args: Any) -> Any:
    return answer(RouteQuery.from_args(args), rib(), PEERS, lambda _name: None)  # type: ignore[arg-type]


def prefixes(routes: list[RouteView]) -> list[tuple[str, str]]:
    return [(r.prefix, r.peer) for r in routes]


def test_for_an_address_gives_the_longest_matching_prefix_only() -> None:
    assert prefixes(ask(**{"for": "10.1.2.200"})) == [("10.1.2.128/25", "b")]
    assert prefixes(ask(**{"for": "10.1.2.7"})) == [("10.1.2.0/24", "a")]
    # both paths of the longest match, best first
    assert prefixes(ask(**{"for": "10.1.9.9"})) == [("10.1.0.0/16", "a"), ("10.1.0.0/16", "b")]
    assert prefixes(ask(**{"for": "10.200.0.1"})) == [("10.0.0.0/8", "a")]
    assert prefixes(ask(**{"for": "2001:db8::1"})) == [("2001:db8::/32", "a")]
    assert ask(**{"for": "172.16.0.1"}) == []


def test_a_prefix_alone_is_an_exact_match() -> None:
    assert prefixes(ask(prefix="10.1.2.0/24")) == [("10.1.2.0/24", "a")]
    assert ask(prefix="10.1.3.0/24") == []


def test_longer_gives_the_prefix_and_its_more_specifics_in_address_order() -> None:
    got = prefixes(ask(prefix="10.1.0.0/16", longer=True))
    assert got == [
        ("10.1.0.0/16", "a"),
        ("10.1.0.0/16", "b"),
        ("10.1.2.0/24", "a"),
        ("10.1.2.128/25", "b"),
    ]
    # a prefix with a partial last octet: 10.1.2.128/25 is inside 10.1.2.0/23, 10.0/8 is not
    got = [p for p, _ in prefixes(ask(prefix="10.1.2.0/23", longer=True))]
    assert got == ["10.1.2.0/24", "10.1.2.128/25"]
    assert ask(prefix="10.1.2.0/25", longer=True) == []  # 10.1.2.128/25 is beside it


def test_shorter_gives_the_prefix_and_every_covering_one() -> None:
    got = [p for p, _ in prefixes(ask(prefix="10.1.2.0/24", shorter=True))]
    assert got == ["10.0.0.0/8", "10.1.0.0/16", "10.1.0.0/16", "10.1.2.0/24"]


def test_community_and_large_community_filters() -> None:
    assert prefixes(ask(communities=["65001:7"])) == [("10.1.0.0/16", "a")]
    assert prefixes(ask(large_communities=["65001:1:2"])) == [("10.1.2.0/24", "a")]
    assert ask(communities=["65001:7", "65001:8"]) == []  # all must be there


def test_as_path_regex_matches_the_path_as_the_table_shows_it() -> None:
    assert [p for p, _ in prefixes(ask(as_path=r"^65001 "))] == ["10.1.0.0/16", "10.1.2.0/24"]
    # an AS_SET is matched in its braces, and kept as a segment in the view
    (aggregated,) = ask(as_path=r"\{65003 65004\}$")
    assert aggregated.prefix == "10.1.2.0/24"
    assert aggregated.to_json()["as_path_segments"][1] == {
        "type": "AS_SET",
        "asns": [65003, 65004],
    }


def test_family_stale_best_and_peer_filters() -> None:
    assert prefixes(ask(family="ipv6")) == [("2001:db8::/32", "a")]
    (stale,) = ask(stale=True)
    assert (stale.prefix, stale.stale) == ("10.1.2.128/25", True)
    best = ask(best=True)
    assert all(r.best for r in best) and len(best) == 6
    assert [p for p, _ in prefixes(ask(peer="b"))] == [
        "10.1.0.0/16",
        "10.1.2.128/25",
        "192.168.0.0/16",
    ]


def test_count_per_family_from_the_counters_and_with_filters() -> None:
    assert ask(count=True) == [
        RouteCountView(family="ipv4-unicast", prefixes=5, paths=6, best=5),
        RouteCountView(family="ipv6-unicast", prefixes=1, paths=1, best=1),
    ]
    assert ask(count=True, best=True, family="ipv4") == [
        RouteCountView(family="ipv4-unicast", prefixes=5, paths=5, best=5)
    ]
    assert ask(count=True, peer="b") == [
        RouteCountView(family="ipv4-unicast", prefixes=3, paths=3, best=2),
        RouteCountView(family="ipv6-unicast", prefixes=0, paths=0, best=0),
    ]
    assert ask(count=True, prefix="10.1.0.0/16", longer=True) == [
        RouteCountView(family="ipv4-unicast", prefixes=3, paths=4, best=3)
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"peer": "nobody"}, "no peer named 'nobody'"),
        ({"peer": "nobody", "advertised": True}, "no peer named 'nobody'"),
        ({"prefix": "10.1.0.0/33"}, "bad prefix"),
        ({"prefix": ["10.0.0.0/8"]}, "bad prefix: expected a string, got list"),
        ({"best": "yes"}, "bad best: expected true or false"),
        ({"for": "10.1.0.0/16"}, "bad address"),
        ({"longer": True}, "--longer and --shorter need a prefix"),
        ({"as_path": "(65001"}, "bad --as-path regex"),
        ({"communities": ["65536:1"]}, "bad community '65536:1'"),
        ({"large_communities": ["1:2"]}, "bad large community '1:2'"),
        ({"family": "ipx"}, "unknown family 'ipx'"),
        ({"received": True}, "--received and --advertised need --peer NAME"),
        ({"prefix": "2001:db8::/32", "family": "ipv4"}, "not in --family ipv4-unicast"),
        ({"peer": "a", "received": True, "count": True}, "--count does not combine"),
    ],
)
def test_a_bad_query_is_an_error_naming_what_is_wrong(args: dict[str, Any], message: str) -> None:
    with pytest.raises(RouteQueryError, match=message.replace("(", r"\(")):
        ask(**args)


def test_local_sources_are_peers_for_a_query() -> None:
    assert ask(peer="static") == []  # a source with no routes: empty, not an error


def test_received_shows_accepted_paths_and_refused_prefixes_and_says_what_it_cannot() -> None:
    r = rib()
    peers = {"b": SimpleNamespace(rejected={(IPV4_UNICAST, pack_prefix("10.9.0.0/16"))})}
    got = answer(
        RouteQuery.from_args({"peer": "b", "received": True}),
        r,
        peers,  # type: ignore[arg-type]
        lambda _name: None,
    )
    assert isinstance(got, ReceivedView)
    assert [v.prefix for v in got.accepted] == ["10.1.0.0/16", "10.1.2.128/25", "192.168.0.0/16"]
    assert [v.prefix for v in got.rejected] == ["10.9.0.0/16"]
    assert "no Adj-RIB-In" in got.note
    # an attribute filter cannot apply to a prefix without attributes: left out, and said so
    filtered = answer(
        RouteQuery.from_args({"peer": "b", "received": True, "stale": True}),
        r,
        peers,  # type: ignore[arg-type]
        lambda _name: None,
    )
    assert isinstance(filtered, ReceivedView)
    assert filtered.rejected == () and "left out" in filtered.note

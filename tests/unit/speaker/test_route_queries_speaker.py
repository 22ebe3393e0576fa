"""`show routes --peer NAME --received / --advertised` through speakers joined in memory:
what a peer sent (accepted in the Loc-RIB, refused by prefix) and what its update group sent."""

from __future__ import annotations

import pytest

from bgpd.control.route_tables import render_route_list
from bgpd.speaker import RouteQuery, RouteQueryError
from bgpd.views import ReceivedView, RouteCountView, RouteView

from .harness import Net, config, cut
from .test_routing import STATIC


def line() -> Net:
    """a (65001) -- b (65002) -- c (65001): c refuses what b relays from a (its own AS)."""
    net = Net()
    net.add("a", "127.0.0.1", config(65001, "127.0.0.1", [("b", "127.0.0.2", 65002)], STATIC))
    net.add(
        "b",
        "127.0.0.2",
        config(65002, "127.0.0.2", [("a", "127.0.0.1", 65001), ("c", "127.0.0.3", 65001)]),
    )
    net.add("c", "127.0.0.3", config(65001, "127.0.0.3", [("b", "127.0.0.2", 65002)]))
    net.start()
    return net


def query(net: Net, node: str, **args: object) -> object:
    return net.nodes[node].speaker.route_query(RouteQuery.from_args(args))


def test_received_lists_a_prefix_refused_for_a_loop_by_prefix_only() -> None:
    got = query(line(), "c", peer="b", received=True)
    assert isinstance(got, ReceivedView)
    assert got.accepted == ()
    assert [(r.family, r.prefix) for r in got.rejected] == [("ipv4-unicast", "10.1.0.0/24")]
    assert "no Adj-RIB-In" in got.note


def test_received_lists_the_accepted_paths_as_the_loc_rib_holds_them() -> None:
    got = query(line(), "b", peer="a", received=True)
    assert isinstance(got, ReceivedView)
    assert [(r.prefix, r.peer, r.as_path) for r in got.accepted] == [("10.1.0.0/24", "a", (65001,))]
    assert got.rejected == ()


def test_advertised_is_what_the_update_group_sent_with_its_exported_attributes() -> None:
    net = line()
    sent = query(net, "b", peer="c", advertised=True)
    assert isinstance(sent, list)
    (route,) = sent
    assert isinstance(route, RouteView)
    # as sent: our AS prepended, our next hop, learned from a
    assert (route.prefix, route.as_path, route.next_hop, route.peer) == (
        "10.1.0.0/24",
        (65002, 65001),
        "127.0.0.2",
        "a",
    )
    assert query(net, "a", peer="b", advertised=True, count=True) == [
        RouteCountView(family="ipv4-unicast", prefixes=1, paths=1, best=1)
    ]
    # a's own route is never sent back to it
    assert query(net, "b", peer="a", advertised=True) == []


def test_advertised_to_a_peer_that_is_down_is_empty_and_an_unknown_one_an_error() -> None:
    net = Net()
    net.add("a", "127.0.0.1", config(65001, "127.0.0.1", [("b", "127.0.0.2", 65002)], STATIC))
    net.add("b", "127.0.0.2", config(65002, "127.0.0.2", []))  # b knows no a: never up
    net.start()
    assert query(net, "a", peer="b", advertised=True) == []
    with pytest.raises(RouteQueryError, match="no peer named 'x'"):
        query(net, "a", peer="x", advertised=True)
    with pytest.raises(RouteQueryError, match="no peer named 'x'"):
        query(net, "a", peer="x")


def test_a_restarting_peers_routes_are_found_by_stale_and_marked_in_the_table() -> None:
    net = Net()
    net.add("a", "127.0.0.1", config(65001, "127.0.0.1", [("b", "127.0.0.2", 65001)], STATIC))
    net.add("b", "127.0.0.2", config(65001, "127.0.0.2", [("a", "127.0.0.1", 65001)]))
    net.start()
    assert query(net, "b", stale=True) == []
    cut(net, "a", "b")  # a "crashes": GR was negotiated, b keeps a's routes stale
    stale = query(net, "b", stale=True)
    assert isinstance(stale, list)
    assert [(r.prefix, r.peer, r.stale) for r in stale] == [("10.1.0.0/24", "a", True)]
    assert query(net, "b", stale=True, count=True) == [
        RouteCountView(family="ipv4-unicast", prefixes=1, paths=1, best=1)
    ]
    assert render_route_list(stale).split("\n")[1].startswith("*S 10.1.0.0/24")

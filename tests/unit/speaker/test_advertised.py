"""The Adj-RIB-Out toward a peer as views (`show routes --peer NAME --advertised`, which the
BIRD socket's `show route export NAME` reads too): what we sent it, with the attributes it
got, never its own routes back."""

from __future__ import annotations

import pytest

from bgpd.speaker import RouteQuery, RouteQueryError, Speaker
from bgpd.views import RouteView
from tests.unit.speaker.harness import Net, config, cut

STATIC_B = '\n[[static]]\nprefix = "10.12.0.0/24"\n'
STATIC_A = '\n[[static]]\nprefix = "10.11.0.0/24"\n'


def three_ebgp_nodes() -> Net:
    net = Net()
    peers_a = [("to_b", "127.0.0.2", 64513), ("to_c", "127.0.0.3", 64514)]
    net.add("a", "127.0.0.1", config(64512, "127.0.0.1", peers_a, STATIC_A))
    net.add("b", "127.0.0.2", config(64513, "127.0.0.2", [("to_a", "127.0.0.1", 64512)], STATIC_B))
    net.add("c", "127.0.0.3", config(64514, "127.0.0.3", [("to_a", "127.0.0.1", 64512)]))
    net.start()
    return net


def sent(speaker: Speaker, peer: str) -> list[RouteView]:
    found = speaker.route_query(RouteQuery(peer=peer, advertised=True))
    assert isinstance(found, list)
    return [view for view in found if isinstance(view, RouteView)]


def test_what_we_advertise_to_each_peer() -> None:
    net = three_ebgp_nodes()
    a = net.nodes["a"].speaker
    to_c = sent(a, "to_c")
    assert [(r.prefix, r.peer, r.source) for r in to_c] == [
        ("10.11.0.0/24", "local", "advertised"),
        ("10.12.0.0/24", "to_b", "advertised"),
    ]
    # the attributes as sent: our AS prepended on the way to an eBGP peer, our next hop
    learned = to_c[1]
    assert learned.as_path == (64512, 64513)
    assert learned.next_hop == "127.0.0.1"
    # b's own route is not sent back to it
    assert [r.prefix for r in sent(a, "to_b")] == ["10.11.0.0/24"]
    with pytest.raises(RouteQueryError, match="no peer named 'nobody'"):
        sent(a, "nobody")


def test_a_peer_that_is_down_is_advertised_nothing() -> None:
    net = three_ebgp_nodes()
    cut(net, "a", "to_c")
    assert sent(net.nodes["a"].speaker, "to_c") == []

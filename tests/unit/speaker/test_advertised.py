"""The Adj-RIB-Out toward a peer as views (`Speaker.advertised_views`): what we sent it, with
the attributes it got, never its own routes back."""

from __future__ import annotations

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


def test_what_we_advertise_to_each_peer() -> None:
    net = three_ebgp_nodes()
    a = net.nodes["a"].speaker
    to_c = a.advertised_views("to_c")
    assert to_c is not None
    assert [(r.prefix, r.peer, r.source) for r in to_c] == [
        ("10.11.0.0/24", "static", "static"),
        ("10.12.0.0/24", "to_b", "ebgp"),
    ]
    # the attributes as sent: our AS prepended on the way to an eBGP peer, our next hop
    learned = to_c[1]
    assert learned.as_path == (64512, 64513)
    assert learned.next_hop == "127.0.0.1"
    # b's own route is not sent back to it
    to_b = a.advertised_views("to_b")
    assert to_b is not None
    assert [r.prefix for r in to_b] == ["10.11.0.0/24"]
    assert a.advertised_views("nobody") is None


def test_a_peer_that_is_down_is_advertised_nothing() -> None:
    net = three_ebgp_nodes()
    cut(net, "a", "to_c")
    assert net.nodes["a"].speaker.advertised_views("to_c") == []

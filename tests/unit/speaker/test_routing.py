"""Routing through the speaker: forwarding by the iBGP/eBGP rules, AS-loop drops, the kernel's
forwarding updates, and the graceful restart helper."""

from __future__ import annotations

from bgpd.net import IPV4_UNICAST, pack_prefix
from bgpd.views import RouteView

from .harness import Net, config, cut


def routes(net: Net, node: str, prefix: str) -> list[RouteView]:
    return [r for r in net.nodes[node].speaker.route_views(prefix) if r.peer != "static"]


STATIC = '[[static]]\nprefix = "10.1.0.0/24"\ncommunities = ["65001:1"]\nmed = 5\n'
KERNEL = "\n[kernel]\nenabled = true\n"  # forwarding updates are produced only for the kernel


def line(asn_a: int, asn_b: int, asn_c: int, extra_c: str = "") -> Net:
    """a -- b -- c, a originates 10.1.0.0/24."""
    net = Net()
    net.add("a", "127.0.0.1", config(asn_a, "127.0.0.1", [("b", "127.0.0.2", asn_b)], STATIC))
    net.add(
        "b",
        "127.0.0.2",
        config(asn_b, "127.0.0.2", [("a", "127.0.0.1", asn_a), ("c", "127.0.0.3", asn_c)]),
    )
    net.add("c", "127.0.0.3", config(asn_c, "127.0.0.3", [("b", "127.0.0.2", asn_b)], extra_c))
    net.start()
    return net


def test_ebgp_learned_route_is_forwarded_to_ibgp_with_next_hop_kept() -> None:
    net = line(65001, 65002, 65002)
    (at_c,) = routes(net, "c", "10.1.0.0/24")
    assert at_c.as_path == (65001,)
    assert at_c.next_hop == "127.0.0.1"  # iBGP keeps the eBGP next hop (RFC 4271 §5.1.3)
    assert at_c.local_pref == 100
    assert at_c.communities == ("65001:1",)
    assert at_c.med == 5  # MED crosses into the neighbouring AS, and on through iBGP


def test_ibgp_learned_route_is_not_sent_to_another_ibgp_peer() -> None:
    net = line(65002, 65002, 65002)
    assert len(routes(net, "b", "10.1.0.0/24")) == 1
    assert routes(net, "c", "10.1.0.0/24") == []


def test_ebgp_to_ebgp_prepends_sets_next_hop_self_and_drops_med() -> None:
    net = line(65001, 65002, 65003)
    (at_c,) = routes(net, "c", "10.1.0.0/24")
    assert at_c.as_path == (65002, 65001)
    assert at_c.next_hop == "127.0.0.2"
    assert at_c.med is None
    assert at_c.local_pref is None


def test_a_path_through_our_own_as_is_dropped() -> None:
    # a (65001) -> b (65002) -> c (65001): c sees its own AS in the path.
    net = line(65001, 65002, 65001)
    assert routes(net, "c", "10.1.0.0/24") == []
    assert len(routes(net, "b", "10.1.0.0/24")) == 1


def test_the_kernel_gets_the_bgp_next_hops_and_a_removal_on_withdraw() -> None:
    net = line(65001, 65002, 65002, extra_c=KERNEL)
    c = net.nodes["c"].speaker
    nlri = pack_prefix("10.1.0.0/24")
    updates = [u for u in c.take_fib_updates() if nlri in u.nlris]
    assert updates[-1].family == IPV4_UNICAST
    assert updates[-1].next_hops == (bytes([127, 0, 0, 1]),)
    assert [u.nlris for u in c.fib_snapshot()] == [(nlri,)]
    net.reload("a", config(65001, "127.0.0.1", [("b", "127.0.0.2", 65002)]))
    updates = [u for u in c.take_fib_updates() if nlri in u.nlris]
    assert updates[-1].next_hops == ()
    assert c.fib_snapshot() == []


def test_graceful_restart_helper_keeps_stale_routes_then_sweeps_after_end_of_rib() -> None:
    two_statics = STATIC + '[[static]]\nprefix = "10.2.0.0/24"\n'
    net = Net()
    net.add("a", "127.0.0.1", config(65001, "127.0.0.1", [("b", "127.0.0.2", 65001)], two_statics))
    net.add("b", "127.0.0.2", config(65001, "127.0.0.2", [("a", "127.0.0.1", 65001)], KERNEL))
    net.start()
    b = net.nodes["b"].speaker
    b.take_fib_updates()
    cut(net, "a", "b")  # a "crashes": no NOTIFICATION, GR was negotiated
    # a's routes stay in b's table and kernel, marked stale; nothing asked the kernel to remove.
    assert all(r.stale for r in routes(net, "b", "10.1.0.0/24"))
    assert len(routes(net, "b", "10.2.0.0/24")) == 1
    assert all(u.next_hops for u in b.take_fib_updates())
    # a comes back with only one of its two routes.
    net.reload("a", config(65001, "127.0.0.1", [("b", "127.0.0.2", 65001)], STATIC))
    net.advance(10)  # reconnect (connect retry), OPEN, table, End-of-RIB
    (fresh,) = routes(net, "b", "10.1.0.0/24")
    assert fresh.stale is False
    assert routes(net, "b", "10.2.0.0/24") == []  # swept after a's End-of-RIB
    swept = [u for u in b.take_fib_updates() if pack_prefix("10.2.0.0/24") in u.nlris]
    assert swept and swept[-1].next_hops == ()


def test_graceful_restart_helper_sweeps_when_the_peer_does_not_come_back() -> None:
    net = Net()
    net.add("a", "127.0.0.1", config(65001, "127.0.0.1", [("b", "127.0.0.2", 65001)], STATIC))
    net.add("b", "127.0.0.2", config(65001, "127.0.0.2", [("a", "127.0.0.1", 65001)]))
    net.start()
    cut(net, "a", "b")
    net.nodes["a"].speaker.shutdown(net.now)  # and it stays away
    net.settle()
    assert len(routes(net, "b", "10.1.0.0/24")) == 1
    net.advance(121, step=5)  # the restart time a advertised (120 s) passes
    assert routes(net, "b", "10.1.0.0/24") == []


def test_connected_and_kernel_routes_enter_the_rib_but_plain_mode_keeps_connected_home() -> None:
    from bgpd.speaker import KernelRouteView

    net = line(65001, 65002, 65002)
    a = net.nodes["a"].speaker
    subnet = KernelRouteView(
        family=IPV4_UNICAST, nlri=pack_prefix("192.168.7.0/24"), ifname="eth1", connected=True
    )
    learned = KernelRouteView(family=IPV4_UNICAST, nlri=pack_prefix("10.9.9.0/24"), ifname="x")
    a.kernel_routes_changed([subnet, learned], [], net.now)
    net.settle()
    (mine,) = a.route_views("192.168.7.0/24")
    assert mine.source == "connected" and mine.best
    assert routes(net, "b", "192.168.7.0/24") == []  # a plain router keeps its subnets home
    assert len(routes(net, "b", "10.9.9.0/24")) == 1  # a learned kernel route is advertised
    a.kernel_routes_changed([], [subnet, learned], net.now)
    net.settle()
    assert a.route_views("192.168.7.0/24") == []
    assert routes(net, "b", "10.9.9.0/24") == []


def _restart_and_collect_fib(restarting: bool) -> list[tuple[bytes, ...]]:
    net = Net()
    net.add("a", "127.0.0.1", config(65001, "127.0.0.1", [("b", "127.0.0.2", 65001)], STATIC))
    net.add("b", "127.0.0.2", config(65001, "127.0.0.2", [("a", "127.0.0.1", 65001)], KERNEL))
    net.start()
    b = net.nodes["b"].speaker
    cut(net, "a", "b")
    b.take_fib_updates()
    net.nodes["a"].speaker.set_restarting(restarting)
    net.advance(10)
    nlri = pack_prefix("10.1.0.0/24")
    assert len(routes(net, "b", "10.1.0.0/24")) == 1
    return [u.next_hops for u in b.take_fib_updates() if nlri in u.nlris]


def test_forwarding_preserved_bit_decides_whether_the_helper_flushes_at_session_up() -> None:
    # F bit clear (RFC 4724 §4.2): the helper must drop the stale routes at once, so the
    # kernel sees a removal before the route comes back.
    assert () in _restart_and_collect_fib(restarting=False)
    # F bit set (we restarted with our forwarding state kept): no removal at all.
    assert () not in _restart_and_collect_fib(restarting=True)

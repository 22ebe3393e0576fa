"""Long-lived graceful restart through the speaker (RFC 9494): a helper keeps a dead peer's
routes past the restart time, LLGR_STALE-marked, in the kernel, sent only to LLGR peers, and
sweeps them at the peer's End-of-RIB or at the long-lived stale time."""

from __future__ import annotations

from dataclasses import replace

from bgpd.net import pack_prefix
from bgpd.views import RouteView

from .harness import Net, config, cut

KERNEL = "\n[kernel]\nenabled = true\n"
LLGR = 'restart_mode = "llgr"\nllgr_stale_time = 60\ngraceful_restart_time = 5'
STATICS = (
    '[[static]]\nprefix = "10.1.0.0/24"\n'
    '[[static]]\nprefix = "10.2.0.0/24"\ncommunities = ["65535:7"]\n'  # NO_LLGR
)


def routes(net: Net, node: str, prefix: str) -> list[RouteView]:
    return [r for r in net.nodes[node].speaker.route_views(prefix) if r.peer != "static"]


def _peer(name: str, address: str, asn: int, extra: str = "") -> str:
    return f'\n[[peer]]\nname = "{name}"\naddress = "{address}"\nasn = {asn}\n{extra}\n'


def cluster(a_statics: str = STATICS) -> Net:
    """a (65001, origin) -- b (65002, helper) -- c (65003, LLGR) and d (65004, GR only)."""
    net = Net()
    a = config(65001, "127.0.0.1", [], a_statics + _peer("b", "127.0.0.2", 65002, LLGR))
    net.add("a", "127.0.0.1", a)
    b = config(65002, "127.0.0.2", [], KERNEL)
    b += _peer("a", "127.0.0.1", 65001, LLGR)
    b += _peer("c", "127.0.0.3", 65003, LLGR)
    b += _peer("d", "127.0.0.4", 65004)
    net.add("b", "127.0.0.2", b)
    net.add("c", "127.0.0.3", config(65003, "127.0.0.3", [], _peer("b", "127.0.0.2", 65002, LLGR)))
    net.add("d", "127.0.0.4", config(65004, "127.0.0.4", [], _peer("b", "127.0.0.2", 65002)))
    net.start()
    return net


def test_routes_outlive_the_restart_time_marked_and_only_toward_llgr_peers() -> None:
    net = cluster()
    b = net.nodes["b"].speaker
    p1 = pack_prefix("10.1.0.0/24")
    assert len(routes(net, "c", "10.1.0.0/24")) == 1
    assert len(routes(net, "d", "10.1.0.0/24")) == 1
    b.take_fib_updates()
    cut(net, "a", "b")
    net.nodes["a"].speaker.shutdown(net.now)  # a stays away
    net.settle()
    net.advance(10, step=1)  # past a's restart time (5 s), well within its stale time (60 s)
    (kept,) = routes(net, "b", "10.1.0.0/24")
    assert kept.stale and "65535:6" in kept.communities
    assert routes(net, "b", "10.2.0.0/24") == []  # NO_LLGR: dropped at the restart time
    view = b.peer_view("a", net.now)
    assert view is not None and view.detail is not None
    assert view.detail.long_lived_stale == ("ipv4-unicast", "ipv6-unicast")
    # The kernel keeps forwarding: no update for 10.1.0.0/24 removed its next hop.
    assert all(u.next_hops for u in b.take_fib_updates() if p1 in u.nlris)
    assert [u.next_hops for u in b.fib_snapshot() if p1 in u.nlris] == [(bytes([127, 0, 0, 1]),)]
    (at_c,) = routes(net, "c", "10.1.0.0/24")
    assert "65535:6" in at_c.communities  # an LLGR peer learns it is long-lived stale
    assert routes(net, "d", "10.1.0.0/24") == []  # a peer without LLGR gets a withdrawal
    net.advance(60, step=5)  # the long-lived stale time passes: gone everywhere
    assert routes(net, "b", "10.1.0.0/24") == []
    assert routes(net, "c", "10.1.0.0/24") == []
    assert [u for u in b.fib_snapshot() if p1 in u.nlris] == []


def test_the_peer_coming_back_refreshes_everything_and_leaves_nothing_stale() -> None:
    net = cluster()
    cut(net, "a", "b")
    net.nodes["a"].speaker.shutdown(net.now)
    net.settle()
    net.advance(10, step=1)
    assert "65535:6" in routes(net, "b", "10.1.0.0/24")[0].communities
    assert routes(net, "d", "10.1.0.0/24") == []
    # a starts again and re-announces 10.1.0.0/24 only, then End-of-RIB.
    a_cfg = config(65001, "127.0.0.1", [], '[[static]]\nprefix = "10.1.0.0/24"\n')
    net.add("a", "127.0.0.1", a_cfg + _peer("b", "127.0.0.2", 65002, LLGR))
    net.nodes["a"].speaker.start(net.now)
    net.advance(15, step=1)
    for node in ("b", "c", "d"):
        (route,) = routes(net, node, "10.1.0.0/24")
        assert not route.stale and "65535:6" not in route.communities, node
    assert routes(net, "b", "10.2.0.0/24") == []


def test_a_received_llgr_stale_route_goes_only_to_llgr_peers() -> None:
    # a itself sends a route marked LLGR_STALE (as a helper does after its peer's restart).
    net = cluster('[[static]]\nprefix = "10.3.0.0/24"\ncommunities = ["65535:6"]\n')
    assert len(routes(net, "b", "10.3.0.0/24")) == 1
    assert "65535:6" in routes(net, "c", "10.3.0.0/24")[0].communities
    assert routes(net, "d", "10.3.0.0/24") == []


def test_our_open_carries_llgr_with_the_f_bit_while_restarting() -> None:
    from bgpd.config import parse_config
    from bgpd.speaker.peer_state import session_settings
    from bgpd.wire.capabilities import LongLivedGracefulRestart

    cfg = parse_config(config(65001, "127.0.0.1", [], _peer("b", "127.0.0.2", 65002, LLGR)))
    settings = session_settings(cfg, cfg.peers[0])
    for restarting in (False, True):
        caps = replace(settings, restarting=restarting).capabilities()
        (llgr,) = [c for c in caps if isinstance(c, LongLivedGracefulRestart)]
        assert {(f.forwarding_preserved, f.stale_time) for f in llgr.families} == {(restarting, 60)}

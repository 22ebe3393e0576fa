"""Calico's route priorities through two speakers (iBGP, as two nodes of a cluster): the
LOCAL_PREF a local route is sent with, the elevated /32 of a live migration escaping the block
aggregation and winning over the other node's local workload route, the kernel metric's input
(FibUpdate.local_pref), and compat 3.31 keeping the older behaviour. A reload changing the
priorities re-announces without a session reset."""

from __future__ import annotations

from bgpd.net import IPV4_UNICAST, pack_prefix
from bgpd.policy.route_priority import local_pref_of_priority
from bgpd.speaker import FibUpdate, KernelRouteView
from bgpd.views import RouteView

from .harness import Net, config

A, B = "127.0.0.1", "127.0.0.2"


def calico(block: str, extra: str = "") -> str:
    return f"""
[calico]
blocks = ["{block}"]
{extra}

[[calico.pool]]
cidr = "10.244.0.0/16"

[kernel]
enabled = true
"""


def pair(extra: str = "") -> Net:
    net = Net()
    net.add("a", A, config(64512, A, [("b", B, 64512)], calico("10.244.1.0/26", extra)))
    net.add("b", B, config(64512, B, [("a", A, 64512)], calico("10.244.2.0/26", extra)))
    net.start()
    return net


def workload(prefix: str, metric: int) -> KernelRouteView:
    return KernelRouteView(
        family=IPV4_UNICAST, nlri=pack_prefix(prefix), ifname="cali0123456789a", metric=metric
    )


def at(net: Net, node: str, prefix: str) -> list[RouteView]:
    return net.nodes[node].speaker.route_views(prefix)


def from_peer(net: Net, node: str, prefix: str) -> RouteView | None:
    return next((r for r in at(net, node, prefix) if r.peer not in ("static", "kernel")), None)


def fib(net: Net, node: str, prefix: str) -> list[FibUpdate]:
    nlri = pack_prefix(prefix)
    return [u for u in net.nodes[node].speaker.take_fib_updates() if nlri in u.nlris]


NORMAL, ELEVATED = local_pref_of_priority(1024), local_pref_of_priority(512)


def test_priorities_travel_as_local_pref_and_the_elevated_32_escapes() -> None:
    net = pair()
    a, b = net.nodes["a"].speaker, net.nodes["b"].speaker
    b.take_fib_updates()
    a.kernel_routes_changed(
        [workload("10.244.1.5/32", 1024), workload("10.244.1.6/32", 512)], [], net.now
    )
    net.settle()
    block = from_peer(net, "b", "10.244.1.0/26")
    assert block is not None and block.local_pref == NORMAL  # a static: the normal priority
    assert from_peer(net, "b", "10.244.1.5/32") is None  # aggregated behind the block
    elevated = from_peer(net, "b", "10.244.1.6/32")
    assert elevated is not None and elevated.local_pref == ELEVATED
    (update,) = fib(net, "b", "10.244.1.6/32")
    assert update.local_pref == ELEVATED  # the kernel metric will be 512


def test_an_elevated_route_wins_over_a_local_workload_route_a_normal_one_does_not() -> None:
    net = pair()
    a, b = net.nodes["a"].speaker, net.nodes["b"].speaker
    # The VM was on b (its old route there) and is now on a, elevated.
    b.kernel_routes_changed([workload("10.244.1.6/32", 1024)], [], net.now)
    a.kernel_routes_changed([workload("10.244.1.6/32", 512)], [], net.now)
    net.settle()
    best = [r for r in at(net, "b", "10.244.1.6/32") if r.best]
    assert [r.peer for r in best] == ["a"]
    # A borrowed /32 of normal priority on both nodes: each keeps its own.
    b.kernel_routes_changed([workload("10.244.9.9/32", 1024)], [], net.now)
    a.kernel_routes_changed([workload("10.244.9.9/32", 1024)], [], net.now)
    net.settle()
    best = [r for r in at(net, "b", "10.244.9.9/32") if r.best]
    assert [r.peer for r in best] == ["kernel"]


def test_compat_3_31_keeps_local_pref_100_and_aggregates_everything() -> None:
    net = pair('compat = "3.31"')
    a = net.nodes["a"].speaker
    a.kernel_routes_changed([workload("10.244.1.6/32", 512)], [], net.now)
    net.settle()
    block = from_peer(net, "b", "10.244.1.0/26")
    assert block is not None and block.local_pref == 100
    assert from_peer(net, "b", "10.244.1.6/32") is None


def test_a_priority_change_is_re_announced_without_a_reset() -> None:
    net = pair()
    text = config(
        64512, A, [("b", B, 64512)], calico("10.244.1.0/26", "ipv4_normal_route_priority = 2000")
    )
    actions = net.reload("a", text)
    assert not any("restarted" in action for action in actions), actions
    assert "route priorities changed" in actions
    block = from_peer(net, "b", "10.244.1.0/26")
    assert block is not None and block.local_pref == local_pref_of_priority(2000)
    assert [p.state for p in net.nodes["a"].speaker.peer_views(net.now)] == ["Established"]

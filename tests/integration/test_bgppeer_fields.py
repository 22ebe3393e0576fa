"""BGPPeer fields end to end: `reachableBy`, `sourceAddress`, `maxRestartTime`.

Each test starts from Calico v3 resources (the datastore's JSON), renders this node's bgpd.toml
with the shipped templates, as `bgpd confd` does, runs the speaker in a network namespace on
that file and looks at the kernel and the wire.

- `reachableBy` (the route-server case): the peer is not on a connected network and this node
  has no route to it; the speaker installs `<peer>/32 via <gateway>` (bird_aggr.cfg's static
  route) and the session comes up through it. A gateway change moves the route without
  touching the session; removing the BGPPeer removes the route.
- `sourceAddress`: UseNodeIP sources the session from the node's address, None leaves the
  choice to the kernel. The node's address is the interface's second one here, so only
  UseNodeIP reaches a peer that accepts the node's address alone.
- `maxRestartTime`: the restart time of the graceful restart capability the peer receives.

Topology: the node N (bgpd) -- router R (forwarding) -- BIRD's host B for `reachableBy`;
N -- B on one link for the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bgpd.confd.arguments import DEFAULT_CONFDIR
from bgpd.confd.command import LocalNode, derive_view
from bgpd.confd.render_pass import Renderer, load_resources
from bgpd.confd.template_inputs import TemplateContext
from tests.unit.confd.render import calico_v3

from .bgpd_proc import BgpdFactory, BgpdProcess
from .peers import BgpPeer, BirdConfig, Namespace, veth
from .peers.fixtures import BirdFactory
from .peers.poll import wait_until

NODE = "node-n"
PEER_AS = 65010
WINDOW_S = 6.0


def render_node_config(values: dict[str, str], workdir: Path, *, node_ip: str) -> str:
    """This node's bgpd.toml from v3 resources, as `bgpd confd` renders it."""
    values = values | calico_v3.node(NODE, node_ip)
    view = derive_view(values, LocalNode(nodename=NODE))
    resources = load_resources(DEFAULT_CONFDIR, NODE)
    sockets = {
        "control_socket": "@SOCKET@",
        "bird_socket": str(workdir / "bird.ctl"),
        "bird6_socket": str(workdir / "bird6.ctl"),
    }
    ctx = TemplateContext(nodename=NODE, environ={}, variables=sockets)
    return Renderer(DEFAULT_CONFDIR, resources, ctx).render_text(resources[0], view)


def route_server(**spec: Any) -> dict[str, str]:
    return calico_v3.bgp_peer("route-server", peerIP="10.2.0.1", asNumber=PEER_AS, **spec)


def peer_routes(ns: Namespace, address: str) -> list[dict[str, Any]]:
    return ns.ip_json("route", "show", "exact", f"{address}/32")


def gateway_of(ns: Namespace, address: str) -> str | None:
    routes = peer_routes(ns, address)
    return str(routes[0].get("gateway")) if routes else None


def established_since(bgpd: BgpdProcess, peer: str) -> float:
    """When (monotonic) the session came up, from its uptime: a reset moves it forward."""
    uptime = bgpd.peers()[peer]["uptime_s"]
    assert uptime is not None, bgpd.peers()[peer]
    return time.monotonic() - float(uptime)


def stays_down(state: Callable[[], str], seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if state() == "Established":
            return False
        time.sleep(0.2)
    return True


@pytest.fixture
def routed(netns_factory: Callable[..., Namespace]) -> Iterator[tuple[Namespace, Namespace]]:
    """N and B on two subnets joined by R; B routes back to N's subnet, N has no route to B's.

    R answers on two addresses on N's side, 10.1.0.2 and 10.1.0.3: two gateways to B.
    """
    n, r, b = netns_factory(), netns_factory(forwarding=True), netns_factory()
    veth(n, r, a_addresses=["10.1.0.1/24"], b_addresses=["10.1.0.2/24", "10.1.0.3/24"])
    veth(r, b, a_ifname="eth1", a_addresses=["10.2.0.2/24"], b_addresses=["10.2.0.1/24"])
    b.ip("route", "add", "10.1.0.0/24", "via", "10.2.0.2")
    yield n, b


def bird_route_server(neighbor: str) -> BirdConfig:
    return BirdConfig(
        router_id="10.2.0.1",
        peers=(
            BgpPeer(
                name="node",
                local_as=PEER_AS,
                neighbor_address=neighbor,
                neighbor_as=64512,
                local_address="10.2.0.1",
                multihop=2,
                passive=True,  # only bgpd dials: its route to the peer is under test
            ),
        ),
    )


def test_reachable_by_installs_the_route_the_session_needs(
    routed: tuple[Namespace, Namespace],
    bgpd_factory: BgpdFactory,
    bird_factory: BirdFactory,
    tmp_path: Path,
) -> None:
    n, b = routed
    bird = bird_factory(bird_route_server("10.1.0.1"), netns=b)
    without = render_node_config(route_server(), tmp_path, node_ip="10.1.0.1/24")
    bgpd = bgpd_factory(n, without)
    peer = "Global_10_2_0_1"
    # No route to the peer: the session cannot come up.
    assert stays_down(lambda: bgpd.state(peer), WINDOW_S)
    assert peer_routes(n, "10.2.0.1") == []

    # reachableBy added: the route appears and the session comes up through it.
    bgpd.write_config(
        render_node_config(route_server(reachableBy="10.1.0.2"), tmp_path, node_ip="10.1.0.1/24")
    )
    bgpd.reload()
    wait_until(lambda: gateway_of(n, "10.2.0.1") == "10.1.0.2", timeout=20, message="route")
    (route,) = peer_routes(n, "10.2.0.1")
    assert route["protocol"] == "bird"  # ours (12): Felix leaves it alone
    bgpd.wait_established(peer, timeout=30)
    bird.wait_established("node")
    since = established_since(bgpd, peer)

    # Another gateway: the route moves, the session stays (no reset, no new OPEN).
    bgpd.write_config(
        render_node_config(route_server(reachableBy="10.1.0.3"), tmp_path, node_ip="10.1.0.1/24")
    )
    bgpd.reload()
    wait_until(lambda: gateway_of(n, "10.2.0.1") == "10.1.0.3", timeout=20, message="new route")
    assert bgpd.state(peer) == "Established"
    assert abs(established_since(bgpd, peer) - since) < 1.0
    # the kernel's own choice for traffic to the peer
    assert n.ip_json("route", "get", "10.2.0.1")[0]["gateway"] == "10.1.0.3"

    # The BGPPeer is gone: its route goes with it.
    bgpd.write_config(render_node_config({}, tmp_path, node_ip="10.1.0.1/24"))
    bgpd.reload()
    wait_until(lambda: peer_routes(n, "10.2.0.1") == [], timeout=20, message="route removed")
    assert peer not in bgpd.peers()


@pytest.fixture
def link(netns_factory: Callable[..., Namespace]) -> tuple[Namespace, Namespace]:
    """N and B on one link. The node's address is N's second one, 10.1.0.9: for a
    connection to B the kernel's own choice of source would be the first, 10.1.0.1."""
    n, b = netns_factory(), netns_factory()
    veth(n, b, a_addresses=["10.1.0.1/24", "10.1.0.9/24"], b_addresses=["10.1.0.2/24"])
    return n, b


def bird_tor() -> BirdConfig:
    return BirdConfig(
        router_id="10.1.0.2",
        peers=(
            BgpPeer(
                name="node",
                local_as=PEER_AS,
                neighbor_address="10.1.0.9",  # the node's address, nothing else
                neighbor_as=64512,
                local_address="10.1.0.2",
                passive=True,
            ),
        ),
    )


@pytest.mark.parametrize(("source", "comes_up"), [("UseNodeIP", True), ("None", False)])
def test_source_address_use_node_ip_sources_the_session_from_the_node_address(
    link: tuple[Namespace, Namespace],
    bgpd_factory: BgpdFactory,
    bird_factory: BirdFactory,
    tmp_path: Path,
    source: str,
    comes_up: bool,
) -> None:
    n, b = link
    bird = bird_factory(bird_tor(), netns=b)
    peer_spec = calico_v3.bgp_peer("tor", peerIP="10.1.0.2", asNumber=PEER_AS, sourceAddress=source)
    bgpd = bgpd_factory(n, render_node_config(peer_spec, tmp_path, node_ip="10.1.0.9/24"))
    if comes_up:
        bgpd.wait_established("Global_10_1_0_2", timeout=30)
        bird.wait_established("node")
    else:
        # From 10.1.0.1, which BIRD has no neighbour for: refused.
        assert stays_down(lambda: bgpd.state("Global_10_1_0_2"), WINDOW_S)


def test_max_restart_time_is_the_restart_time_the_peer_receives(
    link: tuple[Namespace, Namespace],
    bgpd_factory: BgpdFactory,
    bird_factory: BirdFactory,
    tmp_path: Path,
) -> None:
    n, b = link
    bird = bird_factory(bird_tor(), netns=b)
    peer_spec = calico_v3.bgp_peer("tor", peerIP="10.1.0.2", asNumber=PEER_AS, maxRestartTime="5m")
    bgpd = bgpd_factory(n, render_node_config(peer_spec, tmp_path, node_ip="10.1.0.9/24"))
    bgpd.wait_established("Global_10_1_0_2", timeout=30)
    bird.wait_established("node")
    text = bird.birdc("show protocols all node")
    theirs = text.split("Neighbor capabilities", 1)[1]
    assert "Graceful restart" in theirs and "Restart time: 300" in theirs, text

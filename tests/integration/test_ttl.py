"""TTL handling across a real router: GTSM (RFC 5082) and eBGP multihop, against BIRD 2.

Topology: bgpd's host A (10.1.0.1) -- router R (forwarding) -- BIRD's host B (10.2.0.1), so
every packet crosses one router hop and arrives with its TTL decremented once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from .bgpd_proc import BgpdFactory
from .peers import BgpPeer, BirdConfig, Namespace, veth
from .peers.fixtures import BirdFactory

WINDOW_S = 6.0


@pytest.fixture
def routed(netns_factory: Callable[..., Namespace]) -> Iterator[tuple[Namespace, Namespace]]:
    a, r, b = netns_factory(), netns_factory(forwarding=True), netns_factory()
    veth(
        a,
        r,
        a_ifname="eth0",
        b_ifname="eth0",
        a_addresses=["10.1.0.1/24"],
        b_addresses=["10.1.0.2/24"],
    )
    veth(
        r,
        b,
        a_ifname="eth1",
        b_ifname="eth0",
        a_addresses=["10.2.0.2/24"],
        b_addresses=["10.2.0.1/24"],
    )
    a.ip("route", "add", "10.2.0.0/24", "via", "10.1.0.2")
    b.ip("route", "add", "10.1.0.0/24", "via", "10.2.0.2")
    yield a, b


def bgpd_config(*, peer_as: int, ttl_security: int = 0, multihop: int | None = None) -> str:
    text = f"""
[bgp]
asn = 64512
router_id = "10.1.0.1"
listen = ["10.1.0.1"]

[control]
socket = "@SOCKET@"

[[static]]
prefix = "10.30.0.0/24"

[[peer]]
name = "bird"
address = "10.2.0.1"
asn = {peer_as}
local_address = "10.1.0.1"
families = ["ipv4-unicast"]
"""
    if ttl_security:
        text += f"ttl_security = {ttl_security}\n"
    if multihop is not None:
        text += f"multihop = {multihop}\n"
    return text


def bird_peer(*, peer_as: int, ttl_security: bool) -> BirdConfig:
    return BirdConfig(
        router_id="10.2.0.1",
        peers=(
            BgpPeer(
                name="bgpd",
                local_as=peer_as,
                neighbor_address="10.1.0.1",
                neighbor_as=64512,
                local_address="10.2.0.1",
                multihop=2,
                ttl_security=ttl_security,
                passive=True,  # only bgpd dials: its own TTL is what is under test
            ),
        ),
    )


def stays_down(state: Callable[[], str], seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if state() == "Established":
            return False
        time.sleep(0.2)
    return True


@pytest.mark.parametrize(("hops", "comes_up"), [(2, True), (1, False)])
def test_gtsm_accepts_exactly_the_configured_hop_count(
    routed: tuple[Namespace, Namespace],
    bgpd_factory: BgpdFactory,
    bird_factory: BirdFactory,
    hops: int,
    comes_up: bool,
) -> None:
    a, b = routed
    bird = bird_factory(bird_peer(peer_as=64512, ttl_security=True), netns=b)
    bgpd = bgpd_factory(a, bgpd_config(peer_as=64512, ttl_security=hops))
    if comes_up:
        bgpd.wait_established("bird", timeout=20)
        bird.wait_established("bgpd")
    else:
        # BIRD's packets arrive with TTL 254; GTSM for one hop demands 255: dropped.
        assert stays_down(lambda: bgpd.state("bird"), WINDOW_S)


@pytest.mark.parametrize(("multihop", "comes_up"), [(2, True), (None, False)])
def test_ebgp_ttl_is_one_unless_multihop_is_set(
    routed: tuple[Namespace, Namespace],
    bgpd_factory: BgpdFactory,
    bird_factory: BirdFactory,
    multihop: int | None,
    comes_up: bool,
) -> None:
    a, b = routed
    bird = bird_factory(bird_peer(peer_as=65010, ttl_security=False), netns=b)
    bgpd = bgpd_factory(a, bgpd_config(peer_as=65010, multihop=multihop))
    if comes_up:
        bgpd.wait_established("bird", timeout=20)
        bird.wait_established("bgpd")
    else:
        # Our SYN leaves with TTL 1 and dies at the router.
        assert stays_down(lambda: bgpd.state("bird"), WINDOW_S)

"""A community-heavy route from a real FRR (or OpenBGPD) must not lock BIRD peers out (issue 11).

The Calico incident: a top-of-rack router sends bgpd (eBGP) a route whose UPDATE is just under
4,096 octets, with about a thousand communities. bgpd prepends its AS toward its other eBGP
peers, and for a peer without the extended message capability (RFC 8654) the attributes no
longer fit a 4,096-octet UPDATE. That must cost exactly that one route toward exactly those
peers: the sender's session stays up (no flap), the BIRD sessions stay up, BIRD gets the
sender's other routes, and a BIRD that restarts comes back up while the big route is still in
the table.

Four hosts on one bridged LAN (``10.99.0.0/24``): bgpd (AS 64512) on ``.1``, the sender on
``.2`` (AS 65010), BIRD 2 on ``.3`` (AS 65020) and BIRD 1.6 on ``.4`` (AS 65030). Neither BIRD
has extended messages (BIRD 1.6 cannot, BIRD 2 leaves it off by default). IPv4 only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

import pytest

from .bgpd_proc import BgpdFactory, BgpdProcess
from .peers import (
    BgpPeer,
    BirdConfig,
    BirdDaemon,
    FrrNeighbor,
    Lan,
    OpenbgpdNeighbor,
    StaticRoute,
    wait_until,
)
from .peers.fixtures import BirdFactory, FrrFactory, OpenbgpdFactory

OUR_AS = 64512
SENDER_AS = 65010
BIRD2_AS = 65020
BIRD16_AS = 65030
NORMAL = "10.40.0.0/24"
BIG = "10.41.0.0/24"
MAX_MESSAGE = 4096  # RFC 4271 §4.1, without RFC 8654 extended messages
STABLE_WINDOW_S = 6.0  # several redials of the sender (FRR: 1 s, OpenBGPD: 1 s connect retry)


def _update_size(as_path_len: int, communities: int) -> int:
    """Octets of an IPv4 UPDATE for one /24 with ORIGIN, AS_PATH (4-octet ASNs), NEXT_HOP and
    COMMUNITIES (extended length), as the sender and bgpd both encode it over eBGP."""
    header, lengths, nlri = 19, 2 + 2, 1 + 3
    origin, next_hop = 3 + 1, 3 + 4
    as_path = 3 + 2 + 4 * as_path_len
    community_attr = 4 + 4 * communities
    return header + lengths + origin + as_path + next_hop + community_attr + nlri


# The largest count the sender can send in 4,096 octets (its AS alone in the path); bgpd's
# export (its own AS prepended) is then four octets too long for a peer without extended
# messages.
BIG_COMMUNITIES = (MAX_MESSAGE - _update_size(1, 0)) // 4
assert _update_size(1, BIG_COMMUNITIES) <= MAX_MESSAGE < _update_size(2, BIG_COMMUNITIES)

SENDER_ROUTES = (
    StaticRoute(prefix=NORMAL, communities=((SENDER_AS, 1),)),
    StaticRoute(
        prefix=BIG,
        communities=tuple((SENDER_AS, i) for i in range(1, BIG_COMMUNITIES + 1)),
    ),
)

Sender = Literal["frr", "openbgpd"]


def bgpd_config(lan: Lan) -> str:
    me, sender, bird2, bird16 = lan.hosts
    peers = (("tor", sender, SENDER_AS), ("bird2", bird2, BIRD2_AS), ("bird16", bird16, BIRD16_AS))
    text = f"""
[bgp]
asn = {OUR_AS}
router_id = "{me.ipv4}"
listen = ["{me.ipv4}"]
families = ["ipv4-unicast"]
connect_retry_time = 1

[control]
socket = "@SOCKET@"
"""
    for name, host, asn in peers:
        text += f"""
[[peer]]
name = "{name}"
address = "{host.ipv4}"
asn = {asn}
local_address = "{me.ipv4}"
"""
    return text


def bird_config(lan: Lan, host: int, asn: int) -> BirdConfig:
    me = lan.hosts[0]
    return BirdConfig(
        router_id=str(lan.hosts[host].ipv4),
        peers=(
            BgpPeer(
                name="bgpd",
                local_as=asn,
                neighbor_address=str(me.ipv4),
                neighbor_as=OUR_AS,
                export_filter="none",
            ),
        ),
    )


def start_sender(
    kind: Sender, lan: Lan, frr_factory: FrrFactory, openbgpd_factory: OpenbgpdFactory
) -> Callable[[], str]:
    """Start the top-of-rack sender; returns a probe of its session state with bgpd."""
    me, host = lan.hosts[0], lan.hosts[1]
    if kind == "frr":
        frr = frr_factory(
            asn=SENDER_AS,
            router_id=str(host.ipv4),
            netns=host.ns,
            routes=SENDER_ROUTES,
            neighbors=[FrrNeighbor(address=str(me.ipv4), remote_as=OUR_AS)],
        )
        return lambda: frr.neighbor_state(str(me.ipv4))
    obgpd = openbgpd_factory(
        asn=SENDER_AS,
        router_id=str(host.ipv4),
        netns=host.ns,
        routes=SENDER_ROUTES,
        neighbors=[OpenbgpdNeighbor(address=str(me.ipv4), remote_as=OUR_AS)],
    )
    return lambda: obgpd.neighbor_state(str(me.ipv4))


def sessions(bgpd: BgpdProcess) -> dict[str, tuple[str, int, str]]:
    """(state, established transitions, last error) of every peer, for failure messages."""
    return {
        name: (view["state"], transitions(bgpd, name), view["last_error"])
        for name, view in bgpd.peers().items()
    }


def transitions(bgpd: BgpdProcess, peer: str) -> int:
    return int(bgpd.ctl("show peer", name=peer)["established_transitions"])


def stays(predicate: Callable[[], bool], seconds: float) -> bool:
    """True when `predicate` held at every look over the whole window."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not predicate():
            return False
        time.sleep(0.2)
    return predicate()


def bird_holds(bird: BirdDaemon, prefix: str) -> bool:
    return bool(bird.routes_for(prefix))


@pytest.mark.parametrize("sender", ["frr", "openbgpd"])
def test_community_heavy_route_does_not_lock_out_peers_without_extended_messages(
    sender: Sender,
    lan_factory: Callable[..., Lan],
    bgpd_factory: BgpdFactory,
    bird_factory: BirdFactory,
    frr_factory: FrrFactory,
    openbgpd_factory: OpenbgpdFactory,
) -> None:
    lan = lan_factory(4)
    bgpd = bgpd_factory(lan, bgpd_config(lan))
    bird2 = bird_factory(bird_config(lan, 2, BIRD2_AS), version="2", netns=lan.hosts[2].ns)
    bird16 = bird_factory(bird_config(lan, 3, BIRD16_AS), version="1.6", netns=lan.hosts[3].ns)
    birds = {"bird2": bird2, "bird16": bird16}
    for name, bird in birds.items():
        bgpd.wait_established(name)
        bird.wait_established("bgpd")
        assert bgpd.ctl("show peer", name=name)["negotiated"]["extended_message"] is False

    sender_state = start_sender(sender, lan, frr_factory, openbgpd_factory)
    bgpd.wait_established("tor")
    # The sender's big route has been through bgpd once bgpd holds it, or once the sender's
    # session went down over it.
    wait_until(
        lambda: bgpd.learned(BIG) is not None or bgpd.state("tor") != "Established",
        timeout=15,
        message=f"bgpd processed {BIG}",
        describe=bgpd.output,
    )

    # Nothing flaps: the sender's session and the BIRD sessions stay up, each established once.
    assert stays(
        lambda: (
            bgpd.state("tor") == "Established"
            and sender_state() == "Established"
            and all(bird.protocol_state("bgpd") == "Established" for bird in birds.values())
        ),
        STABLE_WINDOW_S,
    ), f"a session went down: {sessions(bgpd)}"
    assert {n: transitions(bgpd, n) for n in ("tor", *birds)} == {"tor": 1, "bird2": 1, "bird16": 1}
    assert bgpd.peers()["tor"]["last_error"] == ""

    # bgpd holds the big route with every community; the BIRDs get the sender's normal route,
    # and the oversized one cannot reach them.
    big = bgpd.learned(BIG)
    assert big is not None and big["as_path"] == [SENDER_AS]
    assert len(big["communities"]) == BIG_COMMUNITIES
    for bird in birds.values():
        (normal,) = bird.wait_route(NORMAL, timeout=15)
        assert normal.as_path == (OUR_AS, SENDER_AS)
        assert not bird_holds(bird, BIG), f"{bird.name} got an UPDATE over {MAX_MESSAGE} octets"

    # A BIRD that restarts comes back up while the big route is in the table, and gets the
    # normal route again.
    for name, bird in birds.items():
        bird.restart()
        bird.wait_established("bgpd", timeout=30)
        bgpd.wait_established(name)
        assert transitions(bgpd, name) == 2
        bird.wait_route(NORMAL, timeout=15)
        assert not bird_holds(bird, BIG)
    assert bgpd.learned(BIG) is not None
    assert transitions(bgpd, "tor") == 1

"""bgpd against real BIRD 1.6, BIRD 2 and GoBGP, each on its own host of a two-host LAN.

Every scenario runs once per daemon: routes in both directions with their attributes (iBGP,
and eBGP with a 4-byte ASN), the graceful restart capability exchange, TCP-MD5 match and
mismatch, hold-timer expiry against a frozen peer and the reconnect after it thaws, the
reconnect after the peer restarts, and a NOTIFICATION with no session on a wrong AS.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from .bgpd_proc import BgpdFactory, BgpdProcess
from .interop_peer import GR_TIME, KINDS, PEER_ROUTES, Fam, Kind, RealPeer, bgpd_config
from .peers import Lan, wait_until
from .peers.fixtures import BirdFactory, GobgpFactory

OUR_AS_4BYTE = 4_200_000_001  # needs RFC 6793: does not fit the OPEN's 2-octet field
OUR_AS = 64512
PEER_AS = 65001
QUIET_WINDOW_S = 8.0  # long enough for several connect retries on both sides


def never(predicate: Callable[[], bool], seconds: float) -> bool:
    """True when `predicate` stayed false for the whole observation window."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return False
        time.sleep(0.2)
    return True


def _expected_at_bgpd(route_as_path: tuple[int, ...], ebgp: bool) -> list[int]:
    return [PEER_AS, *route_as_path] if ebgp else list(route_as_path)


@pytest.mark.parametrize("ebgp", [False, True], ids=["ibgp", "ebgp-4byte-asn"])
@pytest.mark.parametrize("kind", KINDS)
def test_routes_cross_both_ways_with_attributes_and_gr_capability(
    kind: Kind,
    ebgp: bool,
    lan: Lan,
    bgpd_factory: BgpdFactory,
    bird_factory: BirdFactory,
    gobgp_factory: GobgpFactory,
) -> None:
    a, b = lan.hosts
    our_as = OUR_AS_4BYTE if ebgp else PEER_AS
    bgpd = bgpd_factory(lan, bgpd_config(a, b, our_as=our_as, peer_as=PEER_AS))
    peer = RealPeer(
        kind,
        a,
        b,
        peer_as=PEER_AS,
        our_as=our_as,
        bird_factory=bird_factory,
        gobgp_factory=gobgp_factory,
    )
    families: tuple[Fam, ...] = (4, 6)
    for family in families:
        bgpd.wait_established(f"peer{family}")
        peer.wait_established(family)

    # Peer -> bgpd: AS path, communities, large communities and MED preserved.
    for originated in PEER_ROUTES:
        route = bgpd.wait_route(originated.prefix)
        assert route["as_path"] == _expected_at_bgpd(originated.as_path, ebgp)
        assert route["communities"] == [f"{x}:{y}" for x, y in originated.communities]
        assert route["large_communities"] == [
            f"{x}:{y}:{z}" for x, y, z in originated.large_communities
        ]
        assert route["med"] == originated.med
        expected_hop = str(b.ipv6 if ":" in originated.prefix else b.ipv4)
        assert route["next_hop"] == expected_hop

    # bgpd -> peer: our AS prepended on eBGP only, attributes intact.
    v4 = peer.wait_route("10.10.0.0/24")
    assert v4.as_path == ((our_as,) if ebgp else ())
    assert v4.communities == ((64512, 100), (64512, 101))
    assert v4.large_communities == ((64512, 1, 2),)
    assert v4.med == 10
    assert v4.next_hop == str(a.ipv4)
    v6 = peer.wait_route("fd00:10::/64")
    assert v6.as_path == ((our_as,) if ebgp else ())
    assert v6.communities == ((64512, 106),)
    assert v6.large_communities == ((64512, 1, 6),)
    assert v6.med == 16
    assert v6.next_hop == str(a.ipv6)

    # Graceful restart capability exchange (RFC 4724), both directions.
    detail = bgpd.ctl("show peer", name="peer4")
    assert detail["negotiated"]["as4"] is True
    assert detail["negotiated"]["peer_graceful_restart"]["restart_time"] == GR_TIME
    text = peer.protocol_text(4)
    if kind == "bird2":
        ours = text.split("Neighbor capabilities", 1)[1]
        assert "Graceful restart" in ours and "Restart time: 120" in ours, text
    elif kind == "bird1.6":
        assert "restart-able" in text or "restart-aware" in text, text
    else:
        assert peer.gobgp is not None
        state = peer.gobgp.neighbor_json(str(a.ipv4))["afi_safis"][0]["mp_graceful_restart"]
        assert state["state"]["received"] is True, state  # our GR capability
        assert state["state"]["end_of_rib_received"] is True, state  # and our End-of-RIB


SessionMaker = Callable[..., tuple[BgpdProcess, RealPeer]]


@pytest.fixture
def ipv4_session(
    lan: Lan,
    bgpd_factory: BgpdFactory,
    bird_factory: BirdFactory,
    gobgp_factory: GobgpFactory,
) -> SessionMaker:
    """``ipv4_session(kind, ...)``: bgpd and one real peer, iBGP over IPv4 only."""

    def make(
        kind: Kind,
        *,
        expect_as: int = PEER_AS,
        password: str | None = None,
        peer_password: str | None = None,
        hold_time: int | None = None,
    ) -> tuple[BgpdProcess, RealPeer]:
        a, b = lan.hosts
        config = bgpd_config(
            a,
            b,
            our_as=PEER_AS,
            peer_as=expect_as,
            password=password,
            hold_time=hold_time,
            families=(4,),
        )
        bgpd = bgpd_factory(lan, config)
        peer = RealPeer(
            kind,
            a,
            b,
            peer_as=PEER_AS,
            our_as=PEER_AS,
            password=peer_password,
            families=(4,),
            bird_factory=bird_factory,
            gobgp_factory=gobgp_factory,
        )
        return bgpd, peer

    return make


@pytest.mark.parametrize("kind", KINDS)
def test_md5_password_match_comes_up(kind: Kind, ipv4_session: SessionMaker) -> None:
    bgpd, peer = ipv4_session(kind, password="calico-s3cret", peer_password="calico-s3cret")
    bgpd.wait_established("peer4")
    peer.wait_established(4)
    bgpd.wait_route("10.20.0.0/24")


@pytest.mark.parametrize("kind", KINDS)
def test_md5_password_mismatch_never_comes_up(kind: Kind, ipv4_session: SessionMaker) -> None:
    bgpd, peer = ipv4_session(kind, password="ours", peer_password="theirs")
    assert never(
        lambda: bgpd.state("peer4") == "Established" or peer.state(4) == "Established",
        QUIET_WINDOW_S,
    )
    assert bgpd.learned("10.20.0.0/24") is None


@pytest.mark.parametrize("kind", KINDS)
def test_hold_timer_expires_when_peer_is_frozen_then_reconnects(
    kind: Kind, ipv4_session: SessionMaker
) -> None:
    bgpd, peer = ipv4_session(kind, hold_time=3)
    bgpd.wait_established("peer4")
    bgpd.wait_route("10.20.0.0/24")
    assert bgpd.ctl("show peer", name="peer4")["negotiated"]["hold_time"] == 3
    peer.freeze()
    try:
        bgpd.wait_no_route("10.20.0.0/24", timeout=10)
        view = bgpd.peers()["peer4"]
        assert view["state"] != "Established"
        assert "Hold Timer Expired" in view["last_error"]
    finally:
        peer.thaw()
    bgpd.wait_established("peer4", timeout=40)
    bgpd.wait_route("10.20.0.0/24")


@pytest.mark.parametrize("kind", KINDS)
def test_reconnects_after_peer_restart(kind: Kind, ipv4_session: SessionMaker) -> None:
    bgpd, peer = ipv4_session(kind)
    bgpd.wait_established("peer4")
    bgpd.wait_route("10.20.0.0/24")
    flaps = bgpd.ctl("show peer", name="peer4")["established_transitions"]
    peer.restart()
    bgpd.wait_established("peer4", timeout=40)
    bgpd.wait_route("10.20.0.0/24")
    peer.wait_route("10.10.0.0/24")
    assert bgpd.ctl("show peer", name="peer4")["established_transitions"] == flaps + 1


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_as_gets_a_notification_and_no_session(
    kind: Kind, ipv4_session: SessionMaker
) -> None:
    # bgpd expects AS 65099 but the peer is AS 65001: bgpd must refuse the OPEN with 2/2.
    bgpd, peer = ipv4_session(kind, expect_as=65099)
    wait_until(
        lambda: "Bad Peer AS" in (bgpd.peers()["peer4"]["last_error"] or ""),
        timeout=30,
        message="bgpd sent OPEN error Bad Peer AS",
        describe=bgpd.output,
    )
    assert never(
        lambda: bgpd.state("peer4") == "Established" or peer.state(4) == "Established",
        QUIET_WINDOW_S / 2,
    )
    if kind != "gobgp":
        # BIRD's last error moves on (we reject its redials during our error wait), its log keeps
        # what it received first.
        assert "received: bad peer as" in peer.logs().lower()

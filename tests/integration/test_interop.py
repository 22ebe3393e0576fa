"""bgpd against real BIRD 1.6, BIRD 2, GoBGP, FRR and OpenBGPD, each on its own host of a LAN.

Every scenario runs once per daemon (`interop_peer.KINDS`): routes in both directions with
their attributes (iBGP, and eBGP with a 4-byte ASN), the graceful restart capability exchange,
TCP-MD5 match and mismatch, hold-timer expiry against a frozen peer and the reconnect after it
thaws, the reconnect after the peer restarts, and a NOTIFICATION with no session on a wrong AS;
against the daemons that can be driven to it (FRR, OpenBGPD), route refresh in both directions
(the peer asks bgpd, bgpd asks the peer) with nothing lost and no session reset.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from .bgpd_proc import BgpdFactory, BgpdProcess
from .interop_peer import PeerFactories, PeerKind, RealPeer, bgpd_config, kinds
from .peers import Lan, wait_until
from .peers.fixtures import BirdFactory, FrrFactory, GobgpFactory, OpenbgpdFactory

OUR_AS_4BYTE = 4_200_000_001  # needs RFC 6793: does not fit the OPEN's 2-octet field
OUR_AS = 64512
PEER_AS = 65001
OUR_GR_TIME = 120  # bgpd's default graceful_restart_time
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


@pytest.fixture
def factories(
    bird_factory: BirdFactory,
    gobgp_factory: GobgpFactory,
    frr_factory: FrrFactory,
    openbgpd_factory: OpenbgpdFactory,
) -> PeerFactories:
    return PeerFactories(bird_factory, gobgp_factory, frr_factory, openbgpd_factory)


def _assert_peer_got_our_graceful_restart(kind: PeerKind, peer: RealPeer) -> None:
    """The peer shows our GR capability (restart time `OUR_GR_TIME`) and, where it can tell,
    our End-of-RIB."""
    if kind.name == "bird2":
        text = peer.protocol_text(4)
        ours = text.split("Neighbor capabilities", 1)[1]
        assert "Graceful restart" in ours and "Restart time: 120" in ours, text
    elif kind.name == "bird1.6":
        text = peer.protocol_text(4)
        assert "restart-able" in text or "restart-aware" in text, text
    elif kind.name == "gobgp":
        state = peer.neighbor(4)["afi_safis"][0]["mp_graceful_restart"]
        assert state["state"]["received"] is True, state  # our GR capability
        assert state["state"]["end_of_rib_received"] is True, state  # and our End-of-RIB
    elif kind.name == "frr":
        gr = peer.neighbor(4)["gracefulRestartInfo"]
        assert gr["timers"]["receivedRestartTimer"] == OUR_GR_TIME, gr
        assert gr["endOfRibRecv"]["ipv4Unicast"] is True, gr  # our End-of-RIB
    else:
        neighbor = peer.neighbor(4)
        remote = neighbor["session"]["remote"]["capabilities"]["graceful_restart"]
        assert remote["timeout"] == OUR_GR_TIME, remote
        assert neighbor["stats"]["update"]["received"]["eor"] >= 1, neighbor["stats"]


@pytest.mark.parametrize("ebgp", [False, True], ids=["ibgp", "ebgp-4byte-asn"])
@pytest.mark.parametrize("kind", kinds())
def test_routes_cross_both_ways_with_attributes_and_gr_capability(
    kind: PeerKind,
    ebgp: bool,
    lan: Lan,
    bgpd_factory: BgpdFactory,
    factories: PeerFactories,
) -> None:
    a, b = lan.hosts
    our_as = OUR_AS_4BYTE if ebgp else PEER_AS
    bgpd = bgpd_factory(lan, bgpd_config(a, b, our_as=our_as, peer_as=PEER_AS))
    peer = RealPeer(kind, a, b, peer_as=PEER_AS, our_as=our_as, factories=factories)
    for family in peer.families:
        bgpd.wait_established(f"peer{family}")
        peer.wait_established(family)

    # Peer -> bgpd: AS path, communities, large communities and MED preserved.
    for originated in peer.originated:
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
    theirs = detail["negotiated"]["peer_graceful_restart"]
    assert theirs is not None and theirs["restart_time"] == kind.announced_restart_time, theirs
    _assert_peer_got_our_graceful_restart(kind, peer)


SessionMaker = Callable[..., tuple[BgpdProcess, RealPeer]]


@pytest.fixture
def ipv4_session(lan: Lan, bgpd_factory: BgpdFactory, factories: PeerFactories) -> SessionMaker:
    """``ipv4_session(kind, ...)``: bgpd and one real peer over IPv4 only (eBGP for the kinds
    with `PeerKind.single_session_ebgp`, else iBGP)."""

    def make(
        kind: PeerKind,
        *,
        expect_as: int = PEER_AS,
        password: str | None = None,
        peer_password: str | None = None,
        hold_time: int | None = None,
    ) -> tuple[BgpdProcess, RealPeer]:
        a, b = lan.hosts
        our_as = OUR_AS if kind.single_session_ebgp else PEER_AS
        config = bgpd_config(
            a,
            b,
            our_as=our_as,
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
            our_as=our_as,
            password=peer_password,
            families=(4,),
            factories=factories,
        )
        return bgpd, peer

    return make


@pytest.mark.parametrize("kind", kinds())
def test_md5_password_match_comes_up(kind: PeerKind, ipv4_session: SessionMaker) -> None:
    bgpd, peer = ipv4_session(kind, password="calico-s3cret", peer_password="calico-s3cret")
    bgpd.wait_established("peer4")
    peer.wait_established(4)
    bgpd.wait_route("10.20.0.0/24")
    peer.wait_route("10.10.0.0/24")


@pytest.mark.parametrize("kind", kinds())
def test_md5_password_mismatch_never_comes_up(kind: PeerKind, ipv4_session: SessionMaker) -> None:
    bgpd, peer = ipv4_session(kind, password="ours", peer_password="theirs")
    assert never(
        lambda: bgpd.state("peer4") == "Established" or peer.state(4) == "Established",
        QUIET_WINDOW_S,
    )
    assert bgpd.learned("10.20.0.0/24") is None


@pytest.mark.parametrize("kind", kinds())
def test_hold_timer_expires_when_peer_is_frozen_then_reconnects(
    kind: PeerKind, ipv4_session: SessionMaker
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


@pytest.mark.parametrize("kind", kinds())
def test_reconnects_after_peer_restart(kind: PeerKind, ipv4_session: SessionMaker) -> None:
    bgpd, peer = ipv4_session(kind)
    bgpd.wait_established("peer4")
    bgpd.wait_route("10.20.0.0/24")
    flaps = bgpd.ctl("show peer", name="peer4")["established_transitions"]
    peer.restart()
    bgpd.wait_established("peer4", timeout=40)
    bgpd.wait_route("10.20.0.0/24")
    peer.wait_route("10.10.0.0/24")
    assert bgpd.ctl("show peer", name="peer4")["established_transitions"] == flaps + 1


@pytest.mark.parametrize("kind", kinds())
def test_wrong_as_gets_a_notification_and_no_session(
    kind: PeerKind, ipv4_session: SessionMaker
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
    logged = kind.bad_peer_as_logged
    if logged is not None:
        # BIRD's last error moves on (we reject its redials during our error wait): its log
        # keeps what it received first, as FRR's and OpenBGPD's do.
        wait_until(
            lambda: logged in peer.logs().lower(),
            timeout=5,
            message=f"{kind} logged the Bad Peer AS NOTIFICATION it received",
            describe=peer.logs,
        )


@pytest.mark.parametrize("kind", kinds(lambda kind: kind.refresh_counted))
def test_route_refresh_both_ways_loses_nothing(kind: PeerKind, ipv4_session: SessionMaker) -> None:
    bgpd, peer = ipv4_session(kind)
    bgpd.wait_established("peer4")
    ours_before = peer.wait_route("10.10.0.0/24")
    theirs_before = bgpd.wait_route("10.20.0.0/24")
    flaps = bgpd.ctl("show peer", name="peer4")["established_transitions"]

    # The peer asks bgpd to resend (FRR `clear bgp ... soft in`, OpenBGPD `bgpctl neighbor X
    # refresh`): bgpd receives the ROUTE-REFRESH and sends its routes again.
    updates_at_peer = peer.updates_received()
    refresh_in = bgpd.ctl("show peer", name="peer4")["messages_in"]["ROUTE_REFRESH"]
    peer.request_refresh()
    wait_until(
        lambda: bgpd.ctl("show peer", name="peer4")["messages_in"]["ROUTE_REFRESH"] > refresh_in,
        timeout=10,
        message="bgpd received the peer's ROUTE-REFRESH",
    )
    wait_until(
        lambda: peer.updates_received() > updates_at_peer,
        timeout=10,
        message=f"{kind} received bgpd's routes again",
    )
    assert peer.wait_route("10.10.0.0/24") == ours_before

    # bgpd asks the peer to resend (`bgpctl peer reset --soft`).
    updates_at_bgpd = bgpd.ctl("show peer", name="peer4")["messages_in"]["UPDATE"]
    refresh_at_peer = peer.refresh_requests_received()
    bgpd.ctl("peer reset", name="peer4", soft=True)
    wait_until(
        lambda: peer.refresh_requests_received() > refresh_at_peer,
        timeout=10,
        message=f"{kind} received bgpd's ROUTE-REFRESH",
    )
    if kind.resends_on_refresh:
        wait_until(
            lambda: bgpd.ctl("show peer", name="peer4")["messages_in"]["UPDATE"] > updates_at_bgpd,
            timeout=10,
            message=f"bgpd received {kind}'s routes again",
        )
    # With enhanced route refresh the peer's BoRR marks its routes stale until it re-announces
    # them and its EoRR ends the refresh (RFC 7313): the route ends up exactly as before, not
    # stale (a route the EoRR swept would never come back here).
    wait_until(
        lambda: bgpd.wait_route("10.20.0.0/24") == theirs_before,
        timeout=10,
        message="the peer's route as before the refresh, not stale",
        describe=lambda: str(bgpd.learned("10.20.0.0/24")),
    )
    assert bgpd.ctl("show peer", name="peer4")["established_transitions"] == flaps
    assert bgpd.state("peer4") == "Established" and peer.state(4) == "Established"

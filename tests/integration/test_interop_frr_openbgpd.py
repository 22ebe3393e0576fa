"""bgpd against real FRR 8.4 and OpenBGPD 7.7, each on its own host of a two-host LAN.

The scenarios of ``test_interop.py`` (BIRD, GoBGP), once per daemon: routes in both directions
with their attributes (iBGP, and eBGP with a 4-byte ASN), the graceful restart capability
exchange, TCP-MD5 match and mismatch, hold-timer expiry against a frozen peer and the reconnect
after it thaws, the reconnect after the peer restarts, and a NOTIFICATION with no session on a
wrong AS; plus route refresh in both directions (the peer asks bgpd, bgpd asks the peer) with
nothing lost and no session reset.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any, Literal

import pytest

from .bgpd_proc import BgpdFactory, BgpdProcess
from .interop_peer import GR_TIME, PEER_ROUTES, Fam, Originated, bgpd_config
from .peers import (
    FrrDaemon,
    FrrNeighbor,
    Lan,
    LanHost,
    Namespace,
    OpenbgpdDaemon,
    OpenbgpdNeighbor,
    Route,
    StaticRoute,
    wait_until,
)
from .peers.fixtures import FrrFactory, OpenbgpdFactory
from .peers.frr import FRR_RUN_DIRS
from .test_interop import OUR_AS, OUR_AS_4BYTE, PEER_AS, QUIET_WINDOW_S, never

Kind = Literal["frr", "openbgpd"]
KINDS: tuple[Kind, ...] = ("frr", "openbgpd")
OUR_GR_TIME = 120  # bgpd's default graceful_restart_time
# How each daemon logs the OPEN Error/Bad Peer AS NOTIFICATION it received (lower case).
BAD_PEER_AS_LOGGED = {
    "frr": "received from neighbor 10.99.0.1 2/2 (open message error/bad peer as)",
    "openbgpd": "received notification: error in open message, as unacceptable",
}


def originated(kind: Kind) -> tuple[Originated, ...]:
    """What the peer announces: `PEER_ROUTES`, without the AS path for OpenBGPD.

    OpenBGPD cannot originate a route with foreign AS numbers in its path (only
    ``prepend-self``, which would put bgpd's own AS in the iBGP path).
    """
    if kind == "frr":
        return PEER_ROUTES
    return tuple(
        Originated(r.prefix, (), r.communities, r.large_communities, r.med) for r in PEER_ROUTES
    )


class OtherPeer:
    """FRR or OpenBGPD on host `b`, one session per family toward bgpd on host `a`."""

    def __init__(
        self,
        kind: Kind,
        a: LanHost,
        b: LanHost,
        *,
        peer_as: int,
        our_as: int,
        frr_factory: FrrFactory,
        openbgpd_factory: OpenbgpdFactory,
        password: str | None = None,
        families: tuple[Fam, ...] = (4, 6),
    ) -> None:
        self.kind = kind
        self._our: dict[Fam, str] = {4: str(a.ipv4), 6: str(a.ipv6)}
        routes = [
            StaticRoute(
                prefix=r.prefix,
                as_path_prepend=r.as_path,
                communities=r.communities,
                large_communities=r.large_communities,
                med=r.med,
            )
            for r in originated(kind)
            if ipaddress.ip_network(r.prefix).version in families
        ]
        self.daemon: FrrDaemon | OpenbgpdDaemon
        if kind == "frr":
            self.daemon = frr_factory(
                asn=peer_as,
                router_id=str(b.ipv4),
                netns=b.ns,
                routes=routes,
                graceful_restart_time=GR_TIME,
                neighbors=[
                    FrrNeighbor(address=self._our[f], remote_as=our_as, password=password)
                    for f in families
                ],
            )
        else:
            self.daemon = openbgpd_factory(
                asn=peer_as,
                router_id=str(b.ipv4),
                netns=b.ns,
                routes=routes,
                neighbors=[
                    OpenbgpdNeighbor(address=self._our[f], remote_as=our_as, password=password)
                    for f in families
                ],
            )

    def state(self, family: Fam = 4) -> str:
        return self.daemon.neighbor_state(self._our[family])

    def wait_established(self, family: Fam = 4, timeout: float = 30) -> None:
        self.daemon.wait_established(self._our[family], timeout)

    def wait_route(self, prefix: str, timeout: float = 30) -> Route:
        (route,) = self.daemon.wait_route(prefix, timeout)
        return route

    def neighbor(self, family: Fam = 4) -> dict[str, Any]:
        return self.daemon.neighbor_json(self._our[family])

    def refresh_requests_received(self) -> int:
        """ROUTE-REFRESH messages the peer received from bgpd (IPv4 session)."""
        n = self.neighbor(4)
        if isinstance(self.daemon, FrrDaemon):
            return int(n["messageStats"]["routeRefreshRecv"])
        return int(n["stats"]["message"]["received"]["route_refresh"])

    def updates_received(self) -> int:
        """UPDATE messages the peer received from bgpd (IPv4 session)."""
        n = self.neighbor(4)
        if isinstance(self.daemon, FrrDaemon):
            return int(n["messageStats"]["updatesRecv"])
        return int(n["stats"]["message"]["received"]["updates"])

    def request_refresh(self) -> None:
        """The peer asks bgpd to resend its routes (IPv4 session)."""
        if isinstance(self.daemon, FrrDaemon):
            self.daemon.clear_soft_in(self._our[4])
        else:
            self.daemon.refresh(self._our[4])


def _expected_at_bgpd(route_as_path: tuple[int, ...], ebgp: bool) -> list[int]:
    return [PEER_AS, *route_as_path] if ebgp else list(route_as_path)


@pytest.mark.parametrize("ebgp", [False, True], ids=["ibgp", "ebgp-4byte-asn"])
@pytest.mark.parametrize("kind", KINDS)
def test_routes_cross_both_ways_with_attributes_and_gr_capability(
    kind: Kind,
    ebgp: bool,
    lan: Lan,
    bgpd_factory: BgpdFactory,
    frr_factory: FrrFactory,
    openbgpd_factory: OpenbgpdFactory,
) -> None:
    a, b = lan.hosts
    our_as = OUR_AS_4BYTE if ebgp else PEER_AS
    bgpd = bgpd_factory(lan, bgpd_config(a, b, our_as=our_as, peer_as=PEER_AS))
    peer = OtherPeer(
        kind,
        a,
        b,
        peer_as=PEER_AS,
        our_as=our_as,
        frr_factory=frr_factory,
        openbgpd_factory=openbgpd_factory,
    )
    families: tuple[Fam, ...] = (4, 6)
    for family in families:
        bgpd.wait_established(f"peer{family}")
        peer.wait_established(family)

    # Peer -> bgpd: AS path, communities, large communities and MED preserved.
    for route_out in originated(kind):
        route = bgpd.wait_route(route_out.prefix)
        assert route["as_path"] == _expected_at_bgpd(route_out.as_path, ebgp)
        assert route["communities"] == [f"{x}:{y}" for x, y in route_out.communities]
        assert route["large_communities"] == [
            f"{x}:{y}:{z}" for x, y, z in route_out.large_communities
        ]
        assert route["med"] == route_out.med
        expected_hop = str(b.ipv6 if ":" in route_out.prefix else b.ipv4)
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
    neighbor = peer.neighbor(4)
    if kind == "frr":
        assert theirs["restart_time"] == GR_TIME
        gr = neighbor["gracefulRestartInfo"]
        assert gr["timers"]["receivedRestartTimer"] == OUR_GR_TIME, gr
        assert gr["endOfRibRecv"]["ipv4Unicast"] is True, gr  # our End-of-RIB
    else:
        # OpenBGPD announces the capability for End-of-RIB only: restart time 0.
        assert theirs is not None and theirs["restart_time"] == 0, theirs
        remote = neighbor["session"]["remote"]["capabilities"]["graceful_restart"]
        assert remote["timeout"] == OUR_GR_TIME, remote
        assert neighbor["stats"]["update"]["received"]["eor"] >= 1, neighbor["stats"]


SessionMaker = Callable[..., tuple[BgpdProcess, OtherPeer]]


@pytest.fixture
def ipv4_session(
    lan: Lan,
    bgpd_factory: BgpdFactory,
    frr_factory: FrrFactory,
    openbgpd_factory: OpenbgpdFactory,
) -> SessionMaker:
    """``ipv4_session(kind, ...)``: bgpd and one real peer, eBGP over IPv4 only."""

    def make(
        kind: Kind,
        *,
        expect_as: int = PEER_AS,
        password: str | None = None,
        peer_password: str | None = None,
        hold_time: int | None = None,
    ) -> tuple[BgpdProcess, OtherPeer]:
        a, b = lan.hosts
        config = bgpd_config(
            a,
            b,
            our_as=OUR_AS,
            peer_as=expect_as,
            password=password,
            hold_time=hold_time,
            families=(4,),
        )
        bgpd = bgpd_factory(lan, config)
        peer = OtherPeer(
            kind,
            a,
            b,
            peer_as=PEER_AS,
            our_as=OUR_AS,
            password=peer_password,
            families=(4,),
            frr_factory=frr_factory,
            openbgpd_factory=openbgpd_factory,
        )
        return bgpd, peer

    return make


@pytest.mark.parametrize("kind", KINDS)
def test_md5_password_match_comes_up(kind: Kind, ipv4_session: SessionMaker) -> None:
    bgpd, peer = ipv4_session(kind, password="calico-s3cret", peer_password="calico-s3cret")
    bgpd.wait_established("peer4")
    peer.wait_established(4)
    bgpd.wait_route("10.20.0.0/24")
    peer.wait_route("10.10.0.0/24")


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
    peer.daemon.freeze()
    try:
        bgpd.wait_no_route("10.20.0.0/24", timeout=10)
        view = bgpd.peers()["peer4"]
        assert view["state"] != "Established"
        assert "Hold Timer Expired" in view["last_error"]
    finally:
        peer.daemon.thaw()
    bgpd.wait_established("peer4", timeout=40)
    bgpd.wait_route("10.20.0.0/24")


@pytest.mark.parametrize("kind", KINDS)
def test_reconnects_after_peer_restart(kind: Kind, ipv4_session: SessionMaker) -> None:
    bgpd, peer = ipv4_session(kind)
    bgpd.wait_established("peer4")
    bgpd.wait_route("10.20.0.0/24")
    flaps = bgpd.ctl("show peer", name="peer4")["established_transitions"]
    peer.daemon.restart()
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
    wait_until(
        lambda: BAD_PEER_AS_LOGGED[kind] in peer.daemon.logs().lower(),
        timeout=5,
        message=f"{kind} logged the Bad Peer AS NOTIFICATION it received",
        describe=peer.daemon.logs,
    )


@pytest.mark.parametrize("kind", KINDS)
def test_route_refresh_both_ways_loses_nothing(kind: Kind, ipv4_session: SessionMaker) -> None:
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
    if kind == "frr":
        # OpenBGPD 7.7 logs "route refresh: AID IPv4 unicast not negotiated" and resends
        # nothing, to bgpd as to another OpenBGPD: only FRR's resend can be waited for.
        wait_until(
            lambda: bgpd.ctl("show peer", name="peer4")["messages_in"]["UPDATE"] > updates_at_bgpd,
            timeout=10,
            message=f"bgpd received {kind}'s routes again",
        )
    assert bgpd.wait_route("10.20.0.0/24") == theirs_before
    assert bgpd.ctl("show peer", name="peer4")["established_transitions"] == flaps
    assert bgpd.state("peer4") == "Established" and peer.state(4) == "Established"


def test_every_builder_option_is_accepted_by_frr_and_openbgpd(
    netns_factory: Callable[..., Namespace],
    frr_factory: FrrFactory,
    openbgpd_factory: OpenbgpdFactory,
) -> None:
    """The config builders' options all reach the real daemons (a rejected line fails start)."""
    big = StaticRoute(
        prefix="10.50.0.0/24",
        as_path_prepend=(65500, 65501),
        communities=tuple((1, i) for i in range(1, 600)),  # split over route-map entries
        large_communities=((1, 2, 3),),
        med=5,
        local_pref=200,
    )
    small = StaticRoute(prefix="fd00:50::/64", communities=((1, 2),), med=6)
    frr = frr_factory(
        asn=65001,
        router_id="10.0.0.1",
        netns=netns_factory(),
        routes=[big, small],
        graceful_restart_time=33,
        neighbors=[
            FrrNeighbor(
                address="10.0.0.2",
                remote_as=65002,
                password="pw",
                hold_time=9,
                keepalive_time=2,
                passive=True,
                update_source="10.0.0.1",
                route_map_out="OUT",
            ),
            FrrNeighbor(address="fd00::2", remote_as=65001),
        ],
        extra_config="route-map OUT permit 10\n!",
    )
    running = frr.vtysh("show running-config")
    for line in (
        "neighbor 10.0.0.2 password pw",
        "neighbor 10.0.0.2 timers 2 9",
        "neighbor 10.0.0.2 passive",
        "neighbor 10.0.0.2 update-source 10.0.0.1",
        "neighbor 10.0.0.2 route-map OUT out",
        "neighbor fd00::2 activate",
        "bgp graceful-restart restart-time 33",
        "network 10.50.0.0/24 route-map ORIGINATE-0",
        "set community 1:251 1:252",  # the second route-map entry of the long list
        "on-match next",
    ):
        assert line in running, line
    local = frr.routes(4)["10.50.0.0/24"][0]
    assert local.communities == big.communities and local.as_path == (65500, 65501)
    frr.stop()
    assert not (FRR_RUN_DIRS / f"bgpd.{frr.pid}").exists()  # FRR leaves it; the fixture does not

    obgpd = openbgpd_factory(
        asn=65001,
        router_id="10.0.0.1",
        netns=netns_factory(),
        routes=[StaticRoute(prefix="10.50.0.0/24", communities=((1, 2),), med=5, local_pref=200)],
        neighbors=[
            OpenbgpdNeighbor(
                address="10.0.0.2",
                remote_as=65002,
                password="pw",
                hold_time=9,
                passive=True,
                local_address="10.0.0.1",
                extra='descr "full"',
            ),
            OpenbgpdNeighbor(address="fd00::2", remote_as=65001),
        ],
    )
    full = obgpd.neighbor_json("10.0.0.2")
    assert full["config"]["passive"] is True and full["config"]["holdtime"] == 9
    assert full["description"] == "full"
    (local_v4,) = obgpd.routes(4)["10.50.0.0/24"]
    assert local_v4.communities == ((1, 2),) and local_v4.local_pref == 200
    with pytest.raises(ValueError, match="foreign AS path"):
        OpenbgpdDaemon(asn=1, router_id="10.0.0.1", routes=[big]).config_text()

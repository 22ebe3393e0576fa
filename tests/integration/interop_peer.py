"""One real peer daemon facing our speaker across a two-host LAN, whichever daemon it is.

`KINDS` are the daemons the interop suite runs against (BIRD 1.6, BIRD 2, GoBGP, FRR,
OpenBGPD), each a `PeerKind` that says how it differs where a test meets it. `RealPeer` hides
the differences the tests do not care about: BIRD 1.6 runs one daemon per family (`bird`,
`bird6`), the others one daemon with both; GoBGP's routes are injected through its API, the
others' are in their config. Host 0 of the LAN runs bgpd, host 1 runs the peer; the peer holds
one session per family (over the IPv4 and the IPv6 address) and originates `PEER_ROUTES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

import pytest

from .peers import (
    BgpPeer,
    BirdConfig,
    BirdDaemon,
    FrrDaemon,
    FrrNeighbor,
    GobgpDaemon,
    GobgpNeighbor,
    LanHost,
    OpenbgpdDaemon,
    OpenbgpdNeighbor,
    Route,
    StaticRoute,
)
from .peers.daemon import NeighborDaemon
from .peers.fixtures import BirdFactory, FrrFactory, GobgpFactory, OpenbgpdFactory

Fam = Literal[4, 6]
GR_TIME = 90


@dataclass(frozen=True, slots=True)
class PeerKind:
    """A peer daemon of the interop suite, and how it differs where the tests meet it."""

    name: str
    """The test id."""
    foreign_as_path: bool = True
    """It can originate a route with foreign ASes in its path. OpenBGPD cannot (only
    ``prepend-self``, which would put bgpd's own AS in the iBGP path): its routes carry none."""
    announced_restart_time: int = GR_TIME
    """The restart time of its graceful restart capability (OpenBGPD announces the capability
    for End-of-RIB only: 0)."""
    single_session_ebgp: bool = False
    """The single-session scenarios (MD5, hold timer, restart, bad OPEN, refresh) run over
    eBGP rather than iBGP."""
    bad_peer_as_logged: str | None = None
    """How its log (lower case) shows the OPEN Error/Bad Peer AS it received (None: GoBGP
    does not log it where the test can read it)."""
    refresh_counted: bool = False
    """It can be made to ask for a route refresh, and counts the ROUTE-REFRESH and UPDATE
    messages it receives (FRR, OpenBGPD)."""
    resends_on_refresh: bool = True
    """It resends its routes when asked. OpenBGPD 7.7 logs "route refresh: AID IPv4 unicast
    not negotiated" and resends nothing, to bgpd as to another OpenBGPD."""

    def __str__(self) -> str:
        return self.name


_BIRD_BAD_PEER_AS = "received: bad peer as"
KINDS: tuple[PeerKind, ...] = (
    PeerKind("bird1.6", bad_peer_as_logged=_BIRD_BAD_PEER_AS),
    PeerKind("bird2", bad_peer_as_logged=_BIRD_BAD_PEER_AS),
    PeerKind("gobgp"),
    PeerKind(
        "frr",
        single_session_ebgp=True,
        bad_peer_as_logged="received from neighbor 10.99.0.1 2/2 (open message error/bad peer as)",
        refresh_counted=True,
    ),
    PeerKind(
        "openbgpd",
        foreign_as_path=False,
        announced_restart_time=0,
        single_session_ebgp=True,
        bad_peer_as_logged="received notification: error in open message, as unacceptable",
        refresh_counted=True,
        resends_on_refresh=False,
    ),
)


def kinds(where: Callable[[PeerKind], bool] = lambda kind: True) -> list[Any]:
    """`KINDS` (those matching ``where``) as pytest parameters with readable ids."""
    return [pytest.param(kind, id=kind.name) for kind in KINDS if where(kind)]


@dataclass(frozen=True, slots=True)
class Originated:
    prefix: str
    as_path: tuple[int, ...]
    communities: tuple[tuple[int, int], ...]
    large_communities: tuple[tuple[int, int, int], ...]
    med: int

    @property
    def family(self) -> Fam:
        return 6 if ":" in self.prefix else 4


@dataclass(frozen=True, slots=True)
class PeerFactories:
    """The fixtures that start each daemon (only the one of the kind at hand is called)."""

    bird: BirdFactory
    gobgp: GobgpFactory
    frr: FrrFactory
    openbgpd: OpenbgpdFactory


PEER_ROUTES = (
    Originated("10.20.0.0/24", (65200,), ((65000, 200),), ((2, 3, 4),), 70),
    Originated("fd00:20::/64", (65206,), ((65000, 206),), ((2, 3, 6),), 76),
)

OUR_ROUTES = """
[[static]]
prefix = "10.10.0.0/24"
communities = ["64512:100", "64512:101"]
large_communities = ["64512:1:2"]
med = 10

[[static]]
prefix = "fd00:10::/64"
communities = ["64512:106"]
large_communities = ["64512:1:6"]
med = 16
"""


def bgpd_config(
    a: LanHost,
    b: LanHost,
    *,
    our_as: int,
    peer_as: int,
    password: str | None = None,
    hold_time: int | None = None,
    families: tuple[Fam, ...] = (4, 6),
) -> str:
    text = f"""
[bgp]
asn = {our_as}
router_id = "{a.ipv4}"
listen = ["{a.ipv4}", "{a.ipv6}"]
log_level = "debug"

[control]
socket = "@SOCKET@"
{OUR_ROUTES}
"""
    for family in families:
        peer_address = b.ipv4 if family == 4 else b.ipv6
        local = a.ipv4 if family == 4 else a.ipv6
        text += f"""
[[peer]]
name = "peer{family}"
address = "{peer_address}"
asn = {peer_as}
local_address = "{local}"
families = ["ipv{family}-unicast"]
"""
        if password is not None:
            text += f'password = "{password}"\n'
        if hold_time is not None:
            text += f"hold_time = {hold_time}\n"
    return text


class RealPeer:
    """The peer daemon(s) of ``kind`` on host `b`, one session per family toward bgpd on `a`."""

    def __init__(
        self,
        kind: PeerKind,
        a: LanHost,
        b: LanHost,
        *,
        peer_as: int,
        our_as: int,
        factories: PeerFactories,
        password: str | None = None,
        families: tuple[Fam, ...] = (4, 6),
    ) -> None:
        self.kind = kind
        self.families = families
        self._our: dict[Fam, str] = {4: str(a.ipv4), 6: str(a.ipv6)}
        self._hops: dict[Fam, str] = {4: str(b.ipv4), 6: str(b.ipv6)}
        self.originated = tuple(
            r if kind.foreign_as_path else replace(r, as_path=())
            for r in PEER_ROUTES
            if r.family in families
        )
        statics = [
            StaticRoute(
                prefix=r.prefix,
                as_path_prepend=r.as_path,
                communities=r.communities,
                large_communities=r.large_communities,
                med=r.med,
            )
            for r in self.originated
        ]
        router_id = str(b.ipv4)
        self._daemons: dict[Fam, BirdDaemon | NeighborDaemon]
        if kind.name == "gobgp":
            gobgp = factories.gobgp(
                asn=peer_as,
                router_id=router_id,
                netns=b.ns,
                neighbors=[
                    GobgpNeighbor(
                        address=self._our[f],
                        peer_as=our_as,
                        password=password,
                        graceful_restart=True,
                        restart_time=GR_TIME,
                    )
                    for f in families
                ],
            )
            self._daemons = dict.fromkeys(families, gobgp)
            self._inject_gobgp_routes()
        elif kind.name == "frr":
            frr = factories.frr(
                asn=peer_as,
                router_id=router_id,
                netns=b.ns,
                routes=statics,
                graceful_restart_time=GR_TIME,
                neighbors=[
                    FrrNeighbor(address=self._our[f], remote_as=our_as, password=password)
                    for f in families
                ],
            )
            self._daemons = dict.fromkeys(families, frr)
        elif kind.name == "openbgpd":
            openbgpd = factories.openbgpd(
                asn=peer_as,
                router_id=router_id,
                netns=b.ns,
                routes=statics,
                neighbors=[
                    OpenbgpdNeighbor(address=self._our[f], remote_as=our_as, password=password)
                    for f in families
                ],
            )
            self._daemons = dict.fromkeys(families, openbgpd)
        else:
            config = BirdConfig(
                router_id=router_id,
                static_routes=tuple(statics),
                peers=tuple(
                    BgpPeer(
                        name=f"bgpd{f}",
                        local_as=peer_as,
                        neighbor_address=self._our[f],
                        neighbor_as=our_as,
                        password=password,
                        graceful_restart=True,
                        graceful_restart_time=GR_TIME,
                    )
                    for f in families
                ),
            )
            if kind.name == "bird2":
                self._daemons = dict.fromkeys(
                    families, factories.bird(config, version="2", netns=b.ns)
                )
            else:
                self._daemons = {
                    f: factories.bird(config, version="1.6", family=f, netns=b.ns) for f in families
                }

    def state(self, family: Fam = 4) -> str:
        daemon = self._daemons[family]
        if isinstance(daemon, BirdDaemon):
            return daemon.protocol_state(f"bgpd{family}")
        return daemon.neighbor_state(self._our[family])

    def wait_established(self, family: Fam = 4, timeout: float = 30) -> None:
        daemon = self._daemons[family]
        if isinstance(daemon, BirdDaemon):
            daemon.wait_established(f"bgpd{family}", timeout)
        else:
            daemon.wait_established(self._our[family], timeout)

    def wait_route(self, prefix: str, timeout: float = 30) -> Route:
        family: Fam = 6 if ":" in prefix else 4
        (route,) = self._daemons[family].wait_route(prefix, timeout)
        return route

    def protocol_text(self, family: Fam = 4) -> str:
        """BIRD's ``show protocols all`` for the session."""
        return self._bird(family).birdc(f"show protocols all bgpd{family}")

    def neighbor(self, family: Fam = 4) -> dict[str, Any]:
        """GoBGP's, FRR's or OpenBGPD's JSON about the session."""
        daemon = self._daemons[family]
        assert isinstance(daemon, NeighborDaemon), f"{self.kind} has no neighbour JSON"
        return daemon.neighbor_json(self._our[family])

    def logs(self) -> str:
        return "\n".join(d.logs() for d in self.daemons())

    def daemons(self) -> list[BirdDaemon | NeighborDaemon]:
        return list({id(d): d for d in self._daemons.values()}.values())

    def freeze(self) -> None:
        for d in self.daemons():
            d.freeze()

    def thaw(self) -> None:
        for d in self.daemons():
            d.thaw()

    def restart(self) -> None:
        for d in self.daemons():
            d.restart()
        # Routes injected through GoBGP's API die with the process; the others' are in config.
        self._inject_gobgp_routes()

    # -- route refresh (kinds with `PeerKind.refresh_counted`), over the IPv4 session --------

    def refresh_requests_received(self) -> int:
        """ROUTE-REFRESH messages the peer received from bgpd."""
        return self._received(frr="routeRefreshRecv", openbgpd="route_refresh")

    def updates_received(self) -> int:
        """UPDATE messages the peer received from bgpd."""
        return self._received(frr="updatesRecv", openbgpd="updates")

    def _received(self, *, frr: str, openbgpd: str) -> int:
        n = self.neighbor(4)
        if self.kind.name == "frr":
            return int(n["messageStats"][frr])
        return int(n["stats"]["message"]["received"][openbgpd])

    def request_refresh(self) -> None:
        """The peer asks bgpd to resend its routes."""
        daemon = self._daemons[4]
        if isinstance(daemon, FrrDaemon):
            daemon.clear_soft_in(self._our[4])
        elif isinstance(daemon, OpenbgpdDaemon):
            daemon.refresh(self._our[4])
        else:
            raise TypeError(f"{self.kind} cannot be made to ask for a route refresh")

    def _bird(self, family: Fam) -> BirdDaemon:
        daemon = self._daemons[family]
        assert isinstance(daemon, BirdDaemon), f"{self.kind} is not BIRD"
        return daemon

    def _inject_gobgp_routes(self) -> None:
        gobgp = self._daemons[self.families[0]]
        if not isinstance(gobgp, GobgpDaemon):
            return
        for route in self.originated:
            gobgp.add_route(
                route.prefix,
                self._hops[route.family],
                as_path=route.as_path,
                communities=list(route.communities),
                large_communities=list(route.large_communities),
                med=route.med,
            )

"""One real peer daemon (BIRD 1.6, BIRD 2 or GoBGP) facing our speaker across a two-host LAN.

`RealPeer` hides the differences the interop tests do not care about: BIRD 1.6 runs one daemon
per family (`bird`, `bird6`), BIRD 2 one daemon with both, GoBGP one daemon whose routes are
injected through its API. Host 0 of the LAN runs bgpd, host 1 runs the peer; the peer holds one
session per family (over the IPv4 and the IPv6 address) and originates `PEER_ROUTES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .bgpd_proc import BgpdProcess
from .peers import BgpPeer, BirdConfig, BirdDaemon, GobgpDaemon, GobgpNeighbor, LanHost, Route
from .peers import StaticRoute as BirdStatic
from .peers.fixtures import BirdFactory, GobgpFactory

Kind = Literal["bird1.6", "bird2", "gobgp"]
Fam = Literal[4, 6]
KINDS: tuple[Kind, ...] = ("bird1.6", "bird2", "gobgp")
GR_TIME = 90


@dataclass(frozen=True)
class Originated:
    prefix: str
    as_path: tuple[int, ...]
    communities: tuple[tuple[int, int], ...]
    large_communities: tuple[tuple[int, int, int], ...]
    med: int


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
    """The peer daemon(s) on host `b`, with one session per family toward bgpd on host `a`."""

    def __init__(
        self,
        kind: Kind,
        a: LanHost,
        b: LanHost,
        *,
        peer_as: int,
        our_as: int,
        bird_factory: BirdFactory,
        gobgp_factory: GobgpFactory,
        password: str | None = None,
        families: tuple[Fam, ...] = (4, 6),
    ) -> None:
        self.kind = kind
        self.families = families
        self._our: dict[Fam, str] = {4: str(a.ipv4), 6: str(a.ipv6)}
        self._hops: dict[Fam, str] = {4: str(b.ipv4), 6: str(b.ipv6)}
        self.birds: dict[Fam, BirdDaemon] = {}
        self.gobgp: GobgpDaemon | None = None
        if kind == "gobgp":
            self.gobgp = gobgp_factory(
                asn=peer_as,
                router_id=str(b.ipv4),
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
            self._inject_gobgp_routes()
            return
        config = BirdConfig(
            router_id=str(b.ipv4),
            static_routes=tuple(
                BirdStatic(
                    prefix=r.prefix,
                    as_path_prepend=r.as_path,
                    communities=r.communities,
                    large_communities=r.large_communities,
                    med=r.med,
                )
                for r in PEER_ROUTES
            ),
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
        if kind == "bird2":
            daemon = bird_factory(config, version="2", netns=b.ns)
            self.birds = dict.fromkeys(families, daemon)
        else:
            self.birds = {
                f: bird_factory(config, version="1.6", family=f, netns=b.ns) for f in families
            }

    def state(self, family: Fam = 4) -> str:
        if self.gobgp is not None:
            return self.gobgp.neighbor_state(self._our[family])
        return self.birds[family].protocol_state(f"bgpd{family}")

    def wait_established(self, family: Fam = 4, timeout: float = 30) -> None:
        if self.gobgp is not None:
            self.gobgp.wait_established(self._our[family], timeout)
        else:
            self.birds[family].wait_established(f"bgpd{family}", timeout)

    def wait_route(self, prefix: str, timeout: float = 30) -> Route:
        family: Fam = 6 if ":" in prefix else 4
        daemon = self.gobgp if self.gobgp is not None else self.birds[family]
        (route,) = daemon.wait_route(prefix, timeout)
        return route

    def protocol_text(self, family: Fam = 4) -> str:
        """What the peer says about the session (BIRD's `show protocols all`, GoBGP's JSON)."""
        if self.gobgp is not None:
            return str(self.gobgp.neighbor_json(self._our[family]))
        return self.birds[family].birdc(f"show protocols all bgpd{family}")

    def logs(self) -> str:
        return "\n".join(d.logs() for d in self.daemons())

    def daemons(self) -> list[BirdDaemon | GobgpDaemon]:
        if self.gobgp is not None:
            return [self.gobgp]
        return list({id(d): d for d in self.birds.values()}.values())

    def freeze(self) -> None:
        for d in self.daemons():
            d.freeze()

    def thaw(self) -> None:
        for d in self.daemons():
            d.thaw()

    def restart(self) -> None:
        for d in self.daemons():
            d.restart()
        # Routes injected through GoBGP's API die with the process; BIRD's are in its config.
        self._inject_gobgp_routes()

    def _inject_gobgp_routes(self) -> None:
        if self.gobgp is None:
            return
        for route in PEER_ROUTES:
            family: Fam = 6 if ":" in route.prefix else 4
            if family in self.families:
                self.gobgp.add_route(
                    route.prefix,
                    self._hops[family],
                    as_path=route.as_path,
                    communities=list(route.communities),
                    large_communities=list(route.large_communities),
                    med=route.med,
                )


def start_bgpd(workdir: Path, a: LanHost, config: str) -> BgpdProcess:
    return BgpdProcess("bgpd", config, workdir, netns=a.ns).start()

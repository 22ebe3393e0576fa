"""A real GoBGP 3.x daemon as a BGP peer: TOML config, ``gobgp`` CLI control, RIB as `Route`.

``gobgpd -f <conf.toml> -t toml --pprof-disable --api-hosts unix://<sock>`` runs in the
foreground inside a `Namespace` (or on the host). The gRPC API listens on a UNIX socket rather
than a TCP port: filesystem sockets are reachable from the host whatever namespace the daemon
is in, and no port has to be allocated. The CLI reaches it with ``gobgp --target unix://...``.

Verified against gobgpd 3.10:
- ``gobgp neighbor -j`` lists neighbours with ``state.session_state`` as an integer
  (1 Idle, 2 Connect, 3 Active, 4 OpenSent, 5 OpenConfirm, 6 Established); this module reports
  BIRD's spelling of those names.
- ``gobgp global rib -a ipv4|ipv6 -j`` maps prefix to paths; each path has ``attrs`` (type 1
  origin, 2 as_paths, 3/14 nexthop, 4 metric, 5 local pref, 8 communities as 32-bit integers,
  9 originator id, 10 cluster list, 32 large communities) and ``neighbor-ip`` unless the path
  was added locally.
- GoBGP treats 127.0.0.0/8 next hops as martians, so route exchange with GoBGP must run
  between namespaces joined by veth (see `netns.Lan`); sessions over loopback do come up.
- Without a timers section GoBGP waits 120 s between connection attempts and 30 s after an
  administrative reset; `GobgpNeighbor` defaults to 1 s for both so tests converge quickly.
  After a session *drops* (peer died, hold timer expired) GoBGP stays Idle for a hard-coded
  5 s (``holdtimeIdle`` in its fsm.go) and closes incoming connections meanwhile: a test that
  restarts GoBGP's peer should expect re-establishment after about 5-6 s.
- ``global.config.port = -1`` disables listening (``listen_port=-1``).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .binaries import Family, gobgp_binaries
from .daemon import DaemonError, NeighborDaemon, numbered
from .netns import Namespace, run
from .routes import (
    Route,
    RouteTable,
    canonical_prefix,
    family_of,
    normalise_communities,
    normalise_large,
)

__all__ = [
    "GobgpDaemon",
    "GobgpError",
    "GobgpNeighbor",
    "SESSION_STATES",
    "parse_rib_json",
]

SESSION_STATES = {
    0: "Unknown",
    1: "Idle",
    2: "Connect",
    3: "Active",
    4: "OpenSent",
    5: "OpenConfirm",
    6: "Established",
}
_ORIGINS = {0: "IGP", 1: "EGP", 2: "Incomplete"}
AfiSafi = Literal["ipv4-unicast", "ipv6-unicast"]


class GobgpError(DaemonError):
    """The gobgp CLI failed or returned something unexpected."""


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"cannot render {value!r} as TOML")


def _table(header: str, values: Mapping[str, object]) -> list[str]:
    """A TOML table with the non-None values; nothing at all if every value is None."""
    lines = [f"  {k} = {_toml(v)}" for k, v in values.items() if v is not None]
    return [header, *lines] if lines else []


@dataclass(frozen=True, slots=True, kw_only=True)
class GobgpNeighbor:
    """One ``[[neighbors]]`` entry.

    ``families`` defaults to the neighbour address family. ``connect_retry`` and
    ``idle_hold_time_after_reset`` default to 1 s (GoBGP's own defaults are 120 s and 30 s).
    ``add_paths_send_max > 0`` sends that many paths per prefix; ``add_paths_receive`` accepts
    several. ``long_lived_stale_time`` (with ``graceful_restart``) enables RFC 9494
    long-lived graceful restart with that stale time. ``ttl_security_min`` enables GTSM with
    that minimum TTL. ``local_as`` overrides the
    global AS for this session.
    """

    address: str
    peer_as: int
    local_as: int | None = None
    local_address: str | None = None
    remote_port: int | None = None
    passive: bool = False
    password: str | None = None
    hold_time: int | None = None
    keepalive_interval: int | None = None
    connect_retry: int = 1
    idle_hold_time_after_reset: int = 1
    graceful_restart: bool = False
    restart_time: int | None = None
    # RFC 9494 long-lived graceful restart (with graceful_restart): the stale time, per family.
    long_lived_stale_time: int | None = None
    add_paths_receive: bool = False
    add_paths_send_max: int = 0
    multihop_ttl: int | None = None
    ttl_security_min: int | None = None
    route_reflector_client: bool = False
    route_reflector_cluster_id: str | None = None
    families: tuple[AfiSafi, ...] | None = None

    def __post_init__(self) -> None:
        ipaddress.ip_address(self.address)

    def render(self) -> str:
        """The TOML for this neighbour."""
        out = ["[[neighbors]]"]
        out += _table(
            "[neighbors.config]",
            {
                "neighbor-address": self.address,
                "peer-as": self.peer_as,
                "local-as": self.local_as,
                "auth-password": self.password,
            },
        )
        out += _table(
            "[neighbors.transport.config]",
            {
                "passive-mode": self.passive or None,
                "local-address": self.local_address,
                "remote-port": self.remote_port,
            },
        )
        out += _table(
            "[neighbors.timers.config]",
            {
                "connect-retry": self.connect_retry,
                "idle-hold-time-after-reset": self.idle_hold_time_after_reset,
                "hold-time": self.hold_time,
                "keepalive-interval": self.keepalive_interval,
            },
        )
        if self.graceful_restart:
            out += _table(
                "[neighbors.graceful-restart.config]",
                {
                    "enabled": True,
                    "restart-time": self.restart_time,
                    "long-lived-enabled": self.long_lived_stale_time is not None or None,
                },
            )
        add_paths = {
            "receive": self.add_paths_receive or None,
            "send-max": self.add_paths_send_max or None,
        }
        if any(v is not None for v in add_paths.values()):
            out += _table("[neighbors.add-paths.config]", add_paths)
        if self.multihop_ttl is not None:
            out += _table(
                "[neighbors.ebgp-multihop.config]",
                {"enabled": True, "multihop-ttl": self.multihop_ttl},
            )
        if self.ttl_security_min is not None:
            out += _table(
                "[neighbors.ttl-security.config]",
                {"enabled": True, "ttl-min": self.ttl_security_min},
            )
        if self.route_reflector_client or self.route_reflector_cluster_id:
            out += _table(
                "[neighbors.route-reflector.config]",
                {
                    "route-reflector-client": self.route_reflector_client or None,
                    "route-reflector-cluster-id": self.route_reflector_cluster_id,
                },
            )
        default: AfiSafi = (
            "ipv6-unicast" if ipaddress.ip_address(self.address).version == 6 else "ipv4-unicast"
        )
        for afi_safi in self.families or (default,):
            out.append("[[neighbors.afi-safis]]")
            out += _table("[neighbors.afi-safis.config]", {"afi-safi-name": afi_safi})
            if self.graceful_restart:
                out += _table("[neighbors.afi-safis.mp-graceful-restart.config]", {"enabled": True})
            if self.graceful_restart and self.long_lived_stale_time is not None:
                out += _table(
                    "[neighbors.afi-safis.long-lived-graceful-restart.config]",
                    {"enabled": True, "restart-time": self.long_lived_stale_time},
                )
            if any(v is not None for v in add_paths.values()):
                # Per-AFI settings override the neighbour-level ones, so repeat them here.
                out += _table("[neighbors.afi-safis.add-paths.config]", add_paths)
        return "\n".join(out) + "\n"


def _route_from_json(prefix: str, path: dict[str, Any]) -> Route:
    next_hop = None
    as_path: list[int] = []
    communities: list[tuple[int, int]] = []
    large: list[tuple[int, int, int]] = []
    med = local_pref = None
    origin = originator = None
    cluster: tuple[str, ...] = ()
    raw: list[tuple[str, str]] = []
    for attr in path.get("attrs", []):
        kind = attr.get("type")
        raw.append((str(kind), json.dumps({k: v for k, v in attr.items() if k != "type"})))
        if kind == 1:
            origin = _ORIGINS.get(int(attr.get("value", 0)), str(attr.get("value")))
        elif kind == 2:
            for seg in attr.get("as_paths", []):
                as_path += [int(a) for a in seg.get("asns", [])]
        elif kind in (3, 14):
            next_hop = next_hop or attr.get("nexthop")
        elif kind == 4:
            med = int(attr.get("metric", 0))
        elif kind == 5:
            local_pref = int(attr.get("value", 0))
        elif kind == 8:
            communities += [(c >> 16, c & 0xFFFF) for c in attr.get("communities", [])]
        elif kind == 9:
            originator = attr.get("value")
        elif kind == 10:
            cluster = tuple(attr.get("value", []))
        elif kind == 32:
            large += [
                (int(v["ASN"]), int(v["LocalData1"]), int(v["LocalData2"]))
                for v in attr.get("value", [])
            ]
    return Route(
        prefix=prefix,
        next_hop=next_hop,
        as_path=tuple(as_path),
        communities=normalise_communities(communities),
        large_communities=normalise_large(large),
        med=med,
        local_pref=local_pref,
        origin=origin,
        originator_id=originator,
        cluster_list=cluster,
        source=str(path.get("neighbor-ip") or "local"),
        best=bool(path.get("best", False)),
        raw=tuple(raw),
    )


def parse_rib_json(text: str) -> RouteTable:
    """Parse ``gobgp global rib -j`` (or ``neighbor X adj-in -j``) output into routes."""
    text = text.strip()
    if not text or text == "null":
        return {}
    data = json.loads(text)
    table: RouteTable = {}
    for prefix, paths in (data or {}).items():
        key = canonical_prefix(prefix)
        table.setdefault(key, []).extend(_route_from_json(key, p) for p in paths or [])
    return table


class GobgpDaemon(NeighborDaemon):
    """gobgpd with a generated TOML config, controlled through the ``gobgp`` CLI.

    ``listen_port`` is GoBGP's BGP port (179; ``-1`` disables listening, handy on the host);
    ``listen_addresses`` restricts the listening addresses. ``extra_toml`` is appended verbatim
    (e.g. policy definitions). Not started until `start()` or ``with``.
    """

    error = GobgpError
    config_suffix = "toml"
    __slots__ = ("_cli", "_gobgpd", "extra_toml", "listen_addresses", "listen_port", "neighbors")

    def __init__(
        self,
        *,
        asn: int,
        router_id: str,
        neighbors: Sequence[GobgpNeighbor] = (),
        listen_port: int = 179,
        listen_addresses: Sequence[str] = (),
        netns: Namespace | None = None,
        workdir: Path | None = None,
        name: str = "gobgpd",
        extra_toml: str = "",
    ) -> None:
        self._gobgpd, self._cli = gobgp_binaries()
        super().__init__(asn=asn, router_id=router_id, name=name, netns=netns, workdir=workdir)
        self.neighbors = tuple(neighbors)
        self.listen_port = listen_port
        self.listen_addresses = tuple(listen_addresses)
        self.extra_toml = extra_toml

    @property
    def api_target(self) -> str:
        """The gRPC target (``unix://...``) for ``gobgp --target``."""
        return f"unix://{self._sockdir / 'gobgp.sock'}"

    def config_text(self) -> str:
        """The TOML written at start."""
        out = _table(
            "[global.config]",
            {
                "as": self.asn,
                "router-id": self.router_id,
                "port": self.listen_port,
                "local-address-list": list(self.listen_addresses) or None,
            },
        )
        text = "\n".join(out) + "\n\n" + "\n".join(n.render() for n in self.neighbors)
        return text + ("\n" + self.extra_toml + "\n" if self.extra_toml else "")

    def _prepare(self) -> None:
        text = self.config_text()
        self.config_path.write_text(text)
        check = run(
            [str(self._gobgpd), "-d", "-f", str(self.config_path), "-t", "toml"], check=False
        )
        if check.returncode != 0:
            raise GobgpError(
                f"{self.name}: config rejected:\n{check.stdout}{check.stderr}\n{numbered(text)}"
            )

    def _argv(self) -> list[str]:
        return [
            str(self._gobgpd),
            "-f",
            str(self.config_path),
            "-t",
            "toml",
            "--pprof-disable",
            "--api-hosts",
            self.api_target,
            "-p",
        ]

    def _ready(self) -> bool:
        # Without the socket the CLI's gRPC client backs off for a whole second: look first.
        return self._answers(self._sockdir / "gobgp.sock", lambda: self.gobgp_json("global"))

    # -- control -----------------------------------------------------------------------------

    def gobgp(self, *args: str, timeout: float = 10.0) -> str:
        """Run ``gobgp --target <api> <args>`` and return stdout; `GobgpError` on failure."""
        argv = [str(self._cli), "--target", self.api_target, *args]
        return self._control(argv, f"gobgp {' '.join(args)}", timeout)

    def gobgp_json(self, *args: str) -> Any:
        """Run ``gobgp ... -j`` and decode the JSON (None for empty output)."""
        return self._decode_json(self.gobgp(*args, "-j"), f"gobgp {' '.join(args)} -j")

    def neighbors_json(self) -> list[dict[str, Any]]:
        """``gobgp neighbor -j`` as decoded JSON."""
        data = self.gobgp_json("neighbor")
        return list(data or [])

    def neighbor_json(self, address: str) -> dict[str, Any]:
        """The ``gobgp neighbor -j`` entry of ``address`` (GoBGP lists them in no fixed order)."""
        want = ipaddress.ip_address(address)
        for n in self.neighbors_json():
            conf = n.get("conf", {})
            if ipaddress.ip_address(conf.get("neighbor_address", "::")) == want:
                return dict(n)
        raise GobgpError(f"{self.name}: no neighbour {address}")

    def neighbor_state(self, address: str) -> str:
        """Session state with ``address`` in BIRD's spelling (``Established``, ``Active``...)."""
        code = int(self.neighbor_json(address).get("state", {}).get("session_state", 0))
        return SESSION_STATES.get(code, str(code))

    def add_route(
        self,
        prefix: str,
        next_hop: str,
        *,
        as_path: Sequence[int] = (),
        communities: Sequence[tuple[int, int]] = (),
        large_communities: Sequence[tuple[int, int, int]] = (),
        med: int | None = None,
        local_pref: int | None = None,
        origin: Literal["igp", "egp", "incomplete"] = "igp",
    ) -> None:
        """Originate ``prefix`` from the global RIB (``gobgp global rib add``).

        ``as_path`` is the path as sent to iBGP peers; eBGP peers see GoBGP's AS prepended.
        """
        key = canonical_prefix(prefix)
        args = ["global", "rib", "add", key, "nexthop", next_hop, "origin", origin]
        if as_path:
            args += ["aspath", ",".join(str(a) for a in as_path)]
        if communities:
            args += ["community", ",".join(f"{a}:{b}" for a, b in communities)]
        if large_communities:
            args += ["large-community", ",".join(f"{a}:{b}:{c}" for a, b, c in large_communities)]
        if med is not None:
            args += ["med", str(med)]
        if local_pref is not None:
            args += ["local-pref", str(local_pref)]
        self.gobgp(*args, "-a", f"ipv{family_of(key)}")

    def del_route(self, prefix: str) -> None:
        """Withdraw a route added with `add_route`."""
        key = canonical_prefix(prefix)
        self.gobgp("global", "rib", "del", key, "-a", f"ipv{family_of(key)}")

    def routes(self, family: Family | None = None) -> RouteTable:
        """The global RIB (both families unless ``family`` is given), all paths per prefix."""
        table: RouteTable = {}
        for fam in (4, 6) if family is None else (family,):
            table.update(parse_rib_json(self.gobgp("global", "rib", "-a", f"ipv{fam}", "-j")))
        return table

    def adj_rib_in(self, address: str, family: Family = 4) -> RouteTable:
        """What ``address`` sent us (``gobgp neighbor <address> adj-in``), before policy."""
        return parse_rib_json(self.gobgp("neighbor", address, "adj-in", "-a", f"ipv{family}", "-j"))

    def _status(self) -> str:
        return self.gobgp("neighbor", timeout=3.0)

"""The speaker's configuration as frozen values: the global sections and the whole `Config`.

Role: the typed shape of `bgpd.toml`'s `[bgp]`, `[control]`, `[metrics]` and `[[static]]`, and
`Config`, which holds every section (the `[[peer]]` ones from `bgpd.config.peer`, Calico's from
`bgpd.config.calico`, `[[filter]]` from `bgpd.config.filter_section`), derives the mesh peers and
Calico's routes, checks the rules that span sections and resolves per-peer inheritance into
the `PeerSettings` the session layer consumes.

Invariants:
- Every class validates itself in `validate`, called by `__post_init__`, so an invalid instance
  cannot be built, by the loader or by hand; the loader adds no check of its own. A rejected
  instance raises `ConfigError` listing every problem; locations are field names relative to
  the instance (`keepalive_time`), or full key paths for `Config`-level checks
  (`peer[3].address`). The cross-section checks are functions (`config_problems`, ...) so that
  the loader can run them on the entries of a file it could partly build.
- TOML key names equal dataclass field names, one to one (the loader relies on it).
- Peer fields left as `None` inherit from `[bgp]`; `Config.peer_settings` is the only place
  where inheritance is resolved.
- Defaults are those of Calico's rendered BIRD 1.6 config (hold 240 s, keepalive hold/3,
  connect retry 5 s, error wait 5-30 s, graceful restart on with 120 s).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from copy import copy
from dataclasses import dataclass, field, replace
from enum import StrEnum
from ipaddress import IPv4Address

from bgpd.config.bfd_section import BfdSection, PeerBfd
from bgpd.config.bird_timeformat import (
    BASE_DEFAULT,
    ROUTE_DEFAULT,
    TimeFormat,
    check_timeformat,
    parse_timeformat,
)
from bgpd.config.calico import (
    CalicoSection,
    ClusterNode,
    KernelSection,
    MeshSection,
    NodeSection,
)
from bgpd.config.calico_names import greater_address_is_passive, protocol_id
from bgpd.config.checks import (
    Collector,
    Community,
    LargeCommunity,
    check_asn,
    check_cluster_id,
    check_families,
    check_hold_time,
    check_keepalive_time,
    check_keepalive_vs_hold,
    check_listen_host,
    check_listen_ip,
    check_port,
    check_restart_time,
    check_router_id,
    check_seconds,
    check_socket_path,
    check_state_file_path,
    check_uint32,
    first_duplicate,
    raise_problems,
)

# [[filter]] (bgpd/config/filter_section.py) ---
from bgpd.config.filter_section import FilterConfig, filter_problems
from bgpd.config.peer import (
    AddPathMode,
    DynamicNeighbors,
    PeerConfig,
    PeerSettings,
    filter_references,
    peer_location,
    peer_route_problems,
)
from bgpd.config.restart_mode import (
    DEFAULT_LLGR_STALE_TIME,
    RestartMode,
    check_llgr_stale_time,
    llgr_without_gr,
    restart_mode_problems,
)
from bgpd.errors import ConfigError, ConfigProblem
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, Family, IPAddress, IPNetwork

__all__ = [
    "BgpSection",
    "Community",
    "Config",
    "ControlSection",
    "IPAddress",
    "IPNetwork",
    "LargeCommunity",
    "ListenAddress",
    "LogFormat",
    "LogLevel",
    "MetricsSection",
    "StaticRoute",
]


class LogLevel(StrEnum):
    """`[bgp].log_level`; Calico's `logSeverityScreen` lower-cased (`none` silences logging)."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    NONE = "none"


class LogFormat(StrEnum):
    """`[bgp].log_format`."""

    TEXT = "text"
    JSON = "json"


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenAddress:
    """A `HOST:PORT` listen address; `host` is an IP literal or a DNS name, without brackets."""

    host: str
    port: int

    def __post_init__(self) -> None:
        msg = check_listen_host(self.host) or check_port(self.port)
        if msg:
            raise ConfigError([ConfigProblem(location="listen", message=msg)])

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


# --- Sections. ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BgpSection:
    """`[bgp]`: this speaker's identity, listening sockets and session defaults."""

    asn: int
    router_id: IPv4Address
    listen: tuple[IPAddress, ...] = ()
    port: int = 179
    log_level: LogLevel = LogLevel.INFO
    log_format: LogFormat = LogFormat.TEXT
    cluster_id: IPv4Address | None = None
    hold_time: int = 240
    keepalive_time: int | None = None
    connect_retry_time: int = 5
    error_wait_min: int = 5
    error_wait_max: int = 30
    graceful_restart: bool = True
    graceful_restart_time: int = 120
    graceful_restart_wait: int = 120
    restart_mode: RestartMode = RestartMode.GR
    llgr_stale_time: int = DEFAULT_LLGR_STALE_TIME
    families: tuple[Family, ...] = (IPV4_UNICAST, IPV6_UNICAST)
    add_path: AddPathMode = AddPathMode.OFF
    persist_routes: bool = True
    # Where a route reflector records when its sessions were last up, so that it starts as a
    # restarting speaker only when a client may still hold its routes (bgpd.speaker.start_mode).
    restart_state_file: str | None = None

    def __post_init__(self) -> None:
        raise_problems(self)

    def validate(self, c: Collector) -> None:
        """Every problem of this section (see `bgpd.config.checks.Collector`)."""
        c.check("asn", check_asn, self.asn)
        c.check("router_id", check_router_id, self.router_id)
        c.check_each("listen", check_listen_ip, self.listen)
        dup = first_duplicate(self.listen) if c.ok("listen") else None
        if dup is not None:
            c.add("listen", f"address {dup} is listed twice")
        c.check("port", check_port, self.port)
        c.check("cluster_id", check_cluster_id, self.cluster_id)
        c.check("hold_time", check_hold_time, self.hold_time)
        c.check("keepalive_time", check_keepalive_time, self.keepalive_time)
        if self.keepalive_time is not None and c.ok("keepalive_time", "hold_time"):
            c.add("keepalive_time", check_keepalive_vs_hold(self.keepalive_time, self.hold_time))
        c.check("connect_retry_time", check_seconds, self.connect_retry_time)
        c.check("error_wait_min", check_seconds, self.error_wait_min)
        c.check("error_wait_max", check_seconds, self.error_wait_max)
        if c.ok("error_wait_min", "error_wait_max") and self.error_wait_min > self.error_wait_max:
            c.add(
                "error_wait_min",
                f"error_wait_min {self.error_wait_min} is greater than "
                f"error_wait_max {self.error_wait_max}",
            )
        c.check("graceful_restart_time", check_restart_time, self.graceful_restart_time)
        c.check("graceful_restart_wait", check_seconds, self.graceful_restart_wait)
        c.check("llgr_stale_time", check_llgr_stale_time, self.llgr_stale_time)
        if self.restart_mode is RestartMode.LLGR and not self.graceful_restart:
            c.problems.append(llgr_without_gr("restart_mode"))
        c.check("families", check_families, self.families)
        c.check("restart_state_file", check_state_file_path, self.restart_state_file)


# calico-node's BIRD control sockets: [control]'s BIRD-compatible sockets default to them in
# Calico mode (a config with [calico]), where calicoctl and the probes look.
CALICO_BIRD_SOCKET = "/var/run/calico/bird.ctl"
CALICO_BIRD6_SOCKET = "/var/run/calico/bird6.ctl"


@dataclass(frozen=True, slots=True, kw_only=True)
class ControlSection:
    """`[control]`: the bgpctl socket and the optional BIRD-compatible sockets for calicoctl."""

    socket: str = "/run/bgpd/bgpd.ctl"
    bird_socket: str | None = None
    bird6_socket: str | None = None
    # BIRD's `timeformat protocol|route|base` (bgpd.config.bird_timeformat); None: BIRD 1.6's
    bird_timeformat_protocol: str | None = None
    bird_timeformat_route: str | None = None
    bird_timeformat_base: str | None = None

    def __post_init__(self) -> None:
        raise_problems(self)

    def timeformat(self, kind: str) -> TimeFormat:
        """The parsed `bird_timeformat_KIND` ("protocol", "route", "base"), default BIRD 1.6's."""
        text: str | None = getattr(self, f"bird_timeformat_{kind}")
        if text is None:
            return BASE_DEFAULT if kind == "base" else ROUTE_DEFAULT
        return parse_timeformat(text)

    def validate(self, c: Collector) -> None:
        """Every problem of this section (see `bgpd.config.checks.Collector`)."""
        for kind in ("protocol", "route", "base"):
            key = f"bird_timeformat_{kind}"
            c.check(key, check_timeformat, getattr(self, key))
        seen: dict[str, str] = {}
        for key in ("socket", "bird_socket", "bird6_socket"):
            path: str | None = getattr(self, key)
            c.check(key, check_socket_path, path)
            if path is None or not c.ok(key):
                continue
            if path in seen:
                c.add(key, f"same path as {seen[path]}")
            seen.setdefault(path, key)


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsSection:
    """`[metrics]`: the Prometheus endpoint; no `listen` means no endpoint."""

    listen: ListenAddress | None = None
    # /readyz (bgpd/metrics/health.py) ---
    # Seconds after start during which every peer must be Established for /readyz
    # (calico-node's -bird-ready -threshold-time, default 30 s); after it one is enough.
    ready_threshold: int = 30

    def __post_init__(self) -> None:
        raise_problems(self)

    def validate(self, c: Collector) -> None:
        """Every problem of this section (see `bgpd.config.checks.Collector`)."""
        c.check("ready_threshold", check_seconds, self.ready_threshold)


@dataclass(frozen=True, slots=True, kw_only=True)
class StaticRoute:
    """`[[static]]`: a prefix this speaker originates (Calico's IPAM block and service routes)."""

    prefix: IPNetwork
    next_hop: IPAddress | None = None
    blackhole: bool = False
    communities: tuple[Community, ...] = ()
    large_communities: tuple[LargeCommunity, ...] = ()
    med: int | None = None
    local_pref: int | None = None

    def __post_init__(self) -> None:
        raise_problems(self)

    def validate(self, c: Collector) -> None:
        """Every problem of this route (see `bgpd.config.checks.Collector`)."""
        # ipaddress network objects never carry host bits; the loader parses strictly so that a
        # written prefix with host bits is reported instead of silently masked.
        if self.next_hop is not None and c.ok("prefix"):
            if self.next_hop.version != self.prefix.version:
                c.add(
                    "next_hop",
                    f"next_hop {self.next_hop} is IPv{self.next_hop.version} but prefix "
                    f"{self.prefix} is IPv{self.prefix.version}",
                )
            elif self.next_hop.is_unspecified or self.next_hop.is_multicast:
                c.add("next_hop", f"next_hop {self.next_hop} must be a unicast address")
        if self.next_hop is not None and self.blackhole:
            c.add("blackhole", "a blackhole route cannot also have a next_hop")
        dup_c = first_duplicate(self.communities) if c.ok("communities") else None
        if dup_c is not None:
            c.add("communities", f"community {dup_c} is listed twice")
        dup_l = first_duplicate(self.large_communities) if c.ok("large_communities") else None
        if dup_l is not None:
            c.add("large_communities", f"large community {dup_l} is listed twice")
        c.check("med", check_uint32, self.med)
        c.check("local_pref", check_uint32, self.local_pref)


def dynamic_problems(
    *,
    bgp: BgpSection | None,
    node: NodeSection | None,
    ranges: Iterable[tuple[int, DynamicNeighbors]],
    node_invalid: bool = False,
) -> list[ConfigProblem]:
    """Checks between `[[dynamic_neighbors]]` ranges and our AS.

    `node_invalid`: a `[node]` was written but could not be built (its problems are reported);
    our AS is then unknown and the rules that need it wait, as in `config_problems`.
    """
    problems: list[ConfigProblem] = []
    seen: list[tuple[int, DynamicNeighbors]] = []
    for i, rng in ranges:
        for j, other in seen:
            if rng.prefix.version == other.prefix.version and rng.prefix.overlaps(other.prefix):
                # Overlaps would make the settings of a new peer depend on the order of entries.
                problems.append(
                    ConfigProblem(
                        location=f"dynamic_neighbors[{i}].prefix",
                        message=f"{rng.prefix} overlaps dynamic_neighbors[{j}] ({other.prefix})",
                    )
                )
                break
        seen.append((i, rng))
        if bgp is None or node_invalid or rng.rr_client is not True or rng.asn is None:
            continue
        own_asn, own_section = _local_asn(bgp, node)
        if rng.asn != own_asn:
            # RFC 4456 §1: route reflection happens inside one AS.
            problems.append(
                ConfigProblem(
                    location=f"dynamic_neighbors[{i}].rr_client",
                    message=f"rr_client needs iBGP, but asn {rng.asn} differs from "
                    f"{own_section} asn {own_asn}",
                )
            )
    return problems


def _mixed_timer_problem(bgp: BgpSection, peer: PeerConfig) -> tuple[str, str | None]:
    """(key, message) for a keepalive/hold conflict between a peer value and [bgp].

    Pairs set entirely in one section were already checked by that section's own class.
    """
    if peer.hold_time is not None and peer.keepalive_time is None:
        if bgp.keepalive_time is not None and 0 < peer.hold_time <= bgp.keepalive_time:
            return "hold_time", (
                f"hold_time {peer.hold_time} must be greater than keepalive_time "
                f"{bgp.keepalive_time} inherited from [bgp]"
            )
    elif peer.hold_time is None and peer.keepalive_time is not None:
        return "keepalive_time", check_keepalive_vs_hold(
            peer.keepalive_time, bgp.hold_time, " inherited from [bgp]"
        )
    return "hold_time", None


def _effective_keepalive(bgp: BgpSection, peer: PeerConfig) -> tuple[int, bool]:
    """(keepalive seconds, whether it was configured rather than derived) for `peer`."""
    hold = peer.hold_time if peer.hold_time is not None else bgp.hold_time
    if hold == 0:
        return 0, peer.keepalive_time is not None or bgp.keepalive_time is not None
    if peer.keepalive_time is not None:
        return peer.keepalive_time, True
    if bgp.keepalive_time is not None:
        return bgp.keepalive_time, True
    return hold // 3, False


def config_problems(
    *,
    bgp: BgpSection | None,
    control: ControlSection | None,
    statics: Iterable[tuple[int, StaticRoute]],
    peers: Iterable[tuple[int, PeerConfig]],
    node: NodeSection | None = None,
    node_invalid: bool = False,
) -> list[ConfigProblem]:
    """Checks that span sections; entries come with their index in the file for locations.

    The loader passes the entries it could build. `node_invalid`: a `[node]` was written but
    could not be built (its problems are reported): the rules that need our AS, which it may
    set, wait, so that one bad value in `[node]` is not reported again at every peer.
    """
    del control  # no cross-section rule involves [control] yet
    problems: list[ConfigProblem] = []

    def add(location: str, message: str | None) -> None:
        if message is not None:
            problems.append(ConfigProblem(location=location, message=message))

    first_prefix: dict[IPNetwork, int] = {}
    for i, route in statics:
        if route.prefix in first_prefix:
            add(
                f"static[{i}].prefix",
                f"{route.prefix} is already defined by static[{first_prefix[route.prefix]}]",
            )
        first_prefix.setdefault(route.prefix, i)

    first_name: dict[str, int] = {}
    first_address: dict[IPAddress, int] = {}
    for i, peer in peers:
        if peer.name in first_name:
            add(
                peer_location(i, peer.name, "name"),
                f"name is already used by peer[{first_name[peer.name]}]",
            )
        first_name.setdefault(peer.name, i)
        if peer.address in first_address:
            add(
                peer_location(i, peer.name, "address"),
                f"{peer.address} is already used by peer[{first_address[peer.address]}]",
            )
        first_address.setdefault(peer.address, i)
        if bgp is None:
            continue
        key, message = _mixed_timer_problem(bgp, peer)
        add(peer_location(i, peer.name, key), message)
        if node_invalid:
            continue
        own_asn, own_section = _local_asn(bgp, node)
        if peer.local_asn is not None:
            own_asn, own_section = peer.local_asn, "its local_asn"
        if peer.rr_client and peer.asn != own_asn:
            # RFC 4456 §1: route reflection happens inside one AS.
            add(
                peer_location(i, peer.name, "rr_client"),
                f"rr_client needs an iBGP peer, but asn {peer.asn} differs from {own_section} "
                f"asn {own_asn}",
            )
    return problems


def _local_asn(bgp: BgpSection, node: NodeSection | None) -> tuple[int, str]:
    """Our effective AS and the section it comes from (for messages)."""
    if node is not None and node.asn is not None:
        return node.asn, "[node]"
    return bgp.asn, "[bgp]"


# --- The node-to-node mesh and Calico's originated routes, derived from the node list. --------


def mesh_peer_name(address: IPAddress) -> str:
    """BIRD's protocol name for a mesh peer: `Mesh_10_0_0_2`, `Mesh_fd00__2` (§2.3, §2.9)."""
    return "Mesh_" + protocol_id(address)


def derive_mesh_peers(
    *,
    bgp: BgpSection,
    node: NodeSection | None,
    cluster_nodes: Sequence[ClusterNode],
    mesh: MeshSection,
) -> tuple[PeerConfig, ...]:
    """The mesh sessions of this node, by Calico's rules (calico-bgp.md §2.3, §2.9).

    No mesh without [node], when the mesh is disabled, or when this node is a route reflector
    (has an rr_cluster_id). Otherwise, per address family in which this node has an address:
    one iBGP-style session to every cluster node that has an address of that family, except
    this node itself (same address) and route reflectors (nodes with an rr_cluster_id). IPv4
    sessions carry only ipv4-unicast and IPv6 sessions only ipv6-unicast, as BIRD's `bird` and
    `bird6` did. IPv4 peers come first, each family in `cluster_nodes` order.
    """
    if node is None or not mesh.enabled or node.rr_cluster_id is not None:
        return ()
    peers: list[PeerConfig] = []
    for family, mine in ((IPV4_UNICAST, node.ipv4_address), (IPV6_UNICAST, node.ipv6_address)):
        if mine is None:
            continue
        for other in cluster_nodes:
            theirs = other.address(mine.version)
            if theirs is None or theirs == mine or other.rr_cluster_id is not None:
                continue
            peers.append(
                PeerConfig(
                    name=mesh_peer_name(theirs),
                    address=theirs,
                    asn=other.asn if other.asn is not None else bgp.asn,
                    port=other.port if other.port is not None else bgp.port,
                    local_address=mine,
                    passive=greater_address_is_passive(theirs, mine),
                    password=mesh.password,
                    password_unavailable=mesh.password_unavailable,
                    graceful_restart_time=mesh.restart_time,
                    families=(family,),
                    description=f"node-to-node mesh: {other.name}",
                )
            )
    return tuple(peers)


def derive_calico_statics(
    calico: CalicoSection | None, statics: Sequence[StaticRoute]
) -> tuple[StaticRoute, ...]:
    """The blackholes Calico's bird_aggr.cfg originates (calico-bgp.md §2.5).

    One per IPAM block of this node except /32 and /128 blocks (their single address is the
    workload route itself), and one per advertised service range. A prefix that is also a
    `[[static]]` is left to that entry, which may add attributes.
    """
    if calico is None:
        return ()
    explicit = {s.prefix for s in statics}
    out: dict[IPNetwork, StaticRoute] = {}
    for block in calico.blocks:
        if block.prefixlen != block.max_prefixlen:
            out.setdefault(block, StaticRoute(prefix=block, blackhole=True))
    for cidr in calico.advertise:
        out.setdefault(cidr, StaticRoute(prefix=cidr, blackhole=True))
    return tuple(r for p, r in out.items() if p not in explicit)


def cluster_problems(
    *,
    bgp: BgpSection | None,
    node: NodeSection | None,
    cluster_nodes: Iterable[tuple[int, ClusterNode]],
    mesh_peers: Sequence[PeerConfig],
    peers: Iterable[tuple[int, PeerConfig]],
    node_invalid: bool = False,
) -> list[ConfigProblem]:
    """Checks between [node], [[cluster_node]], the derived mesh and [[peer]] entries.

    `node_invalid`: a `[node]` was written but could not be built (its problems are reported),
    so it is not missing.
    """
    problems: list[ConfigProblem] = []

    def add(location: str, message: str) -> None:
        problems.append(ConfigProblem(location=location, message=message))

    listed = list(cluster_nodes)
    if listed and node is None and not node_invalid:
        add("cluster_node", "[[cluster_node]] needs [node]: the mesh is derived from its addresses")
    for key in ("name", "ipv4", "ipv6"):
        first: dict[object, int] = {}
        for i, cn in listed:
            value = getattr(cn, key)
            if value is None:
                continue
            if value in first:
                add(f"cluster_node[{i}].{key}", f"{value} is already cluster_node[{first[value]}]")
            first.setdefault(value, i)
    rr_cluster_id = None if node is None else node.rr_cluster_id
    if rr_cluster_id is not None and bgp is not None and bgp.cluster_id != rr_cluster_id:
        add(
            "bgp.cluster_id",
            f"cluster_id {bgp.cluster_id} differs from [node].rr_cluster_id "
            f"{rr_cluster_id} (leave it out: it defaults to that)",
        )
    by_name = {p.name: p for p in mesh_peers}
    by_address = {p.address: p for p in mesh_peers}
    for i, peer in peers:
        if peer.name in by_name:
            add(
                peer_location(i, peer.name, "name"),
                f"name is also the node-to-node mesh peer to {by_name[peer.name].address}",
            )
        elif peer.address in by_address:
            add(
                peer_location(i, peer.name, "address"),
                f"{peer.address} is also the node-to-node mesh peer "
                f"{by_address[peer.address].name}",
            )
    return problems


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """The whole configuration. `source_path` is informational and not compared.

    `peers` and `statics` are the entries written in the file; `mesh_peers` and
    `calico_statics` are derived from `[node]`, `[[cluster_node]]`, `[mesh]` and `[calico]` when
    the instance is built. The speaker uses `all_peers` and `all_statics`.
    """

    bgp: BgpSection
    control: ControlSection = ControlSection()
    metrics: MetricsSection = MetricsSection()
    statics: tuple[StaticRoute, ...] = ()
    peers: tuple[PeerConfig, ...] = ()
    node: NodeSection | None = None
    cluster_nodes: tuple[ClusterNode, ...] = ()
    mesh: MeshSection = field(default_factory=MeshSection)
    calico: CalicoSection | None = None
    kernel: KernelSection = field(default_factory=KernelSection)
    bfd: BfdSection = field(default_factory=BfdSection)
    # [[dynamic_neighbors]]: ranges sessions are accepted from without a [[peer]] entry.
    dynamic_neighbors: tuple[DynamicNeighbors, ...] = ()
    # [[filter]] named import/export rule lists, referenced by [[peer]] entries.
    filters: tuple[FilterConfig, ...] = ()
    source_path: str | None = field(default=None, compare=False)
    # Derived in __post_init__ (a function of the fields above, hence not compared).
    mesh_peers: tuple[PeerConfig, ...] = field(init=False, compare=False, repr=False)
    calico_statics: tuple[StaticRoute, ...] = field(init=False, compare=False, repr=False)
    _peers_by_name: dict[str, PeerConfig] = field(init=False, compare=False, repr=False)
    _mesh_names: frozenset[str] = field(init=False, compare=False, repr=False)
    # The cluster id in use (RFC 4456): `[bgp] cluster_id`, else the router id when any
    # neighbour is a route-reflector client (§7, as BIRD does), else None (no reflection).
    reflector_cluster_id: IPv4Address | None = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        mesh_peers = derive_mesh_peers(
            bgp=self.bgp, node=self.node, cluster_nodes=self.cluster_nodes, mesh=self.mesh
        )
        # Frozen: derived fields are set once, here.
        object.__setattr__(self, "mesh_peers", mesh_peers)
        object.__setattr__(self, "calico_statics", derive_calico_statics(self.calico, self.statics))
        object.__setattr__(self, "_peers_by_name", {p.name: p for p in self.all_peers})
        object.__setattr__(self, "_mesh_names", frozenset(p.name for p in mesh_peers))
        object.__setattr__(self, "reflector_cluster_id", self._reflector_cluster_id())
        # in Calico mode the BIRD-compatible sockets default to calico-node's paths,
        # where calicoctl and the -bird-live/-bird-ready probes look (set here, not in the
        # loader, so that every Config of the same file is equal, rendered and re-read too).
        if self.calico is not None:
            control = replace(
                self.control,
                bird_socket=self.control.bird_socket or CALICO_BIRD_SOCKET,
                bird6_socket=self.control.bird6_socket or CALICO_BIRD6_SOCKET,
            )
            object.__setattr__(self, "control", control)
        problems = self._problems(enumerate(self.statics), enumerate(self.peers), whole=True)
        if problems:
            raise ConfigError(problems)

    def _problems(
        self,
        statics: Iterable[tuple[int, StaticRoute]],
        peers: Iterable[tuple[int, PeerConfig]],
        *,
        whole: bool,
    ) -> list[ConfigProblem]:
        """Every rule, on the given entries (`whole`: and on the rest: nodes, ranges)."""
        peers = list(peers)
        problems = config_problems(
            bgp=self.bgp, control=self.control, statics=statics, peers=peers, node=self.node
        )
        problems += cluster_problems(
            bgp=self.bgp,
            node=self.node,
            cluster_nodes=enumerate(self.cluster_nodes if whole else ()),
            mesh_peers=self.mesh_peers,
            peers=peers,
        )
        if whole:
            problems += dynamic_problems(
                bgp=self.bgp, node=self.node, ranges=enumerate(self.dynamic_neighbors)
            )
        # duplicate [[filter]] names, and peers naming a filter that does not exist.
        problems += filter_problems(enumerate(self.filters), filter_references(peers))
        problems += peer_route_problems(peers, kernel_enabled=self.kernel.enabled)
        problems += restart_mode_problems(
            ((peer_location(i, p.name, "restart_mode"), p.restart_mode) for i, p in peers),
            graceful_restart=self.bgp.graceful_restart,
        )
        return problems

    def _reflector_cluster_id(self) -> IPv4Address | None:
        b = self.bgp
        if b.cluster_id is not None:
            return b.cluster_id
        clients = any(p.rr_client for p in self.all_peers) or any(
            r.rr_client is True or (r.rr_client is None and r.asn in (None, self.local_asn))
            for r in self.dynamic_neighbors
        )
        return b.router_id if clients else None

    def with_peer(self, peer: PeerConfig) -> Config:
        """This config plus `peer` after the others (a dynamic neighbour): what
        `replace(self, peers=...)` gives, with the rules checked on `peer` alone (the rest
        passed them), so it costs two copies and no pass over the peers. The caller knows that
        no peer has `peer`'s address (`DynamicPeers` keeps them); a taken name is refused."""
        problems = self._problems((), [(len(self.peers), peer)], whole=False)
        if peer.name in self._peers_by_name:
            problems.append(ConfigProblem(location="peers", message=f"{peer.name} is taken"))
        if problems:
            raise ConfigError(problems)
        new = copy(self)  # no __post_init__: the derived fields are carried over, then extended
        object.__setattr__(new, "peers", (*self.peers, peer))
        object.__setattr__(new, "_peers_by_name", {**self._peers_by_name, peer.name: peer})
        if peer.rr_client and self.reflector_cluster_id is None:
            object.__setattr__(new, "reflector_cluster_id", self.bgp.router_id)
        return new

    def without_peer(self, name: str) -> Config:
        """This config without the `[[peer]]` `name` (a dynamic neighbour gone): taking a
        peer away breaks no rule, so nothing is checked again."""
        gone = self._peers_by_name.get(name)
        kept = tuple(p for p in self.peers if p is not gone)
        if len(kept) == len(self.peers):
            return self  # no such [[peer]] (a mesh peer is not one)
        new = copy(self)
        object.__setattr__(new, "peers", kept)
        by_name = dict(self._peers_by_name)
        del by_name[name]
        object.__setattr__(new, "_peers_by_name", by_name)
        return new

    @property
    def all_peers(self) -> tuple[PeerConfig, ...]:
        """Every session to run: the `[[peer]]` entries, then the derived mesh peers."""
        return self.peers + self.mesh_peers

    @property
    def all_statics(self) -> tuple[StaticRoute, ...]:
        """Every prefix to originate: `[[static]]` entries, then Calico's blocks and ranges."""
        return self.statics + self.calico_statics

    @property
    def local_asn(self) -> int:
        """Our AS on every session: `[node].asn` when set, else `[bgp].asn`."""
        return _local_asn(self.bgp, self.node)[0]

    def is_mesh_peer(self, name: str) -> bool:
        """True when peer `name` is derived from the mesh (names never clash with [[peer]])."""
        return name in self._mesh_names

    def peer(self, name: str) -> PeerConfig:
        """The peer called `name`, explicit or mesh; KeyError when there is none."""
        return self._peers_by_name[name]

    def peer_bfd(self, peer: PeerConfig) -> PeerBfd | None:
        """The BFD session `peer` asks for, `[bfd]` overridden by its own keys; None: no BFD."""
        if not peer.bfd:
            return None
        b = self.bfd
        return PeerBfd(
            min_rx_ms=peer.bfd_min_rx_ms if peer.bfd_min_rx_ms is not None else b.min_rx_ms,
            min_tx_ms=peer.bfd_min_tx_ms if peer.bfd_min_tx_ms is not None else b.min_tx_ms,
            multiplier=peer.bfd_multiplier if peer.bfd_multiplier is not None else b.multiplier,
            multihop=(
                peer.bfd_multihop
                if peer.bfd_multihop is not None
                else peer.multihop is not None and peer.multihop > 1
            ),
        )

    def peer_settings(self, peer: PeerConfig | str) -> PeerSettings:
        """Resolve `peer` (or the peer with that name) against `[bgp]`."""
        p = self.peer(peer) if isinstance(peer, str) else peer
        b = self.bgp
        keepalive, explicit = _effective_keepalive(b, p)
        families = p.families if p.families is not None else b.families
        return PeerSettings(
            name=p.name,
            address=p.address,
            port=p.port,
            asn=p.asn,
            local_asn=p.local_asn if p.local_asn is not None else self.local_asn,
            router_id=b.router_id,
            cluster_id=self.reflector_cluster_id,
            local_address=p.local_address,
            passive=p.passive,
            password=p.password,
            password_unavailable=p.password_unavailable,
            ttl_security=p.ttl_security,
            multihop=p.multihop,
            hold_time=p.hold_time if p.hold_time is not None else b.hold_time,
            keepalive_time=keepalive,
            keepalive_explicit=explicit,
            connect_retry_time=(
                p.connect_retry_time if p.connect_retry_time is not None else b.connect_retry_time
            ),
            error_wait_min=b.error_wait_min,
            error_wait_max=b.error_wait_max,
            graceful_restart=b.graceful_restart,
            graceful_restart_time=(
                p.graceful_restart_time
                if p.graceful_restart_time is not None
                else b.graceful_restart_time
            ),
            restart_mode=p.restart_mode if p.restart_mode is not None else b.restart_mode,
            llgr_stale_time=(
                p.llgr_stale_time if p.llgr_stale_time is not None else b.llgr_stale_time
            ),
            families=frozenset(families),
            add_path=p.add_path if p.add_path is not None else b.add_path,
            rr_client=p.rr_client,
            next_hop_mode=p.effective_next_hop_mode,
            next_hop_v4=p.next_hop_v4,
            next_hop_v6=p.next_hop_v6,
            description=p.description,
            # names are checked when the Config is built, so every one resolves.
            import_filters=tuple(f for n in p.import_filters for f in self.filters if f.name == n),
            export_filters=tuple(f for n in p.export_filters for f in self.filters if f.name == n),
            reachable_by=p.reachable_by,
            allow_local_as=p.allow_local_as,
        )

"""The speaker's configuration as frozen values.

Role: the typed shape of `bgpd.toml` (sections `[bgp]`, `[control]`, `[metrics]`, `[[static]]`,
`[[peer]]`) plus the resolution of per-peer inheritance into one `PeerSettings` value that the
session layer consumes.

Invariants:
- Every class validates itself in `__post_init__` with the same checks the loader applies, so an
  invalid instance cannot be built, by the loader or by hand. A rejected instance raises
  `ConfigError` listing every problem; locations are field names relative to the instance
  (`keepalive_time`), or full key paths for `Config`-level checks (`peer[3].address`).
- TOML key names equal dataclass field names, one to one (the loader relies on it).
- Peer fields left as `None` inherit from `[bgp]`; `Config.peer_settings` is the only place
  where inheritance is resolved.
- Defaults are those of Calico's rendered BIRD 1.6 config (hold 240 s, keepalive hold/3,
  connect retry 5 s, error wait 5-30 s, graceful restart on with 120 s).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from ipaddress import IPv4Address
from typing import TypeVar

from bgpd.config.calico import (
    CalicoSection,
    ClusterNode,
    KernelSection,
    MeshSection,
    NodeSection,
)
from bgpd.config.calico_names import greater_address_is_passive, protocol_id
from bgpd.config.checks import Collector as _Collector
from bgpd.config.checks import (
    Community,
    LargeCommunity,
    add_password_problems,
    check_asn,
    check_cluster_id,
    check_description,
    check_families,
    check_hold_time,
    check_keepalive_time,
    check_listen_host,
    check_listen_ip,
    check_local_address,
    check_multihop,
    check_next_hop_v4,
    check_next_hop_v6,
    check_peer_address,
    check_peer_name,
    check_port,
    check_restart_time,
    check_router_id,
    check_seconds,
    check_socket_path,
    check_ttl_security,
    check_uint32,
)
from bgpd.config.checks import first_duplicate as _first_duplicate

# [[filter]] (bgpd/config/filter_section.py) ---
from bgpd.config.filter_section import FilterConfig, check_filter_names, filter_problems
from bgpd.errors import ConfigError, ConfigProblem
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, Family, IPAddress, IPNetwork
from bgpd.wire.capabilities import AddPathMode as WireAddPathMode

__all__ = [
    "AddPathMode",
    "BgpSection",
    "Community",
    "Config",
    "ControlSection",
    "DynamicNeighbors",
    "IPAddress",
    "IPNetwork",
    "LargeCommunity",
    "ListenAddress",
    "LogFormat",
    "LogLevel",
    "MetricsSection",
    "PeerConfig",
    "PeerSettings",
    "StaticRoute",
    "peer_location",
]

_T = TypeVar("_T")


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


class AddPathMode(StrEnum):
    """ADD-PATH capability mode as configured (RFC 7911 §4: Send/Receive field)."""

    OFF = "off"
    SEND = "send"
    RECEIVE = "receive"
    BOTH = "both"

    @property
    def wire(self) -> WireAddPathMode | None:
        """The capability's Send/Receive value, or None when ADD-PATH is not advertised."""
        return _WIRE_ADD_PATH[self]


_WIRE_ADD_PATH: dict[AddPathMode, WireAddPathMode | None] = {
    AddPathMode.OFF: None,
    AddPathMode.SEND: WireAddPathMode.SEND,
    AddPathMode.RECEIVE: WireAddPathMode.RECEIVE,
    AddPathMode.BOTH: WireAddPathMode.BOTH,
}


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


def peer_location(index: int, name: str | None, key: str | None = None) -> str:
    """The location string of peer `index` (0-based), optionally of one of its keys."""
    loc = f"peer[{index}]" if not key else f"peer[{index}].{key}"
    return f"{loc} (name {json.dumps(name, ensure_ascii=False)})" if name else loc


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
    families: tuple[Family, ...] = (IPV4_UNICAST, IPV6_UNICAST)
    add_path: AddPathMode = AddPathMode.OFF
    persist_routes: bool = True

    def __post_init__(self) -> None:
        c = _Collector()
        c.add("asn", check_asn(self.asn))
        c.add("router_id", check_router_id(self.router_id))
        for i, addr in enumerate(self.listen):
            c.add(f"listen[{i}]", check_listen_ip(addr))
        dup = _first_duplicate(self.listen)
        if dup is not None:
            c.add("listen", f"address {dup} is listed twice")
        c.add("port", check_port(self.port))
        if self.cluster_id is not None:
            c.add("cluster_id", check_cluster_id(self.cluster_id))
        c.add("hold_time", check_hold_time(self.hold_time))
        if self.keepalive_time is not None:
            c.add("keepalive_time", check_keepalive_time(self.keepalive_time))
            c.add("keepalive_time", _check_keepalive_vs_hold(self.keepalive_time, self.hold_time))
        c.add("connect_retry_time", check_seconds(self.connect_retry_time))
        c.add("error_wait_min", check_seconds(self.error_wait_min))
        c.add("error_wait_max", check_seconds(self.error_wait_max))
        if self.error_wait_min > self.error_wait_max:
            c.add(
                "error_wait_min",
                f"error_wait_min {self.error_wait_min} is greater than "
                f"error_wait_max {self.error_wait_max}",
            )
        c.add("graceful_restart_time", check_restart_time(self.graceful_restart_time))
        c.add("graceful_restart_wait", check_seconds(self.graceful_restart_wait))
        c.add("families", check_families(self.families))
        c.raise_if_any()


def _check_keepalive_vs_hold(keepalive: int, hold: int, hold_origin: str = "") -> str | None:
    # RFC 4271 §4.4: keepalives must come often enough to keep the hold timer from expiring;
    # with a hold time of zero no keepalives are sent at all, so any keepalive is moot.
    if hold > 0 and keepalive >= hold:
        return f"keepalive_time {keepalive} must be less than hold_time {hold}{hold_origin}"
    return None


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

    def __post_init__(self) -> None:
        c = _Collector()
        seen: dict[str, str] = {}
        for key in ("socket", "bird_socket", "bird6_socket"):
            path: str | None = getattr(self, key)
            if path is None:
                continue
            c.add(key, check_socket_path(path))
            if path in seen:
                c.add(key, f"same path as {seen[path]}")
            seen.setdefault(path, key)
        c.raise_if_any()


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsSection:
    """`[metrics]`: the Prometheus endpoint; no `listen` means no endpoint."""

    listen: ListenAddress | None = None
    # /readyz (bgpd/metrics/health.py) ---
    # Seconds after start during which every peer must be Established for /readyz
    # (calico-node's -bird-ready -threshold-time, default 30 s); after it one is enough.
    ready_threshold: int = 30

    def __post_init__(self) -> None:
        c = _Collector()
        c.add("ready_threshold", check_seconds(self.ready_threshold))
        c.raise_if_any()


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
        # ipaddress network objects never carry host bits; the loader parses strictly so that a
        # written prefix with host bits is reported instead of silently masked.
        c = _Collector()
        if self.next_hop is not None:
            if self.next_hop.version != self.prefix.version:
                c.add(
                    "next_hop",
                    f"next_hop {self.next_hop} is IPv{self.next_hop.version} but prefix "
                    f"{self.prefix} is IPv{self.prefix.version}",
                )
            elif self.next_hop.is_unspecified or self.next_hop.is_multicast:
                c.add("next_hop", f"next_hop {self.next_hop} must be a unicast address")
            if self.blackhole:
                c.add("blackhole", "a blackhole route cannot also have a next_hop")
        dup_c = _first_duplicate(self.communities)
        if dup_c is not None:
            c.add("communities", f"community {dup_c} is listed twice")
        dup_l = _first_duplicate(self.large_communities)
        if dup_l is not None:
            c.add("large_communities", f"large community {dup_l} is listed twice")
        if self.med is not None:
            c.add("med", check_uint32(self.med))
        if self.local_pref is not None:
            c.add("local_pref", check_uint32(self.local_pref))
        c.raise_if_any()


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerConfig:
    """`[[peer]]`: one configured neighbour. `None` fields inherit from `[bgp]`."""

    name: str
    address: IPAddress
    asn: int
    port: int = 179
    local_address: IPAddress | None = None
    passive: bool = False
    password: str | None = field(default=None, repr=False)
    # Set (by confd) when the password this peer should have could not be had, e.g. its
    # Kubernetes Secret or key is missing: the session is held down, never run without a key.
    password_unavailable: str | None = None
    ttl_security: int = 0
    multihop: int | None = None
    hold_time: int | None = None
    keepalive_time: int | None = None
    connect_retry_time: int | None = None
    graceful_restart_time: int | None = None
    families: tuple[Family, ...] | None = None
    add_path: AddPathMode | None = None
    rr_client: bool = False
    next_hop_self: bool = False
    # Our next hop for the other IP version's routes on this session (IPv6 routes over an
    # IPv4 session and the reverse): the session's own address cannot serve there.
    next_hop_v4: IPAddress | None = None
    next_hop_v6: IPAddress | None = None
    description: str = ""
    # names of [[filter]] entries applied in this order (Calico's BGPPeer `filters`).
    import_filters: tuple[str, ...] = ()
    export_filters: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        c = _Collector()
        c.add("import_filters", check_filter_names(self.import_filters))
        c.add("export_filters", check_filter_names(self.export_filters))
        c.add("name", check_peer_name(self.name))
        c.add("address", check_peer_address(self.address))
        c.add("asn", check_asn(self.asn))
        c.add("port", check_port(self.port))
        if self.local_address is not None:
            c.add("local_address", check_local_address(self.local_address))
            if self.local_address.version != self.address.version:
                c.add(
                    "local_address",
                    f"local_address {self.local_address} is IPv{self.local_address.version} "
                    f"but address {self.address} is IPv{self.address.version}",
                )
        add_password_problems(c, self.password, self.password_unavailable)
        if self.next_hop_v4 is not None:
            c.add("next_hop_v4", check_next_hop_v4(self.next_hop_v4))
        if self.next_hop_v6 is not None:
            c.add("next_hop_v6", check_next_hop_v6(self.next_hop_v6))
        c.add("ttl_security", check_ttl_security(self.ttl_security))
        if self.multihop is not None:
            c.add("multihop", check_multihop(self.multihop))
            if self.ttl_security:
                # GTSM fixes the outgoing TTL at 255 (RFC 5082 §3), so a multihop TTL would
                # contradict it; ttl_security already carries the hop count.
                c.add("multihop", "multihop and ttl_security are mutually exclusive")
        if self.hold_time is not None:
            c.add("hold_time", check_hold_time(self.hold_time))
        if self.keepalive_time is not None:
            c.add("keepalive_time", check_keepalive_time(self.keepalive_time))
            if self.hold_time is not None:
                c.add(
                    "keepalive_time",
                    _check_keepalive_vs_hold(self.keepalive_time, self.hold_time),
                )
        if self.connect_retry_time is not None:
            c.add("connect_retry_time", check_seconds(self.connect_retry_time))
        if self.graceful_restart_time is not None:
            c.add("graceful_restart_time", check_restart_time(self.graceful_restart_time))
        if self.families is not None:
            c.add("families", check_families(self.families))
        c.add("description", check_description(self.description))
        c.raise_if_any()

    @property
    def down_reason(self) -> str | None:
        """Why the session must stay down whatever happens (never dialled, every connection
        refused), or None: a password that could not be had (RFC 2385 keys are all or nothing;
        running the session without one would drop the protection the operator asked for)."""
        if self.password_unavailable is None:
            return None
        return f"password unavailable: {self.password_unavailable}"


# --- Dynamic neighbours (bgpd/runtime/dynamic.py turns accepted connections into peers). -------

MAX_DYNAMIC_PEERS = 100_000


def check_max_peers(v: int) -> str | None:
    if 1 <= v <= MAX_DYNAMIC_PEERS:
        return None
    return f"max_peers {v} is out of range 1..{MAX_DYNAMIC_PEERS}"


@dataclass(frozen=True, slots=True, kw_only=True)
class DynamicNeighbors:
    """`[[dynamic_neighbors]]`: accept sessions from unconfigured addresses inside `prefix`.

    A connection from such an address creates a passive peer `Dynamic_<address>` that lives as
    long as its connection. `None` fields inherit from `[bgp]` as a peer's do; `asn` None is
    our own AS (iBGP), `rr_client` None means "true when iBGP" (RFC 4456 needs iBGP).
    """

    prefix: IPNetwork
    asn: int | None = None
    rr_client: bool | None = None
    max_peers: int = 100
    hold_time: int | None = None
    families: tuple[Family, ...] | None = None
    add_path: AddPathMode | None = None
    description: str = ""

    def __post_init__(self) -> None:
        c = _Collector()
        if self.asn is not None:
            c.add("asn", check_asn(self.asn))
        c.add("max_peers", check_max_peers(self.max_peers))
        if self.hold_time is not None:
            c.add("hold_time", check_hold_time(self.hold_time))
        if self.families is not None:
            c.add("families", check_families(self.families))
        c.add("description", check_description(self.description))
        c.raise_if_any()


def dynamic_problems(
    *,
    bgp: BgpSection | None,
    node: NodeSection | None,
    ranges: Iterable[tuple[int, DynamicNeighbors]],
) -> list[ConfigProblem]:
    """Checks between `[[dynamic_neighbors]]` ranges and our AS."""
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
        if bgp is None or rng.rr_client is not True or rng.asn is None:
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


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerSettings:
    """Everything one session needs, with inheritance from `[bgp]` resolved."""

    name: str
    address: IPAddress
    port: int
    asn: int
    local_asn: int
    router_id: IPv4Address
    cluster_id: IPv4Address | None
    local_address: IPAddress | None
    passive: bool
    password: str | None = field(repr=False)
    # Why the password is missing: the session stays down (PeerConfig.password_unavailable).
    password_unavailable: str | None
    ttl_security: int
    multihop: int | None
    hold_time: int
    # The configured keepalive, or hold_time // 3 (0 when hold_time is 0: RFC 4271 §4.4).
    keepalive_time: int
    # False when keepalive_time was derived from hold_time; the session may then re-derive it
    # from the negotiated hold time instead (RFC 4271 §4.4 suggests one third of it).
    keepalive_explicit: bool
    connect_retry_time: int
    error_wait_min: int
    error_wait_max: int
    graceful_restart: bool
    graceful_restart_time: int
    families: frozenset[Family]
    add_path: AddPathMode
    rr_client: bool
    next_hop_self: bool
    next_hop_v4: IPAddress | None
    next_hop_v6: IPAddress | None
    description: str
    # the peer's [[filter]] entries, resolved from its name lists, in order
    # (evaluate with bgpd.policy.filter_eval.compile_filters).
    import_filters: tuple[FilterConfig, ...] = ()
    export_filters: tuple[FilterConfig, ...] = ()

    @property
    def is_ebgp(self) -> bool:
        return self.asn != self.local_asn


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
        return "keepalive_time", _check_keepalive_vs_hold(
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
) -> list[ConfigProblem]:
    """Checks that span sections; entries come with their index in the file for locations."""
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
        own_asn, own_section = _local_asn(bgp, node)
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
) -> list[ConfigProblem]:
    """Checks between [node], [[cluster_node]], the derived mesh and [[peer]] entries."""
    problems: list[ConfigProblem] = []

    def add(location: str, message: str) -> None:
        problems.append(ConfigProblem(location=location, message=message))

    listed = list(cluster_nodes)
    if listed and node is None:
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


# [[filter]] references from [[peer]] entries. -----------------------------------


def filter_references(peers: Iterable[tuple[int, PeerConfig]]) -> list[tuple[str, str]]:
    """(location, filter name) for every name in the peers' import_filters/export_filters."""
    refs: list[tuple[str, str]] = []
    for i, peer in peers:
        for key in ("import_filters", "export_filters"):
            names: tuple[str, ...] = getattr(peer, key)
            refs.extend(
                (peer_location(i, peer.name, f"{key}[{j}]"), name) for j, name in enumerate(names)
            )
    return refs


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

    def __post_init__(self) -> None:
        mesh_peers = derive_mesh_peers(
            bgp=self.bgp, node=self.node, cluster_nodes=self.cluster_nodes, mesh=self.mesh
        )
        # Frozen: derived fields are set once, here.
        object.__setattr__(self, "mesh_peers", mesh_peers)
        object.__setattr__(self, "calico_statics", derive_calico_statics(self.calico, self.statics))
        object.__setattr__(self, "_peers_by_name", {p.name: p for p in self.all_peers})
        object.__setattr__(self, "_mesh_names", frozenset(p.name for p in mesh_peers))
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
        problems = config_problems(
            bgp=self.bgp,
            control=self.control,
            statics=enumerate(self.statics),
            peers=enumerate(self.peers),
            node=self.node,
        )
        problems += cluster_problems(
            bgp=self.bgp,
            node=self.node,
            cluster_nodes=enumerate(self.cluster_nodes),
            mesh_peers=mesh_peers,
            peers=enumerate(self.peers),
        )
        problems += dynamic_problems(
            bgp=self.bgp, node=self.node, ranges=enumerate(self.dynamic_neighbors)
        )
        # duplicate [[filter]] names, and peers naming a filter that does not exist.
        problems += filter_problems(
            enumerate(self.filters), filter_references(enumerate(self.peers))
        )
        if problems:
            raise ConfigError(problems)

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
            local_asn=self.local_asn,
            router_id=b.router_id,
            cluster_id=b.cluster_id,
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
            families=frozenset(families),
            add_path=p.add_path if p.add_path is not None else b.add_path,
            rr_client=p.rr_client,
            next_hop_self=p.next_hop_self,
            next_hop_v4=p.next_hop_v4,
            next_hop_v6=p.next_hop_v6,
            description=p.description,
            # names are checked when the Config is built, so every one resolves.
            import_filters=tuple(f for n in p.import_filters for f in self.filters if f.name == n),
            export_filters=tuple(f for n in p.export_filters for f in self.filters if f.name == n),
        )

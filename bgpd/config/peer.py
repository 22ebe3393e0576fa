"""The `[[peer]]` and `[[dynamic_neighbors]]` sections, and the resolved settings of a session.

Role: the typed, validated shape of one configured neighbour (`PeerConfig`), of a range that
admits unconfigured neighbours (`DynamicNeighbors`), and `PeerSettings`, everything one session
needs once `Config.peer_settings` has resolved inheritance from `[bgp]`.

Invariants:
- As every section of `bgpd.config`, each class validates itself in `validate`, called by
  `__post_init__`: an invalid instance cannot be built, by the loader or by hand. Problems carry
  field-relative locations (`hold_time`, `import_filters[1]`); the loader prefixes the peer's
  key path. Rules that span sections (unique names, timers inherited from `[bgp]`) are
  `bgpd.config.schema`'s.
- Peer fields left as `None` inherit from `[bgp]`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import IPv4Address

from bgpd.config.bfd_section import check_bfd_interval, check_bfd_multiplier
from bgpd.config.checks import (
    Collector,
    add_password_problems,
    check_asn,
    check_description,
    check_families,
    check_hold_time,
    check_keepalive_time,
    check_keepalive_vs_hold,
    check_local_address,
    check_multihop,
    check_next_hop_v4,
    check_next_hop_v6,
    check_peer_address,
    check_peer_name,
    check_port,
    check_reachable_by,
    check_restart_time,
    check_seconds,
    check_ttl_security,
    first_duplicate,
    raise_problems,
)
from bgpd.config.filter_section import FilterConfig, check_filter_name
from bgpd.config.restart_mode import RestartMode, check_llgr_stale_time
from bgpd.errors import ConfigProblem
from bgpd.net import Family, IPAddress, IPNetwork
from bgpd.wire.capabilities import AddPathMode as WireAddPathMode

__all__ = [
    "MAX_ALLOW_LOCAL_AS",
    "MAX_DYNAMIC_PEERS",
    "AddPathMode",
    "DynamicNeighbors",
    "NextHopMode",
    "PeerConfig",
    "PeerSettings",
    "check_max_peers",
    "peer_location",
]


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


class NextHopMode(StrEnum):
    """The next hop we announce to a peer (BIRD's `next hop self` / `next hop keep`, Calico's
    BGPPeer `nextHopMode`)."""

    AUTO = "auto"  # RFC 4271 §5.1.3: ours toward eBGP, a BGP next hop kept toward iBGP
    SELF = "self"  # always ours, toward iBGP and reflected routes too
    KEEP = "keep"  # a BGP next hop kept toward eBGP too


# Calico's numAllowedLocalASNumbers is an int32; BIRD takes any number.
MAX_ALLOW_LOCAL_AS = 2**31 - 1


def check_allow_local_as(v: int) -> str | None:
    if 0 <= v <= MAX_ALLOW_LOCAL_AS:
        return None
    return f"allow_local_as {v} is out of range 0..{MAX_ALLOW_LOCAL_AS}"


def peer_location(index: int, name: str | None, key: str | None = None) -> str:
    """The location string of peer `index` (0-based), optionally of one of its keys."""
    loc = f"peer[{index}]" if not key else f"peer[{index}].{key}"
    return f"{loc} (name {json.dumps(name, ensure_ascii=False)})" if name else loc


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
    # RFC 9494 long-lived graceful restart (bgpd.config.restart_mode); None: [bgp]'s.
    restart_mode: RestartMode | None = None
    llgr_stale_time: int | None = None
    families: tuple[Family, ...] | None = None
    add_path: AddPathMode | None = None
    rr_client: bool = False
    # The older spelling of next_hop_mode = "self", still accepted (not together with it).
    next_hop_self: bool = False
    # Our next hop for the other IP version's routes on this session (IPv6 routes over an
    # IPv4 session and the reverse): the session's own address cannot serve there.
    next_hop_v4: IPAddress | None = None
    next_hop_v6: IPAddress | None = None
    description: str = ""
    # names of [[filter]] entries applied in this order (Calico's BGPPeer `filters`).
    import_filters: tuple[str, ...] = ()
    export_filters: tuple[str, ...] = ()
    # Our AS on this session alone (BIRD's `local as`, Calico's `localASNumber`); None: the
    # node's. The OPEN carries it, iBGP/eBGP and the loop check are decided against it.
    local_asn: int | None = None
    # None: "auto", or "self" when the older next_hop_self is set.
    next_hop_mode: NextHopMode | None = None
    # Received paths with our (local) AS up to this many times are accepted (BIRD's
    # `allow local as N`, Calico's `numAllowedLocalASNumbers`).
    allow_local_as: int = 0
    # A gateway the peer is reached through (Calico's BGPPeer `reachableBy`): bgpd installs
    # the kernel route `<address>/32 via <reachable_by>` (/128 for IPv6) while the peer is
    # configured. Not a session setting: changing it moves the route, never the session.
    reachable_by: IPAddress | None = None
    # BFD (RFC 5880) to this neighbour: a failure it detects ends the session at once and
    # holds it down until BFD is up again. The timers default to `[bfd]`'s.
    bfd: bool = False
    bfd_min_rx_ms: int | None = None
    bfd_min_tx_ms: int | None = None
    bfd_multiplier: int | None = None
    # None: multihop BFD (RFC 5883) when `multihop` is above 1, else single hop (RFC 5881)
    bfd_multihop: bool | None = None

    def __post_init__(self) -> None:
        raise_problems(self)

    @property
    def effective_next_hop_mode(self) -> NextHopMode:
        if self.next_hop_mode is not None:
            return self.next_hop_mode
        return NextHopMode.SELF if self.next_hop_self else NextHopMode.AUTO

    def validate(self, c: Collector) -> None:
        """Every problem of this peer (see `bgpd.config.checks.Collector`)."""
        c.check("name", check_peer_name, self.name)
        c.check("address", check_peer_address, self.address)
        c.check("asn", check_asn, self.asn)
        c.check("port", check_port, self.port)
        c.check("local_address", check_local_address, self.local_address)
        local = self.local_address
        if (
            local is not None
            and c.ok("local_address", "address")
            and local.version != self.address.version
        ):
            c.add(
                "local_address",
                f"local_address {local} is IPv{local.version} "
                f"but address {self.address} is IPv{self.address.version}",
            )
        add_password_problems(c, self.password, self.password_unavailable)
        c.check("next_hop_v4", check_next_hop_v4, self.next_hop_v4)
        c.check("next_hop_v6", check_next_hop_v6, self.next_hop_v6)
        c.check("ttl_security", check_ttl_security, self.ttl_security)
        c.check("multihop", check_multihop, self.multihop)
        if self.multihop is not None and self.ttl_security and c.ok("multihop", "ttl_security"):
            # GTSM fixes the outgoing TTL at 255 (RFC 5082 §3), so a multihop TTL would
            # contradict it; ttl_security already carries the hop count.
            c.add("multihop", "multihop and ttl_security are mutually exclusive")
        c.check("hold_time", check_hold_time, self.hold_time)
        c.check("keepalive_time", check_keepalive_time, self.keepalive_time)
        if (
            self.keepalive_time is not None
            and self.hold_time is not None
            and c.ok("keepalive_time", "hold_time")
        ):
            c.add("keepalive_time", check_keepalive_vs_hold(self.keepalive_time, self.hold_time))
        c.check("connect_retry_time", check_seconds, self.connect_retry_time)
        c.check("graceful_restart_time", check_restart_time, self.graceful_restart_time)
        c.check("llgr_stale_time", check_llgr_stale_time, self.llgr_stale_time)
        c.check("families", check_families, self.families)
        c.check("description", check_description, self.description)
        c.check("local_asn", check_asn, self.local_asn)
        c.check("allow_local_as", check_allow_local_as, self.allow_local_as)
        if self.next_hop_self and self.next_hop_mode is not None:
            c.add(
                "next_hop_self",
                'next_hop_self is the older spelling of next_hop_mode = "self": set only '
                "next_hop_mode",
            )
        add_bfd_problems(c, self)
        if self.reachable_by is not None and c.ok("address"):
            c.add("reachable_by", check_reachable_by(self.reachable_by, self.address))
        for key, names in (
            ("import_filters", self.import_filters),
            ("export_filters", self.export_filters),
        ):
            if not names:
                continue
            c.check_each(key, check_filter_name, names)
            dup = first_duplicate(names) if c.ok(key) else None
            if dup is not None:
                c.add(key, f"filter {json.dumps(dup)} is listed twice")

    @property
    def down_reason(self) -> str | None:
        """Why the session must stay down whatever happens (never dialled, every connection
        refused), or None: a password that could not be had (RFC 2385 keys are all or nothing;
        running the session without one would drop the protection the operator asked for)."""
        if self.password_unavailable is None:
            return None
        return f"password unavailable: {self.password_unavailable}"


def add_bfd_problems(c: Collector, peer: PeerConfig) -> None:
    """The per-peer BFD overrides: valid, and only where BFD is asked for (an override
    without `bfd = true` would silently do nothing)."""
    for key, check in (
        ("bfd_min_rx_ms", check_bfd_interval),
        ("bfd_min_tx_ms", check_bfd_interval),
        ("bfd_multiplier", check_bfd_multiplier),
    ):
        value = getattr(peer, key)
        if value is None:
            continue
        c.check(key, check, value)
        if not peer.bfd and c.ok(key):
            c.add(key, f"{key} is set but bfd is not: set bfd = true, or remove {key}")
    if peer.bfd_multihop is not None and not peer.bfd:
        c.add("bfd_multihop", "bfd_multihop is set but bfd is not: set bfd = true, or remove it")


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
        raise_problems(self)

    def validate(self, c: Collector) -> None:
        """Every problem of this range (see `bgpd.config.checks.Collector`)."""
        c.check("asn", check_asn, self.asn)
        c.check("max_peers", check_max_peers, self.max_peers)
        c.check("hold_time", check_hold_time, self.hold_time)
        c.check("families", check_families, self.families)
        c.check("description", check_description, self.description)


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
    restart_mode: RestartMode
    llgr_stale_time: int
    families: frozenset[Family]
    add_path: AddPathMode
    rr_client: bool
    next_hop_mode: NextHopMode
    next_hop_v4: IPAddress | None
    next_hop_v6: IPAddress | None
    description: str
    # the peer's [[filter]] entries, resolved from its name lists, in order
    # (evaluate with bgpd.policy.filter_eval.compile_filters).
    import_filters: tuple[FilterConfig, ...] = ()
    export_filters: tuple[FilterConfig, ...] = ()
    # Received paths with `local_asn` up to this many times are accepted (allowas-in).
    allow_local_as: int = 0
    # the gateway of the kernel route to the peer (kernel sync's, not the session's)
    reachable_by: IPAddress | None = None

    @property
    def is_ebgp(self) -> bool:
        """Decided against our AS on this session (`local_asn`, a peer's own when set)."""
        return self.asn != self.local_asn

    @property
    def next_hop_self(self) -> bool:
        return self.next_hop_mode is NextHopMode.SELF


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


def peer_route_problems(
    peers: Iterable[tuple[int, PeerConfig]], *, kernel_enabled: bool
) -> list[ConfigProblem]:
    """A peer's `reachable_by` is a kernel route bgpd installs: it needs kernel sync."""
    if kernel_enabled:
        return []
    return [
        ConfigProblem(
            location=peer_location(i, peer.name, "reachable_by"),
            message="reachable_by needs [kernel] enabled = true (bgpd installs the route to "
            "the peer in the kernel)",
        )
        for i, peer in peers
        if peer.reachable_by is not None
    ]

"""The speaker's values and per-peer bookkeeping: what it outputs (dial, send, close, forwarding
changes), what the kernel edge feeds it, and the record it keeps beside each session.

Invariants: values are frozen; `PeerState` is plain mutable state owned by one `Speaker`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from bgpd.config import Config, NodeSection, PeerConfig, PeerSettings, StaticRoute
from bgpd.config.filter_section import FilterConfig
from bgpd.config.restart_mode import RestartMode
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, Afi, Family, Nlri
from bgpd.policy.import_filter import ImportFilter
from bgpd.policy.reflection import LoopCheck
from bgpd.rib import Candidate, CandidateCache, PathInfo, Source, SourceKind
from bgpd.session import Session, SessionSettings, add_path_modes
from bgpd.wire.attributes import PathAttributes
from bgpd.wire.constants import Origin
from bgpd.wire.framing import Chunk
from bgpd.wire.negotiated import Negotiated

STATIC_SOURCE = Source(name="static", kind=SourceKind.STATIC)
KERNEL_SOURCE = Source(name="kernel", kind=SourceKind.KERNEL)
CONNECTED_SOURCE = Source(name="connected", kind=SourceKind.CONNECTED)
LOCAL_ATTRIBUTES = PathAttributes(origin=Origin.IGP)
KERNEL_CANDIDATE = Candidate(
    source=KERNEL_SOURCE, info=PathInfo(attributes=LOCAL_ATTRIBUTES, next_hop=b"")
)
CONNECTED_CANDIDATE = Candidate(
    source=CONNECTED_SOURCE, info=PathInfo(attributes=LOCAL_ATTRIBUTES, next_hop=b"")
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Dial:
    """Open a TCP connection to the peer (its address, port and options are in its config)."""

    peer: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Send:
    """Bytes for one connection, as the chunks they were queued as (shared by many peers'
    Sends when a group's bytes are; the runtime writes them without joining them)."""

    peer: str
    conn_id: int
    chunks: tuple[Chunk, ...]

    @property
    def data(self) -> bytes:
        """The chunks joined (a copy: for readers that want one bytes object)."""
        return b"".join(self.chunks)


@dataclass(frozen=True, slots=True, kw_only=True)
class Close:
    peer: str
    conn_id: int


Output = Dial | Send | Close


@dataclass(frozen=True, slots=True, kw_only=True)
class FibUpdate:
    """Forwarding state for prefixes: the BGP next hops to install, or () to remove ours, and
    the best path's LOCAL_PREF (its route priority: the kernel metric, `bgpd.policy.
    route_priority.kernel_metric`)."""

    family: Family
    nlris: tuple[Nlri, ...]
    next_hops: tuple[bytes, ...]
    local_pref: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class KernelRouteView:
    """A route the kernel edge learned (an "alien" route, e.g. Felix's, or an interface
    subnet when `connected`), as the core sees it."""

    family: Family
    nlri: Nlri
    ifname: str | None
    connected: bool = False
    metric: int = 0  # the kernel route's metric: its route priority (Felix writes 1024 / 512)


class PeerState:
    """What the speaker keeps about one configured peer beside its session."""

    __slots__ = (
        "candidates",
        "config",
        "connections",
        "import_filter",
        "import_filters",
        "negotiated",
        "no_next_hop",
        "ports",
        "rejected",
        "session",
        "source",
    )

    def __init__(self, config: PeerConfig, session: Session) -> None:
        self.config = config
        self.session = session
        # What the peer announced lives in the Loc-RIB (per source); only what the loop
        # checks or import rules rejected is kept here, so "received" = accepted + rejected
        # without a second per-prefix table.
        self.rejected: set[tuple[Family, Nlri]] = set()
        # conn_id -> (our local address on that connection, an address of the other IP
        # version on its interface or ""): the next hops we announce.
        self.connections: dict[int, tuple[str, str]] = {}
        # conn_id -> our local port on it, for the views (0 when the runtime gave none)
        self.ports: dict[int, int] = {}
        # Negotiated families of the session up now that have no next hop of ours.
        self.no_next_hop: frozenset[Family] = frozenset()
        # Set while Established; `negotiated` stays after a drop for the GR helper's window.
        self.source: Source | None = None
        self.candidates: CandidateCache | None = None
        # The session's [[filter]] import rules; None when the peer has none.
        self.import_filter: ImportFilter | None = None
        self.import_filters: tuple[FilterConfig, ...] = ()
        self.negotiated: Negotiated | None = None


def session_settings(config: Config, peer: PeerConfig) -> SessionSettings:
    s = config.peer_settings(peer)
    return SessionSettings(
        local_asn=s.local_asn,
        router_id=int(s.router_id),
        peer_asn=s.asn,
        peer_address=str(s.address),
        passive=s.passive,
        hold_time=s.hold_time,
        keepalive_time=s.keepalive_time if s.keepalive_explicit else None,
        connect_retry_time=s.connect_retry_time,
        error_wait_min=s.error_wait_min,
        error_wait_max=s.error_wait_max,
        families=s.families,
        add_path=add_path_modes({f: s.add_path.wire for f in s.families if s.add_path.wire}),
        graceful_restart=s.graceful_restart,
        graceful_restart_time=s.graceful_restart_time,
        long_lived_stale_time=(s.llgr_stale_time if s.restart_mode is RestartMode.LLGR else None),
    )


def loop_check(settings: PeerSettings) -> LoopCheck:
    """The import loop check of one session (RFC 4271 §9.1.2, RFC 4456 §8): our AS on it, as
    often as `allow_local_as` allows, our router id and cluster id."""
    cluster = settings.cluster_id
    return LoopCheck(
        settings.local_asn,
        int(settings.router_id),
        None if cluster is None else int(cluster),
        settings.allow_local_as,
    )


def static_candidate(static: StaticRoute, local_pref: int | None = None) -> Candidate:
    """The candidate of a static; `local_pref` applies when the static sets none."""
    attributes = PathAttributes(
        origin=Origin.IGP,
        med=static.med,
        local_pref=static.local_pref if static.local_pref is not None else local_pref,
        communities=tuple(c.value for c in static.communities),
        large_communities=tuple(
            (c.global_admin, c.local1, c.local2) for c in static.large_communities
        ),
    )
    next_hop = static.next_hop.packed if static.next_hop is not None else b""
    return Candidate(source=STATIC_SOURCE, info=PathInfo(attributes=attributes, next_hop=next_hop))


def family_of_network(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> Family:
    return IPV4_UNICAST if network.version == 4 else IPV6_UNICAST


def fib_next_hops(multipath: tuple[Candidate, ...]) -> tuple[bytes, ...]:
    """The next hops to install: BGP-learned paths only (local routes are not ours to install),
    deduplicated, the global part of an IPv6 next hop (RFC 2545 §3)."""
    if not multipath or multipath[0].source.kind.local:
        return ()
    hops: list[bytes] = []
    for candidate in multipath:
        if candidate.source.kind.local:
            continue
        hop = candidate.info.next_hop[:16]
        if hop and hop not in hops:
            hops.append(hop)
    return tuple(hops)


def fib_local_pref(multipath: tuple[Candidate, ...]) -> int | None:
    """The LOCAL_PREF of the best path when it is BGP-learned (what its kernel metric reads)."""
    if not multipath or multipath[0].source.kind.local:
        return None
    return multipath[0].info.attributes.local_pref


def own_next_hops(
    settings: PeerSettings, node: NodeSection | None, local_address: str, interface_address: str
) -> tuple[bytes, bytes]:
    """(IPv4, IPv6) next hop we announce to a peer, b"" where there is none.

    Per IP version, the first that exists: the peer's `next_hop_v4`/`next_hop_v6`, the
    session's local address, `[node]`'s address, the address of that version the runtime
    found on the interface holding the local address (IPv6 routes over an IPv4 session)."""
    v4 = settings.next_hop_v4.packed if settings.next_hop_v4 is not None else b""
    v6 = settings.next_hop_v6.packed if settings.next_hop_v6 is not None else b""
    candidates = [local_address]
    if node is not None:
        candidates += [str(a) for a in (node.ipv4_address, node.ipv6_address) if a is not None]
    candidates.append(interface_address)
    for text in candidates:
        if text:
            packed = ipaddress.ip_address(text).packed
            if len(packed) == 4:
                v4 = v4 or packed
            else:
                v6 = v6 or packed
    return v4, v6


def families_without_next_hop(
    families: Iterable[Family], next_hop_v4: bytes, next_hop_v6: bytes
) -> frozenset[Family]:
    """The families among `families` for which we have no next hop of our own."""
    return frozenset(f for f in families if not (next_hop_v6 if f.afi == Afi.IPV6 else next_hop_v4))

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
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network, IPv6Address
from typing import TypeVar

from bgpd.errors import ConfigError, ConfigProblem
from bgpd.net import (
    AS_TRANS,
    FAMILY_NAMES,
    IPV4_UNICAST,
    IPV6_UNICAST,
    MAX_ASN,
    Family,
    IPAddress,
    IPNetwork,
)
from bgpd.wire.capabilities import AddPathMode as WireAddPathMode

__all__ = [
    "AddPathMode",
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
    "PeerConfig",
    "PeerSettings",
    "StaticRoute",
    "peer_location",
]

_T = TypeVar("_T")

MAX_PORT = 65535
MAX_UINT32 = 4_294_967_295
MAX_UINT16 = 65535
# RFC 4724 §3: Restart Time is a 12-bit field.
MAX_RESTART_TIME = 4095
# Linux TCP_MD5SIG_MAXKEYLEN (RFC 2385 keys); Calico documents the same 80-character limit.
MAX_PASSWORD_BYTES = 80
# BIRD limits protocol names (symbols) to 64 characters; calicoctl parses our names like BIRD's.
MAX_PEER_NAME = 64
# sockaddr_un.sun_path is 108 bytes on Linux, including the terminating NUL.
MAX_SOCKET_PATH_BYTES = 107
PEER_NAME_RE = re.compile(r"[A-Za-z0-9_.:-]+")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME_RE = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")
_MULTICAST_V4 = IPv4Network("224.0.0.0/4")


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


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Community:
    """An RFC 1997 community `high:low`, each half 0..65535."""

    high: int
    low: int

    def __post_init__(self) -> None:
        if not (0 <= self.high <= MAX_UINT16 and 0 <= self.low <= MAX_UINT16):
            raise ConfigError(
                [ConfigProblem(location="community", message=f"{self} is out of range")]
            )

    def __str__(self) -> str:
        return f"{self.high}:{self.low}"

    @property
    def value(self) -> int:
        """The 32-bit wire value (RFC 1997)."""
        return (self.high << 16) | self.low


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class LargeCommunity:
    """An RFC 8092 large community `global:local1:local2`, each part 0..4294967295."""

    global_admin: int
    local1: int
    local2: int

    def __post_init__(self) -> None:
        if not all(0 <= v <= MAX_UINT32 for v in (self.global_admin, self.local1, self.local2)):
            raise ConfigError(
                [ConfigProblem(location="large_community", message=f"{self} is out of range")]
            )

    def __str__(self) -> str:
        return f"{self.global_admin}:{self.local1}:{self.local2}"


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


# --- Field checks shared by the loader and __post_init__: each returns a message or None. ------


def check_asn(v: int) -> str | None:
    if not 1 <= v <= MAX_ASN:
        return f"AS number {v} is out of range 1..{MAX_ASN}"
    if v == AS_TRANS:
        return f"AS number {AS_TRANS} is AS_TRANS (RFC 6793) and cannot be used as a real AS"
    return None


def check_port(v: int) -> str | None:
    return None if 1 <= v <= MAX_PORT else f"port {v} is out of range 1..{MAX_PORT}"


def check_router_id(v: IPAddress) -> str | None:
    if not isinstance(v, IPv4Address):
        return f"router_id must be an IPv4 address (a BGP identifier is 4 octets), got {v}"
    if int(v) == 0:
        # RFC 6286 §2.1: the BGP Identifier is a non-zero 4-octet integer.
        return "router_id must not be 0.0.0.0 (RFC 6286 §2.1)"
    if v in _MULTICAST_V4:
        return f"router_id {v} is multicast; peers reject it as a Bad BGP Identifier"
    return None


def check_cluster_id(v: IPAddress) -> str | None:
    if not isinstance(v, IPv4Address):
        # RFC 4456 §8: CLUSTER_ID is 4 octets; Calico requires the IPv4 notation.
        return f"cluster_id must be an IPv4-formatted 4-octet value, got {v}"
    return None


def check_listen_ip(v: IPAddress) -> str | None:
    return f"cannot listen on multicast address {v}" if v.is_multicast else None


def check_peer_address(v: IPAddress) -> str | None:
    if v.is_unspecified:
        return f"peer address {v} is unspecified"
    if v.is_multicast:
        return f"peer address {v} is multicast"
    return None


def check_local_address(v: IPAddress) -> str | None:
    if v.is_unspecified or v.is_multicast:
        return f"local_address {v} must be a unicast address of this host"
    return None


def check_hold_time(v: int) -> str | None:
    # RFC 4271 §4.2: Hold Time is zero or at least three seconds (2-octet field).
    if v == 0 or 3 <= v <= MAX_UINT16:
        return None
    return f"hold_time {v} must be 0 (no keepalives) or 3..{MAX_UINT16} seconds (RFC 4271 §4.2)"


def check_keepalive_time(v: int) -> str | None:
    return None if 1 <= v <= MAX_UINT16 else f"keepalive_time {v} is out of range 1..{MAX_UINT16}"


def check_seconds(v: int) -> str | None:
    return None if 1 <= v <= MAX_UINT16 else f"{v} is out of range 1..{MAX_UINT16} seconds"


def check_restart_time(v: int) -> str | None:
    if 0 <= v <= MAX_RESTART_TIME:
        return None
    return f"graceful_restart_time {v} is out of range 0..{MAX_RESTART_TIME} (RFC 4724 §3)"


def check_ttl_security(v: int) -> str | None:
    # RFC 5682 (GTSM): accept only packets with TTL >= 255 - (hops - 1); 255 hops means no check.
    if v == 0 or 1 <= v <= 254:
        return None
    return f"ttl_security {v} must be 0 (off) or a hop count 1..254"


def check_multihop(v: int) -> str | None:
    return None if 1 <= v <= 255 else f"multihop {v} is out of range 1..255 (an IP TTL)"


def check_password(v: str) -> str | None:
    n = len(v.encode())
    if n == 0:
        return "password must not be empty (omit the key for no password)"
    if n > MAX_PASSWORD_BYTES:
        return f"password is {n} bytes; TCP-MD5 keys are at most {MAX_PASSWORD_BYTES} (RFC 2385)"
    return None


def check_peer_name(v: str) -> str | None:
    if not PEER_NAME_RE.fullmatch(v):
        return f"name {json.dumps(v)} may only contain letters, digits and _ . : -"
    if len(v) > MAX_PEER_NAME:
        return f"name is {len(v)} characters; at most {MAX_PEER_NAME}"
    return None


def check_socket_path(v: str) -> str | None:
    if not v:
        return "socket path must not be empty"
    if "\0" in v:
        return "socket path must not contain NUL"
    if len(v.encode()) > MAX_SOCKET_PATH_BYTES:
        return f"socket path is longer than {MAX_SOCKET_PATH_BYTES} bytes (sun_path limit)"
    return None


def check_listen_host(v: str) -> str | None:
    if not v:
        return "listen host must not be empty (use 0.0.0.0 or :: for every address)"
    try:
        IPv4Address(v)
    except ValueError:
        pass
    else:
        return None
    try:
        IPv6Address(v)
    except ValueError:
        pass
    else:
        return None
    if HOSTNAME_RE.fullmatch(v) and not v.replace(".", "").isdigit():
        return None
    return f"listen host {json.dumps(v)} is neither an IP address nor a host name"


def check_uint32(v: int) -> str | None:
    return None if 0 <= v <= MAX_UINT32 else f"{v} is out of range 0..{MAX_UINT32}"


def check_description(v: str) -> str | None:
    return "description must be one line" if ("\n" in v or "\r" in v) else None


def check_families(v: Sequence[Family]) -> str | None:
    if not v:
        return "families must name at least one address family"
    dup = _first_duplicate(v)
    if dup is not None:
        return f"family {json.dumps(str(dup))} is listed twice"
    unknown = [f for f in v if f not in FAMILY_NAMES]
    return f"unsupported family {unknown[0]}" if unknown else None


def _first_duplicate(items: Iterable[_T]) -> _T | None:
    seen: set[_T] = set()
    for item in items:
        if item in seen:
            return item
        seen.add(item)
    return None


def peer_location(index: int, name: str | None, key: str | None = None) -> str:
    """The location string of peer `index` (0-based), optionally of one of its keys."""
    loc = f"peer[{index}]" if not key else f"peer[{index}].{key}"
    return f"{loc} (name {json.dumps(name, ensure_ascii=False)})" if name else loc


class _Collector:
    """Accumulates (key, message) pairs, then raises them as one ConfigError."""

    __slots__ = ("problems",)

    def __init__(self) -> None:
        self.problems: list[ConfigProblem] = []

    def add(self, key: str, message: str | None) -> None:
        if message is not None:
            self.problems.append(ConfigProblem(location=key, message=message))

    def raise_if_any(self) -> None:
        if self.problems:
            raise ConfigError(self.problems)


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
        c.add("families", check_families(self.families))
        c.raise_if_any()


def _check_keepalive_vs_hold(keepalive: int, hold: int, hold_origin: str = "") -> str | None:
    # RFC 4271 §4.4: keepalives must come often enough to keep the hold timer from expiring;
    # with a hold time of zero no keepalives are sent at all, so any keepalive is moot.
    if hold > 0 and keepalive >= hold:
        return f"keepalive_time {keepalive} must be less than hold_time {hold}{hold_origin}"
    return None


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
    description: str = ""

    def __post_init__(self) -> None:
        c = _Collector()
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
        if self.password is not None:
            c.add("password", check_password(self.password))
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
    description: str

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
        if peer.rr_client and peer.asn != bgp.asn:
            # RFC 4456 §1: route reflection happens inside one AS.
            add(
                peer_location(i, peer.name, "rr_client"),
                f"rr_client needs an iBGP peer, but asn {peer.asn} differs from [bgp] "
                f"asn {bgp.asn}",
            )
    return problems


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """The whole configuration. `source_path` is informational and not compared."""

    bgp: BgpSection
    control: ControlSection = ControlSection()
    metrics: MetricsSection = MetricsSection()
    statics: tuple[StaticRoute, ...] = ()
    peers: tuple[PeerConfig, ...] = ()
    source_path: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        problems = config_problems(
            bgp=self.bgp,
            control=self.control,
            statics=enumerate(self.statics),
            peers=enumerate(self.peers),
        )
        if problems:
            raise ConfigError(problems)

    def peer(self, name: str) -> PeerConfig:
        """The peer called `name`; KeyError when there is none."""
        for p in self.peers:
            if p.name == name:
                return p
        raise KeyError(name)

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
            local_asn=b.asn,
            router_id=b.router_id,
            cluster_id=b.cluster_id,
            local_address=p.local_address,
            passive=p.passive,
            password=p.password,
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
            description=p.description,
        )

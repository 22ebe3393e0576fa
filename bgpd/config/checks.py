"""Value checks, the problem collector and small values shared by every configuration section.

Role: the field checks each section's `validate` applies (called by its `__post_init__`, so an
invalid instance cannot be built, by the loader or by hand), the `Collector` they report to,
`partial_problems` for tables the loader could only partly read, and the community values.
Split out of `bgpd.config.schema` so that the section modules (`schema`, `peer`, `calico`,
`filters`) share them without importing each other.

Invariants:
- A check returns None for a valid value or one human-readable message; checks are pure and
  never raise. The loader never calls them: it converts types, the sections validate.
- One bad value gives one problem: a rule between fields runs only once the fields it reads
  passed their own checks (`Collector.ok`).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address
from typing import Any, ClassVar, Protocol, TypeVar, overload

from bgpd.errors import ConfigError, ConfigProblem
from bgpd.net import AS_TRANS, FAMILY_NAMES, MAX_ASN, Family, IPAddress

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


# --- Field checks of the sections' validate methods: each returns a message or None. ---------


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


def check_reachable_by(v: IPAddress, peer: IPAddress) -> str | None:
    """The gateway of the kernel route to `peer` (Calico's BGPPeer `reachableBy`)."""
    if v.version != peer.version:
        return f"reachable_by {v} is IPv{v.version} but address {peer} is IPv{peer.version}"
    if v == peer:
        return f"reachable_by {v} is the peer itself: a route to it cannot go through it"
    if v.is_unspecified or v.is_multicast or v.is_loopback:
        return f"reachable_by {v} must be a unicast gateway address"
    if v.is_link_local:
        # The kernel needs the interface of a link-local gateway; nothing here names one.
        return f"reachable_by {v} is link-local; give a gateway with a global address"
    return None


def check_next_hop_v4(v: IPAddress) -> str | None:
    if v.version != 4:
        return f"next_hop_v4 {v} must be an IPv4 address"
    if v.is_unspecified or v.is_multicast:
        return f"next_hop_v4 {v} must be a unicast address"
    return None


def check_next_hop_v6(v: IPAddress) -> str | None:
    if v.version != 6:
        return f"next_hop_v6 {v} must be an IPv6 address"
    if v.is_unspecified or v.is_multicast:
        return f"next_hop_v6 {v} must be a unicast address"
    if v.is_link_local:
        # RFC 2545 §3: the global address is the one every peer must be sent.
        return f"next_hop_v6 {v} is link-local; give a global address"
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


def check_password_unavailable(v: str) -> str | None:
    """The reason a password could not be had (confd writes it): one line, never empty."""
    if not v.strip():
        return "password_unavailable must say why (omit the key when the password is there)"
    return "password_unavailable must be one line" if ("\n" in v or "\r" in v) else None


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


def check_state_file_path(v: str) -> str | None:
    if "\0" in v:
        return "path must not contain NUL"
    if not v.startswith("/") or v.endswith("/"):
        return f"{v!r} is not an absolute file path"
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


def check_keepalive_vs_hold(keepalive: int, hold: int, hold_origin: str = "") -> str | None:
    # RFC 4271 §4.4: keepalives must come often enough to keep the hold timer from expiring;
    # with a hold time of zero no keepalives are sent at all, so any keepalive is moot.
    if hold > 0 and keepalive >= hold:
        return f"keepalive_time {keepalive} must be less than hold_time {hold}{hold_origin}"
    return None


def check_uint32(v: int) -> str | None:
    return None if 0 <= v <= MAX_UINT32 else f"{v} is out of range 0..{MAX_UINT32}"


def check_description(v: str) -> str | None:
    return "description must be one line" if ("\n" in v or "\r" in v) else None


def check_families(v: Sequence[Family]) -> str | None:
    if not v:
        return "families must name at least one address family"
    dup = first_duplicate(v)
    if dup is not None:
        return f"family {json.dumps(str(dup))} is listed twice"
    unknown = [f for f in v if f not in FAMILY_NAMES]
    return f"unsupported family {unknown[0]}" if unknown else None


def first_duplicate(items: Iterable[_T]) -> _T | None:
    seen: set[_T] = set()
    for item in items:
        if item in seen:
            return item
        seen.add(item)
    return None


class Collector:
    """Accumulates the (key, message) problems of one instance, then raises them as one
    ConfigError.

    `unread` names fields whose TOML value could not be read (the loader reported why; see
    `partial_problems`): their checks are skipped, and so is every rule between fields that
    reads one of them. `partly_read` names list fields of which some elements could not be
    read (None in the list): the others get their checks, the list as a whole none.
    """

    __slots__ = ("_not_whole", "_unread", "problems")

    def __init__(self, unread: Collection[str] = (), partly_read: Collection[str] = ()) -> None:
        self.problems: list[ConfigProblem] = []
        # Both are empty for every instance actually built: tested for emptiness first.
        self._unread = frozenset(unread) if unread else _NONE
        self._not_whole = self._unread | frozenset(partly_read) if partly_read else self._unread

    def add(self, key: str, message: str | None) -> None:
        if message is not None:
            self.problems.append(ConfigProblem(location=key, message=message))

    # (mypy solves a type variable for an IPv4Address | IPv6Address value as their common base
    # class, which the address checks do not take; the first overloads spell the union out.)
    @overload
    def check(
        self, key: str, check: Callable[[IPAddress], str | None], value: IPAddress | None
    ) -> None: ...
    @overload
    def check(self, key: str, check: Callable[[_T], str | None], value: _T | None) -> None: ...
    def check(self, key: str, check: Callable[[Any], str | None], value: object) -> None:
        """One field's own check; an unset (None) or unread field has nothing to check."""
        if value is not None and not (self._not_whole and key in self._not_whole):
            message = check(value)
            if message is not None:
                self.problems.append(ConfigProblem(location=key, message=message))

    @overload
    def check_each(
        self,
        key: str,
        check: Callable[[IPAddress], str | None],
        values: Iterable[IPAddress | None] | None,
    ) -> None: ...
    @overload
    def check_each(
        self, key: str, check: Callable[[_T], str | None], values: Iterable[_T | None] | None
    ) -> None: ...
    def check_each(
        self, key: str, check: Callable[[Any], str | None], values: Iterable[object] | None
    ) -> None:
        """`check` on every element of a list field, each problem at `key[i]`."""
        if values is not None and not (self._unread and key in self._unread):
            for i, value in enumerate(values):
                if value is not None:
                    self.add(f"{key}[{i}]", check(value))

    def ok(self, *keys: str) -> bool:
        """True when each of `keys` was read and has no problem so far.

        Rules between fields (keepalive below hold, a list without repeats) run only then, after
        the fields' own checks: a rule over a value already found wrong would report that one
        value a second time.
        """
        if self._not_whole and not self._not_whole.isdisjoint(keys):
            return False
        return not self.problems or not any(
            _under(p.location, key) for p in self.problems for key in keys
        )

    def raise_if_any(self) -> None:
        if self.problems:
            raise ConfigError(self.problems)


_NONE: frozenset[str] = frozenset()


def _under(location: str, key: str) -> bool:
    """True when `location` is `key` itself or inside it (`key[2]`, `key.name`)."""
    return location == key or location.startswith((f"{key}[", f"{key}."))


class Validated(Protocol):
    """A section dataclass whose `validate` adds every problem of the instance to a Collector,
    at field-relative locations; its `__post_init__` is `raise_problems(self)`."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    def validate(self, c: Collector) -> None: ...


def raise_problems(value: Validated) -> None:
    """`value.validate`, raising what it finds as one ConfigError (for `__post_init__`)."""
    c = Collector()
    value.validate(c)
    c.raise_if_any()


def partial_problems(
    cls: type[Validated],
    values: Mapping[str, object],
    unread: Collection[str],
    partly_read: Collection[str] = (),
) -> list[ConfigProblem]:
    """The problems `cls.validate` finds in a table the loader could only partly read.

    A value of the wrong type or a missing required key keeps the instance from being built,
    but the table's other values still get their checks (every problem of a file is reported at
    once), from the class itself. `values` holds the fields that were read; fields in `unread`
    are None in the stand-in validated here and skipped by the Collector, fields in neither
    take their defaults; `partly_read` lists hold None for their unread elements (see
    `Collector`). The stand-in is never returned.
    """
    stand_in = object.__new__(cls)
    skipped = set(unread)
    for f in dataclasses.fields(cls):
        value: object = None
        if f.name in values:
            value = values[f.name]
        elif f.name in skipped:
            pass
        elif f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
        else:
            skipped.add(f.name)
        object.__setattr__(stand_in, f.name, value)
    c = Collector(skipped, partly_read)
    stand_in.validate(c)
    return c.problems


def add_password_problems(c: Collector, password: str | None, unavailable: str | None) -> None:
    """The TCP-MD5 password rules of a peer or of `[mesh]`: each value checked, and a password
    and the reason it is missing never given together."""
    c.check("password", check_password, password)
    c.check("password_unavailable", check_password_unavailable, unavailable)
    both = password is not None and unavailable is not None
    if both and c.ok("password", "password_unavailable"):
        c.add("password_unavailable", "password and password_unavailable exclude each other")

"""BGP capabilities (RFC 5492) as values, with their OPEN optional-parameter codec.

Invariants: every capability is a frozen value; a capability we do not understand (including a
Multiprotocol capability for a family bgpd does not speak) decodes to `UnknownCapability` with
its raw value, so nothing is lost and negotiation simply ignores it. Encoding a decoded
capability gives the same bytes back, except that a family listed twice inside one Graceful
Restart, Long-Lived Graceful Restart or ADD-PATH capability keeps only its last entry.

A capability sent twice is resolved where it is negotiated (`negotiated.negotiate`, and
`codec.decode_open` for the four-octet AS): no repeated capability is left undefined.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum, IntFlag

from bgpd.errors import WireError
from bgpd.net import MAX_ASN, Afi, Family, Safi
from bgpd.wire.constants import ErrorCode


class CapabilityCode(IntEnum):
    MULTIPROTOCOL = 1  # RFC 4760 §8
    ROUTE_REFRESH = 2  # RFC 2918 §2
    EXTENDED_MESSAGE = 6  # RFC 8654 §3
    GRACEFUL_RESTART = 64  # RFC 4724 §3
    FOUR_OCTET_AS = 65  # RFC 6793 §3
    ADD_PATH = 69  # RFC 7911 §4
    ENHANCED_ROUTE_REFRESH = 70  # RFC 7313 §3
    LONG_LIVED_GRACEFUL_RESTART = 71  # RFC 9494 §3


@dataclass(frozen=True, slots=True, kw_only=True)
class Multiprotocol:
    family: Family


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteRefresh:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class EnhancedRouteRefresh:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtendedMessage:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class FourOctetAs:
    asn: int

    def __post_init__(self) -> None:
        if not 0 <= self.asn <= MAX_ASN:
            raise ValueError(f"AS number out of range: {self.asn}")


@dataclass(frozen=True, slots=True, kw_only=True)
class GracefulRestartFamily:
    family: Family
    forwarding_preserved: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class GracefulRestart:
    """RFC 4724 §3 with the N (notification) bit of RFC 8538 §2."""

    restart_state: bool
    notification: bool
    restart_time: int
    families: tuple[GracefulRestartFamily, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.restart_time <= 0xFFF:  # 12-bit field
            raise ValueError(f"graceful restart time out of range: {self.restart_time}")


MAX_LONG_LIVED_STALE_TIME = 0xFFFFFF  # RFC 9494 §3: a 24-bit count of seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class LongLivedFamily:
    """One family of an LLGR capability: its F bit and its long-lived stale time."""

    family: Family
    forwarding_preserved: bool
    stale_time: int

    def __post_init__(self) -> None:
        if not 0 <= self.stale_time <= MAX_LONG_LIVED_STALE_TIME:
            raise ValueError(f"long-lived stale time out of range: {self.stale_time}")


@dataclass(frozen=True, slots=True, kw_only=True)
class LongLivedGracefulRestart:
    """RFC 9494 §3: per family, how long its routes outlive the GR restart time."""

    families: tuple[LongLivedFamily, ...] = ()


class AddPathMode(IntFlag):
    RECEIVE = 1
    SEND = 2
    BOTH = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class AddPathFamily:
    family: Family
    mode: AddPathMode


@dataclass(frozen=True, slots=True, kw_only=True)
class AddPath:
    families: tuple[AddPathFamily, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownCapability:
    code: int
    value: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.code <= 255 or len(self.value) > 255:
            raise ValueError("capability code or value length out of range")


Capability = (
    Multiprotocol
    | RouteRefresh
    | EnhancedRouteRefresh
    | ExtendedMessage
    | FourOctetAs
    | GracefulRestart
    | AddPath
    | LongLivedGracefulRestart
    | UnknownCapability
)

_CODES: dict[type, int] = {
    Multiprotocol: CapabilityCode.MULTIPROTOCOL,
    RouteRefresh: CapabilityCode.ROUTE_REFRESH,
    EnhancedRouteRefresh: CapabilityCode.ENHANCED_ROUTE_REFRESH,
    ExtendedMessage: CapabilityCode.EXTENDED_MESSAGE,
    FourOctetAs: CapabilityCode.FOUR_OCTET_AS,
    GracefulRestart: CapabilityCode.GRACEFUL_RESTART,
    AddPath: CapabilityCode.ADD_PATH,
    LongLivedGracefulRestart: CapabilityCode.LONG_LIVED_GRACEFUL_RESTART,
}


def capability_code(cap: Capability) -> int:
    if isinstance(cap, UnknownCapability):
        return cap.code
    return _CODES[type(cap)]


def _family(afi: int, safi: int) -> Family | None:
    """The Family for known AFI/SAFI numbers, else None (the capability stays unknown)."""
    try:
        return Family(Afi(afi), Safi(safi))
    except ValueError:
        return None


def _malformed(message: str) -> WireError:
    # RFC 5492 leaves the subcode of a malformed capability open; 0 (unspecific) is what
    # BIRD, FRR and GoBGP send.
    return WireError(ErrorCode.OPEN_MESSAGE, 0, message=message)


def encode_capability_value(cap: Capability) -> bytes:
    if isinstance(cap, Multiprotocol):
        return struct.pack("!HBB", cap.family.afi, 0, cap.family.safi)
    if isinstance(cap, RouteRefresh | EnhancedRouteRefresh | ExtendedMessage):
        return b""
    if isinstance(cap, FourOctetAs):
        return cap.asn.to_bytes(4, "big")
    if isinstance(cap, GracefulRestart):
        head = (cap.restart_state << 15) | (cap.notification << 14) | cap.restart_time
        parts = [head.to_bytes(2, "big")]
        for f in cap.families:
            parts.append(
                struct.pack(
                    "!HBB", f.family.afi, f.family.safi, 0x80 if f.forwarding_preserved else 0
                )
            )
        return b"".join(parts)
    if isinstance(cap, AddPath):
        return b"".join(
            struct.pack("!HBB", f.family.afi, f.family.safi, f.mode) for f in cap.families
        )
    if isinstance(cap, LongLivedGracefulRestart):
        return b"".join(
            struct.pack("!HBB", f.family.afi, f.family.safi, 0x80 if f.forwarding_preserved else 0)
            + f.stale_time.to_bytes(3, "big")
            for f in cap.families
        )
    return cap.value


def encode_capability(cap: Capability) -> bytes:
    value = encode_capability_value(cap)
    if len(value) > 255:
        raise ValueError("capability value longer than 255 octets")
    return bytes((capability_code(cap), len(value))) + value


def decode_capability(code: int, value: bytes) -> Capability:
    """One capability from its code and value; WireError 2/0 when a known one is malformed."""
    n = len(value)
    if code == CapabilityCode.MULTIPROTOCOL:
        if n != 4:
            raise _malformed("multiprotocol capability length must be 4")
        afi, _, safi = struct.unpack("!HBB", value)
        family = _family(afi, safi)
        if family is None:
            return UnknownCapability(code=code, value=value)
        return Multiprotocol(family=family)
    if code == CapabilityCode.ROUTE_REFRESH:
        if n:
            raise _malformed("route refresh capability must be empty")
        return RouteRefresh()
    if code == CapabilityCode.ENHANCED_ROUTE_REFRESH:
        if n:
            raise _malformed("enhanced route refresh capability must be empty")
        return EnhancedRouteRefresh()
    if code == CapabilityCode.EXTENDED_MESSAGE:
        if n:
            raise _malformed("extended message capability must be empty")
        return ExtendedMessage()
    if code == CapabilityCode.FOUR_OCTET_AS:
        if n != 4:
            raise _malformed("four-octet AS capability length must be 4")
        return FourOctetAs(asn=int.from_bytes(value, "big"))
    if code == CapabilityCode.GRACEFUL_RESTART:
        if n < 2 or (n - 2) % 4:
            raise _malformed("graceful restart capability length must be 2 + 4k")
        head = int.from_bytes(value[:2], "big")
        # A family listed twice: its last entry counts (BIRD overwrites per entry likewise).
        gr_families: dict[Family, GracefulRestartFamily] = {}
        for off in range(2, n, 4):
            afi, safi, flags = struct.unpack_from("!HBB", value, off)
            family = _family(afi, safi)
            if family is not None:  # RFC 4724 §3: families we do not speak are ignored
                gr_families.pop(family, None)
                gr_families[family] = GracefulRestartFamily(
                    family=family, forwarding_preserved=bool(flags & 0x80)
                )
        return GracefulRestart(
            restart_state=bool(head & 0x8000),
            notification=bool(head & 0x4000),
            restart_time=head & 0x0FFF,
            families=tuple(gr_families.values()),
        )
    if code == CapabilityCode.ADD_PATH:
        if n == 0 or n % 4:
            raise _malformed("add-path capability length must be 4k")
        ap_families: dict[Family, AddPathFamily] = {}  # the last entry of a family counts
        for off in range(0, n, 4):
            afi, safi, mode = struct.unpack_from("!HBB", value, off)
            family = _family(afi, safi)
            # RFC 7911 §4: a Send/Receive value other than 1..3 is ignored with its family.
            if family is not None and 1 <= mode <= 3:
                ap_families.pop(family, None)
                ap_families[family] = AddPathFamily(family=family, mode=AddPathMode(mode))
        return AddPath(families=tuple(ap_families.values()))
    if code == CapabilityCode.LONG_LIVED_GRACEFUL_RESTART:
        return _decode_long_lived(value)
    return UnknownCapability(code=code, value=value)


def _decode_long_lived(value: bytes) -> LongLivedGracefulRestart:
    """RFC 9494 §3: 7-octet tuples (AFI, SAFI, flags, 24-bit stale time); may be empty."""
    if len(value) % 7:
        raise _malformed("long-lived graceful restart capability length must be 7k")
    ll_families: dict[Family, LongLivedFamily] = {}  # the last entry of a family counts
    for off in range(0, len(value), 7):
        afi, safi, flags = struct.unpack_from("!HBB", value, off)
        family = _family(afi, safi)
        if family is not None:  # families we do not speak are ignored, as in GR
            ll_families.pop(family, None)
            ll_families[family] = LongLivedFamily(
                family=family,
                forwarding_preserved=bool(flags & 0x80),
                stale_time=int.from_bytes(value[off + 4 : off + 7], "big"),
            )
    return LongLivedGracefulRestart(families=tuple(ll_families.values()))


def decode_capabilities(data: bytes) -> list[Capability]:
    """Every capability of one Capabilities optional parameter (RFC 5492 §4)."""
    caps: list[Capability] = []
    off = 0
    end = len(data)
    while off < end:
        if off + 2 > end:
            raise _malformed("truncated capability header")
        code = data[off]
        length = data[off + 1]
        off += 2
        if off + length > end:
            raise _malformed("capability overruns its optional parameter")
        caps.append(decode_capability(code, data[off : off + length]))
        off += length
    return caps

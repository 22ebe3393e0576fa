"""Address families, AS numbers, router ids and packed prefixes shared by every layer.

Invariants: a packed prefix (`Nlri`) is the RFC 4271 §4.3 NLRI encoding without a path id: one
length octet, then exactly ceil(length / 8) address octets, with every bit past `length` zero. Two
equal prefixes therefore always have equal bytes, so packed prefixes are dict keys on hot paths.
The family is never stored inside the prefix: it is known from where the prefix lives.
`ipaddress` objects appear only in the conversions at the bottom, used at the edges.
"""

from __future__ import annotations

import ipaddress
from enum import IntEnum
from typing import NamedTuple, NewType

Asn = NewType("Asn", int)
RouterId = NewType("RouterId", int)
PeerName = NewType("PeerName", str)

# Packed prefix: length octet + minimal address octets (see module docstring).
Nlri = bytes

AS_TRANS = 23456  # RFC 6793 §9
MAX_ASN = 0xFFFFFFFF


class Afi(IntEnum):
    IPV4 = 1
    IPV6 = 2


class Safi(IntEnum):
    UNICAST = 1


class Family(NamedTuple):
    """An (AFI, SAFI) pair; a NamedTuple because it is hashed on every route operation."""

    afi: Afi
    safi: Safi

    def __str__(self) -> str:
        return FAMILY_NAMES[self]


IPV4_UNICAST = Family(Afi.IPV4, Safi.UNICAST)
IPV6_UNICAST = Family(Afi.IPV6, Safi.UNICAST)
FAMILY_NAMES: dict[Family, str] = {IPV4_UNICAST: "ipv4-unicast", IPV6_UNICAST: "ipv6-unicast"}
FAMILIES_BY_NAME: dict[str, Family] = {v: k for k, v in FAMILY_NAMES.items()}
ADDRESS_OCTETS: dict[Afi, int] = {Afi.IPV4: 4, Afi.IPV6: 16}

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def afi_of(address: IPAddress | IPNetwork) -> Afi:
    return Afi.IPV4 if address.version == 4 else Afi.IPV6


def family_of(address: IPAddress | IPNetwork) -> Family:
    return IPV4_UNICAST if address.version == 4 else IPV6_UNICAST


def pack_network(network: IPNetwork) -> Nlri:
    """The packed form of a network (host bits must already be zero, as ipaddress ensures)."""
    length = network.prefixlen
    return bytes((length,)) + network.network_address.packed[: (length + 7) // 8]


def pack_prefix(text: str) -> Nlri:
    """Packs "10.0.0.0/24" or "2001:db8::/32"; raises ValueError on host bits or bad text."""
    return pack_network(ipaddress.ip_network(text, strict=True))


def unpack_prefix(nlri: Nlri, afi: Afi) -> IPNetwork:
    octets = ADDRESS_OCTETS[afi]
    address = nlri[1:].ljust(octets, b"\0")
    if afi is Afi.IPV4:
        return ipaddress.IPv4Network((address, nlri[0]))
    return ipaddress.IPv6Network((address, nlri[0]))


def format_prefix(nlri: Nlri, afi: Afi) -> str:
    if afi is Afi.IPV4:  # host bits are clear (bgpd.wire.nlri): 10x faster than ipaddress
        a = nlri[1:].ljust(4, b"\0")
        return f"{a[0]}.{a[1]}.{a[2]}.{a[3]}/{nlri[0]}"
    return str(unpack_prefix(nlri, afi))


def prefix_afi(nlri_text: str) -> Afi:
    return Afi.IPV4 if ":" not in nlri_text else Afi.IPV6


def format_address(packed: bytes) -> str:
    """Formats a 4- or 16-octet address; a 32-octet IPv6 next hop shows its global part."""
    if len(packed) == 32:
        packed = packed[:16]
    return str(ipaddress.ip_address(packed))


def parse_address(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def format_router_id(router_id: int) -> str:
    return str(ipaddress.IPv4Address(router_id))


def parse_router_id(text: str) -> RouterId:
    return RouterId(int(ipaddress.IPv4Address(text)))

"""Next hop sanity on import (RFC 4271 §6.3, RFC 2545 §3, RFC 4760 §3): which received next
hops bgpd refuses to select, install or pass on.

Role: `NextHopCheck(next_hop)` returns None for a usable next hop, else the reason (one of
`REASONS`, stable: it is a metric label). The speaker builds one check per session when it is
established; the session's `CandidateCache` (bgpd.rib) asks it once per (attribute set, next
hop) and remembers the verdict, so nothing here runs per prefix. A refused next hop makes the
route treat-as-withdraw, as BIRD does ("Invalid NEXT_HOP attribute").

What is refused, for IPv4 and IPv6 alike (BIRD's `ipa_classify` + `neigh_find` rules):
- `unspecified`: 0.0.0.0/8 ("this network"), `::`, and a 32-octet IPv6 next hop whose global
  part is `::` (BIRD accepts `::` + link-local on a direct session; bgpd installs the global
  part only, so it could not use such a route);
- `loopback`: 127.0.0.0/8 and `::1`, unless the session itself runs over a loopback address
  (speakers tested or demonstrated on one host, where the peer's address is a loopback one);
- `multicast`: 224.0.0.0/4, ff00::/8; `broadcast`: 255.255.255.255;
- `own_address`: an address of ours: the session's local address and the `[node]` IPv4/IPv6
  addresses. The router id is an identifier (RFC 6286), not necessarily an address, and the
  sans-IO core does not know the host's other interface addresses, so those are not checked;
- `link_local`: fe80::/10 as the first (or only) IPv6 next hop: RFC 2545 §3 carries a
  link-local address only as the second of two;
- `second_not_link_local`: a 32-octet next hop whose second part is neither link-local nor
  `::` (BIRD ignores such a second part; bgpd would pass it on unchanged, so it refuses).
An IPv4-mapped or IPv4-compatible IPv6 next hop is judged by its IPv4 address, as BIRD does.
240.0.0.0/4 is accepted: BIRD classifies it as reserved/private unicast and Linux routes it.

A next hop equal to the peer's own address is always accepted (the usual eBGP case, and the
only reading when both ends of a test session share a loopback address).

Invariants: pure and immutable; the check depends only on its fields and the next hop bytes.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from bgpd.config import NodeSection

UNSPECIFIED = "unspecified"
LOOPBACK = "loopback"
MULTICAST = "multicast"
BROADCAST = "broadcast"
OWN_ADDRESS = "own_address"
LINK_LOCAL = "link_local"
SECOND_NOT_LINK_LOCAL = "second_not_link_local"
REASONS = (
    UNSPECIFIED,
    LOOPBACK,
    MULTICAST,
    BROADCAST,
    OWN_ADDRESS,
    LINK_LOCAL,
    SECOND_NOT_LINK_LOCAL,
)

_V6_ZERO = bytes(16)
_V6_LOOPBACK = bytes(15) + b"\x01"
_V4_MAPPED = bytes(10) + b"\xff\xff"


def _embedded_v4(address: bytes) -> bytes | None:
    """The IPv4 address of an IPv4-mapped (::ffff:a.b.c.d) or -compatible (::a.b.c.d) one."""
    head = address[:12]
    if head == _V4_MAPPED or (head == _V6_ZERO[:12] and address not in (_V6_ZERO, _V6_LOOPBACK)):
        return address[12:]
    return None


def _is_link_local(address: bytes) -> bool:
    return address[0] == 0xFE and address[1] & 0xC0 == 0x80  # fe80::/10


def packed_address(text: str) -> bytes:
    """An address as the wire carries it; IPv4-mapped IPv6 (a dual-stack socket's view of an
    IPv4 peer) becomes the IPv4 address."""
    address = ipaddress.ip_address(text)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.packed
    return address.packed


def node_addresses(node: NodeSection | None) -> tuple[bytes, ...]:
    """The `[node]` addresses (Calico's node IPs), packed; () without a `[node]` table."""
    return () if node is None else tuple(a.packed for a in node.addresses)


def is_loopback(address: bytes) -> bool:
    return (len(address) == 4 and address[0] == 127) or address == _V6_LOOPBACK


@dataclass(frozen=True, slots=True, kw_only=True)
class NextHopCheck:
    """The next hop rules of one session (see the module docstring)."""

    own: frozenset[bytes]  # our addresses, packed (4 or 16 octets)
    peer: bytes = b""  # the peer's address, packed: always acceptable
    loopback_session: bool = False  # the session runs over loopback: 127/8 and ::1 are fine

    @classmethod
    def for_session(cls, local: bytes, peer: bytes, node: tuple[bytes, ...] = ()) -> NextHopCheck:
        """The check of a session from `local` to `peer` on a node with `node` addresses."""
        own = frozenset(a for a in (local, *node) if a)
        return cls(own=own, peer=peer, loopback_session=is_loopback(local))

    def __call__(self, next_hop: bytes) -> str | None:
        if len(next_hop) == 32:
            second = next_hop[16:]
            if second != _V6_ZERO and not _is_link_local(second):
                return SECOND_NOT_LINK_LOCAL
            next_hop = next_hop[:16]
        if next_hop == self.peer:
            return None
        if len(next_hop) == 16:
            v4 = _embedded_v4(next_hop)
            if v4 is None:
                return self._v6(next_hop)
            if v4 == self.peer:
                return None
            next_hop = v4
        return self._v4(next_hop)

    def _v4(self, address: bytes) -> str | None:
        first = address[0]
        if first == 0:
            return UNSPECIFIED
        if first == 127 and not self.loopback_session:
            return LOOPBACK
        if 224 <= first < 240:
            return MULTICAST
        if address == b"\xff\xff\xff\xff":
            return BROADCAST
        if address in self.own:
            return OWN_ADDRESS
        return None

    def _v6(self, address: bytes) -> str | None:
        if address == _V6_ZERO:
            return UNSPECIFIED
        if address == _V6_LOOPBACK:
            return None if self.loopback_session else LOOPBACK
        if address[0] == 0xFF:
            return MULTICAST
        if _is_link_local(address):
            return LINK_LOCAL
        if address in self.own:
            return OWN_ADDRESS
        return None


def describe_reason(reason: str) -> str:
    """The human text of a reason, for logs and bgpctl."""
    return _TEXTS.get(reason, reason)


_TEXTS = {
    UNSPECIFIED: "unspecified address",
    LOOPBACK: "loopback address on a session that is not on loopback",
    MULTICAST: "multicast address",
    BROADCAST: "broadcast address",
    OWN_ADDRESS: "an address of this speaker",
    LINK_LOCAL: "link-local address as the global next hop (RFC 2545 §3)",
    SECOND_NOT_LINK_LOCAL: "second IPv6 next hop is not link-local (RFC 2545 §3)",
}

"""Where routes come from: a BGP session or a local protocol (static, connected, kernel).

Invariant: a `Source` is immutable and built once per peer session (or per local protocol);
every route the source contributes refers to that one object. Two sessions of one peer have
equal names, which is what identifies a path's origin across a (graceful) restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class SourceKind(Enum):
    STATIC = "static"
    CONNECTED = "connected"
    KERNEL = "kernel"
    IBGP = "ibgp"
    EBGP = "ebgp"

    @property
    def local(self) -> bool:
        """Locally originated (not learned over BGP)."""
        return self not in _BGP_KINDS


_BGP_KINDS = frozenset({SourceKind.IBGP, SourceKind.EBGP})


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """Where paths come from: one BGP session, or one local protocol (static, kernel...)."""

    name: str
    kind: SourceKind
    peer_asn: int = 0
    router_id: int = 0  # the peer's BGP Identifier (RFC 4271 §4.2)
    address: bytes = b""  # the peer's address, packed (4 or 16 octets)
    rr_client: bool = False  # RFC 4456 §2: the peer is a route-reflection client of ours

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a route source needs a name")
        if len(self.address) not in (0, 4, 16):
            raise ValueError(f"peer address must be 4 or 16 octets, not {len(self.address)}")
        if not 0 <= self.router_id <= 0xFFFFFFFF or not 0 <= self.peer_asn <= 0xFFFFFFFF:
            raise ValueError("router id and AS number are 32-bit unsigned values")
